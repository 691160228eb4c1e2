// Command resnet builds, inspects and runs ResNet models.
//
// Usage:
//
//	resnet summary ARCH [flags]   print the Keras summary of an architecture
//	resnet list [flags]           list every architecture with parameters and GMACs
//	resnet predict --weights PATH IMAGE...  classify images
//	resnet train [flags]          train (no flags: ResNet-20 on embedded Fashion-MNIST)
//	resnet eval --weights PATH    evaluate a checkpoint
//	resnet bench [flags]          measure images per second
//
// Run "resnet COMMAND -h" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"summary": {"print the Keras summary table of an architecture, with multiply-adds", runSummary},
	"list":    {"list every architecture with its parameters and GMACs", runList},
	"predict": {"classify images with a checkpoint or a Keras TF.js model", runPredict},
	"train":   {"train a model (no flags: ResNet-20 on an embedded Fashion-MNIST subset)", runTrain},
	"eval":    {"evaluate a checkpoint on a test set", runEval},
	"bench":   {"measure inference or training speed", runBench},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors in how the command was called (exit status 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "resnet: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "resnet %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "resnet %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: resnet COMMAND [arguments]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'resnet COMMAND -h' for the flags of a command.")
}

// parse parses flags that may stand before, between or after the
// positional arguments, as users type them ("resnet summary resnet50
// --json"), and returns the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: resnet %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// lower is strings.ToLower, named for flag values.
func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

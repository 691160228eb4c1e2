package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/nn"
)

// archFlags are the flags that choose how an architecture is built.
type archFlags struct {
	classes       int
	input         string
	noTop         bool
	pooling       string
	flavor        string
	channelsFirst bool
	activation    string
}

func addArchFlags(fs *flag.FlagSet, a *archFlags) {
	fs.IntVar(&a.classes, "classes", 0, "number of classes of the top (default: the architecture's, 1000 or 10 for CIFAR nets)")
	fs.StringVar(&a.input, "input", "", "input shape `H,W,C` (C,H,W with --channels-first); \"none\" leaves a size free (needs --no-top)")
	fs.BoolVar(&a.noTop, "no-top", false, "leave out the classifier (Keras' include_top=False)")
	fs.StringVar(&a.pooling, "pooling", "", "pooling without a top: `none`, avg or max")
	fs.StringVar(&a.flavor, "flavor", "keras", "layout: keras (keras.applications) or torch (torchvision)")
	fs.BoolVar(&a.channelsFirst, "channels-first", false, "build for channels-first (NCHW) input")
	fs.StringVar(&a.activation, "activation", "", "classifier activation: softmax (default) or linear for logits")
}

// options turns the flags into model options, reporting bad values by flag.
func (a *archFlags) options(fs *flag.FlagSet) ([]resnet.Option, error) {
	flavor, err := resnet.ParseFlavor(a.flavor)
	if err != nil {
		return nil, usageErrorf("--flavor: %v", err)
	}
	opts := []resnet.Option{resnet.WithFlavor(flavor)}
	if a.channelsFirst {
		opts = append(opts, resnet.DataFormat(nn.ChannelsFirst))
	}
	if isSet(fs, "classes") {
		if a.classes < 1 {
			return nil, usageErrorf("--classes must be at least 1, got %d", a.classes)
		}
		opts = append(opts, resnet.Classes(a.classes))
	}
	if a.input != "" {
		dims, err := parseDims(a.input)
		if err != nil {
			return nil, usageErrorf("--input %q: %v", a.input, err)
		}
		opts = append(opts, resnet.InputShape(dims...))
	}
	if a.noTop {
		opts = append(opts, resnet.IncludeTop(false))
	}
	switch p := lower(a.pooling); p {
	case "", "none", "avg", "max":
		if p != "" && p != "none" && !a.noTop {
			return nil, usageErrorf("--pooling %s applies only with --no-top", p)
		}
		opts = append(opts, resnet.Pooling(p))
	default:
		return nil, usageErrorf("--pooling %q: want none, avg or max", a.pooling)
	}
	if a.activation != "" {
		opts = append(opts, resnet.ClassifierActivation(a.activation))
	}
	return opts, nil
}

// parseDims reads "224,224,3"; "none", "?" or "-1" is a free size.
func parseDims(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	dims := make([]int, len(parts))
	for i, p := range parts {
		switch lower(p) {
		case "none", "?", "-1":
			dims[i] = nn.Unknown
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("dimension %q is not a positive integer or none", p)
		}
		dims[i] = n
	}
	return dims, nil
}

func runSummary(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("summary", "summary ARCH [flags]", stderr)
	var a archFlags
	addArchFlags(fs, &a)
	style := fs.String("style", "keras2", "table style: keras2 (TF 2 Keras <= 2.6) or keras3 (box table)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one architecture (see 'resnet list'), got %d arguments", len(pos))
	}
	st, err := nn.ParseSummaryStyle(*style)
	if err != nil {
		return usageErrorf("--style: %v", err)
	}
	opts, err := a.options(fs)
	if err != nil {
		return err
	}
	m, err := resnet.New(pos[0], opts...)
	if err != nil {
		return err
	}
	if *asJSON {
		return m.WriteJSON(stdout)
	}
	if err := m.Summary(stdout, st); err != nil {
		return err
	}
	macs, err := m.MACs()
	switch {
	case errors.Is(err, nn.ErrUnknownSize):
		fmt.Fprintln(stdout, "Multiply-adds: not counted, the input size is not fixed")
	case err != nil:
		return err
	default:
		fmt.Fprintf(stdout, "Multiply-adds: %s (%.3f G; convolutions and dense layers, per image)\n",
			nn.Thousands(macs), float64(macs)/1e9)
	}
	return nil
}

type listEntry struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Params      int     `json:"params"`
	Trainable   int     `json:"trainable"`
	GMACs       float64 `json:"gmacs"`
	Input       []int   `json:"input"`
}

func runList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", "list [flags]", stderr)
	flavorName := fs.String("flavor", "keras", "layout: keras or torch")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("takes no arguments, got %q", pos)
	}
	flavor, err := resnet.ParseFlavor(*flavorName)
	if err != nil {
		return usageErrorf("--flavor: %v", err)
	}
	var entries []listEntry
	for _, arch := range resnet.Architectures() {
		m, err := arch.Build(resnet.WithFlavor(flavor))
		if err != nil {
			return fmt.Errorf("%s: %w", arch.Name, err)
		}
		macs, err := m.MACs()
		if err != nil {
			return fmt.Errorf("%s: %w", arch.Name, err)
		}
		tr, _ := m.ParamCounts()
		entries = append(entries, listEntry{Name: arch.Name, Description: arch.Description, Params: m.CountParams(),
			Trainable: tr, GMACs: float64(macs) / 1e9, Input: m.Inputs()[0].Shape()})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	fmt.Fprintf(stdout, "%-18s %13s %13s %8s  %-11s %s\n", "ARCH", "PARAMS", "TRAINABLE", "GMACS", "INPUT", "DESCRIPTION")
	for _, e := range entries {
		fmt.Fprintf(stdout, "%-18s %13s %13s %8.3f  %-11s %s\n", e.Name, nn.Thousands(int64(e.Params)),
			nn.Thousands(int64(e.Trainable)), e.GMACs, fmt.Sprintf("%dx%dx%d", e.Input[0], e.Input[1], e.Input[2]), e.Description)
	}
	fmt.Fprintf(stdout, "\n%s flavour; GMACs are multiply-adds per image at the input size shown.\n", flavor)
	return nil
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

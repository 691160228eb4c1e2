package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/internal/testgen"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/train"
)

type benchJSON struct {
	Model        string  `json:"model"`
	Batch        int     `json:"batch"`
	Threads      int     `json:"threads"`
	Mode         string  `json:"mode"`
	ImagesPerSec float64 `json:"images_per_sec"`
	GFLOPS       float64 `json:"gflops"`
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench [flags]", stderr)
	model := fs.String("model", "resnet50", "architecture")
	flavor := fs.String("flavor", "torch", "layout: torch (the network ONNX Runtime and PyTorch run) or keras")
	batch := fs.Int("batch", 1, "images per forward pass")
	threads := fs.Int("threads", runtime.NumCPU(), "cores to use (GOMAXPROCS)")
	size := fs.Int("size", 0, "input height and width (default: the architecture's)")
	trainMode := fs.Bool("train", false, "time training steps (forward, backward, SGD) instead of inference")
	reference := fs.Bool("reference", false, "time the unfused reference path instead of the compiled plan")
	seconds := fs.Float64("seconds", 10, "how long to measure, after one warm-up run")
	minRuns := fs.Int("runs", 5, "at least this many timed runs")
	asJSON := fs.Bool("json", false, "print one JSON object")
	wino := fs.String("winograd", "auto", "Winograd (F(4x4,3x3), F(2x2,3x3) or the stride-2 form) for 3x3 convolutions of stride 1 and 2: auto (where faster on this CPU), off, on")
	layers := fs.Int("layers", 0, "also print the plan's N slowest steps (inference)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usageErrorf("takes no arguments, got %q", pos)
	case *batch < 1:
		return usageErrorf("--batch must be at least 1, got %d", *batch)
	case *threads < 1:
		return usageErrorf("--threads must be at least 1, got %d", *threads)
	case *minRuns < 1:
		return usageErrorf("--runs must be at least 1, got %d", *minRuns)
	}
	fl, err := resnet.ParseFlavor(*flavor)
	if err != nil {
		return usageErrorf("--flavor: %v", err)
	}
	runtime.GOMAXPROCS(*threads)
	opts := []resnet.Option{resnet.WithFlavor(fl), resnet.ClassifierActivation("linear")}
	if *size > 0 {
		opts = append(opts, resnet.InputShape(*size, *size, 3))
	}
	m, err := resnet.New(*model, opts...)
	if err != nil {
		return err
	}
	macs, err := m.MACs()
	if err != nil {
		return err
	}
	in := m.Inputs()[0].Shape()
	x := tensor.New(append([]int{*batch}, in...)...)
	copy(x.Data, testgen.Uniform("bench", len(x.Data)))
	weightBytes := 4 * m.CountParams()

	var step func() error
	mode := "infer"
	switch {
	case *trainMode:
		mode = "train"
		labels := make([]int, *batch)
		k := m.Outputs()[0].Shape()[0]
		for i := range labels {
			labels[i] = i % k
		}
		opt := &train.SGD{Momentum: 0.9, WeightDecay: 1e-4}
		m.ReuseBuffers(true) // as the Trainer runs
		step = func() error {
			m.ZeroGrads()
			tape, out, err := m.ForwardTrain(x)
			if err != nil {
				return err
			}
			_, g, err := train.CrossEntropy(out[0], labels, 0, true)
			if err != nil {
				return err
			}
			tape.SkipInputGrads()
			if err := tape.Backward([]*tensor.Tensor{g}, false); err != nil {
				return err
			}
			opt.Step(m.Params(), 1e-4)
			return nil
		}
	case *reference:
		step = func() error { _, err := m.Predict(x); return err }
	default:
		copts := []nn.CompileOption{nn.ConsumeWeights()} // weights held once: the serving footprint
		switch *wino {
		case "auto":
		case "off":
			copts = append(copts, nn.NoWinograd())
		case "on":
			copts = append(copts, nn.ForceWinograd())
		default:
			return usageErrorf("--winograd must be auto, off or on, got %q", *wino)
		}
		plan, err := m.Compile(copts...)
		if err != nil {
			return err
		}
		runtime.GC()
		debug.FreeOSMemory()
		step = func() error { _, err := plan.Predict(x); return err }
		if *layers > 0 {
			defer printProfile(stdout, plan, x, *layers)
		}
	}
	if err := step(); err != nil { // warm-up: buffers, page faults
		return err
	}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	var times []float64
	began := time.Now()
	for len(times) < *minRuns || time.Since(began).Seconds() < *seconds {
		t0 := time.Now()
		if err := step(); err != nil {
			return err
		}
		times = append(times, time.Since(t0).Seconds())
	}
	sort.Float64s(times)
	median := times[len(times)/2]
	flops := 2 * float64(macs) * float64(*batch)
	if *trainMode {
		flops *= 3 // forward, input gradients, weight gradients
	}
	r := benchJSON{Model: *model, Batch: *batch, Threads: *threads, Mode: mode,
		ImagesPerSec: float64(*batch) / median, GFLOPS: flops / median / 1e9}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	peak := kernels.PeakGFLOPS(200*time.Millisecond) * float64(*threads)
	fmt.Fprintf(stdout, "%s (%s flavour) %s, batch %d, %d threads, %s kernels, input %v: %d runs\n", *model, fl, mode, *batch, *threads, kernels.InstructionSet(), in, len(times))
	fmt.Fprintf(stdout, "  median %.1f ms per batch (min %.1f, max %.1f): %.2f images/s\n", 1e3*median, 1e3*times[0], 1e3*times[len(times)-1], r.ImagesPerSec)
	if peak > 0 {
		fmt.Fprintf(stdout, "  %.1f GFLOP/s = %.0f%% of the measured FMA peak (%.0f GFLOP/s on %d cores)\n", r.GFLOPS, 100*r.GFLOPS/peak, peak, *threads)
	} else {
		fmt.Fprintf(stdout, "  %.1f GFLOP/s\n", r.GFLOPS)
	}
	if hwm := peakRSS(); hwm > 0 {
		fmt.Fprintf(stdout, "  peak memory %s MB (weights %s MB)\n", nn.Thousands(hwm>>20), nn.Thousands(int64(weightBytes)>>20))
	}
	return nil
}

// printProfile prints the n slowest steps of the plan on x, medians of
// five runs.
func printProfile(w io.Writer, plan *nn.Plan, x *tensor.Tensor, n int) {
	var runs [][]nn.StepTime
	for range 5 {
		t, err := plan.Profile(x)
		if err != nil {
			fmt.Fprintln(w, "profile:", err)
			return
		}
		runs = append(runs, t)
	}
	steps := runs[0]
	var total time.Duration
	for i := range steps {
		d := make([]time.Duration, len(runs))
		for r := range runs {
			d[r] = runs[r][i].Time
		}
		slices.Sort(d)
		steps[i].Time = d[len(d)/2]
		total += steps[i].Time
	}
	slices.SortStableFunc(steps, func(a, b nn.StepTime) int { return cmp.Compare(b.Time, a.Time) })
	fmt.Fprintf(w, "slowest steps (median of 5; all %d steps %.1f ms):\n", len(steps), 1e3*total.Seconds())
	for _, s := range steps[:min(n, len(steps))] {
		speed := ""
		if s.FLOPs > 0 && s.Time > 0 {
			speed = fmt.Sprintf("%4.0f GFLOP/s", float64(s.FLOPs)/s.Time.Seconds()/1e9)
		}
		fmt.Fprintf(w, "  %7.2f ms %5.1f%% %13s  %-24s %s\n", 1e3*s.Time.Seconds(), 100*s.Time.Seconds()/total.Seconds(), speed, s.Layer, s.What)
	}
}

// startProfile starts a CPU profile into path; the returned function ends
// it and closes the file.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// peakRSS reads the process's peak resident memory from /proc, or 0.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

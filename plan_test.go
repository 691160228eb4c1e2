package resnet

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/internal/race"
	"github.com/resnet-go/resnet/internal/testgen"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// The compiled plan computes what the reference path computes, for every
// block kind and both flavours and data formats.
func TestPlanMatchesReference(t *testing.T) {
	tests := []struct {
		arch string
		opts []Option
		in   []int
	}{
		{"resnet50", []Option{InputShape(64, 64, 3)}, []int{2, 64, 64, 3}},
		{"resnet50", []Option{WithFlavor(Torch), InputShape(64, 64, 3)}, []int{1, 64, 64, 3}},
		{"resnet18", []Option{WithFlavor(Torch), InputShape(48, 40, 3)}, []int{2, 48, 40, 3}},
		{"resnet18", []Option{WithFlavor(Torch), InputShape(128, 120, 3)}, []int{1, 128, 120, 3}}, // window convolutions
		{"resnet50", []Option{InputShape(128, 128, 3)}, []int{1, 128, 128, 3}},                    // ... with Keras' "same" strided 3x3
		{"resnet34", []Option{InputShape(64, 64, 3)}, []int{1, 64, 64, 3}},
		{"resnet20", []Option{Kernel(5), WithFlavor(Torch)}, []int{2, 32, 32, 3}}, // 5x5 blocks
		{"resnet50v2", []Option{InputShape(64, 64, 3)}, []int{1, 64, 64, 3}},
		{"resnet50v2", []Option{DataFormat(nn.ChannelsFirst), InputShape(3, 64, 64)}, []int{1, 3, 64, 64}}, // BatchNorm steps on axis 1
		{"resnext50_32x4d", []Option{InputShape(64, 64, 3)}, []int{1, 64, 64, 3}},
		{"resnet20", nil, []int{3, 32, 32, 3}},
		{"resnet20", []Option{DataFormat(nn.ChannelsFirst)}, []int{2, 3, 32, 32}},
		{"resnet50", []Option{IncludeTop(false), Pooling("max")}, []int{1, 40, 56, 3}},
	}
	for _, tt := range tests {
		m := mustBuild(t, tt.arch, tt.opts...)
		if err := nonTrivial(m); err != nil {
			t.Fatal(err)
		}
		x := tensor.New(tt.in...)
		copy(x.Data, testgen.Uniform("x", len(x.Data)))
		want, err := m.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []struct {
			name string
			opts []nn.CompileOption
		}{{"matrix products", []nn.CompileOption{nn.NoWinograd()}}, {"default", nil}, {"Winograd", []nn.CompileOption{nn.ForceWinograd()}}} {
			plan, err := m.Compile(mode.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Steps() >= len(m.Layers())-1 {
				t.Errorf("%s: %d steps for %d layers: nothing was fused", tt.arch, plan.Steps(), len(m.Layers()))
			}
			for run := 0; run < 2; run++ { // the second run reuses pooled buffers
				got, err := plan.Predict(x)
				if err != nil {
					t.Fatal(err)
				}
				diff, scale, err := tensor.MaxAbsDiff(got[0], want[0])
				if err != nil || diff > 1e-4*scale {
					t.Errorf("%s %v (%s, %d Winograd layers): plan differs from the reference by %g (scale %g) %v",
						tt.arch, tt.in, mode.name, plan.WinogradLayers(tt.in[0]), diff, scale, err)
				}
			}
		}
	}
}

// A bottleneck block's last convolution and its projection shortcut run
// as one step (their sums never stored); basic blocks, whose last
// convolution is a 3x3, keep theirs apart.
func TestPlanPairsProjections(t *testing.T) {
	for _, tt := range []struct {
		arch  string
		pairs int
	}{{"resnet50", 4}, {"resnet50v2", 4}, {"resnet18", 0}} {
		m := mustBuild(t, tt.arch, WithFlavor(Torch), InputShape(64, 64, 3))
		plan, err := m.Compile()
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(1, 64, 64, 3)
		steps, err := plan.Profile(x)
		if err != nil {
			t.Fatal(err)
		}
		pairs := 0
		for _, st := range steps {
			if strings.Contains(st.What, "+conv 1x1/") {
				pairs++
			}
		}
		if pairs != tt.pairs {
			t.Errorf("%s: %d steps sum two convolutions, want %d", tt.arch, pairs, tt.pairs)
		}
	}
}

// A residual block's shortcut (its input, or its projection's output) is
// read for the last time by the block's last convolution, which adds
// itself onto the shortcut's buffer instead of writing a fresh one.
func TestPlanAddsOntoResidual(t *testing.T) {
	for _, tt := range []struct {
		arch string
		adds int // identity blocks
		opts []nn.CompileOption
	}{
		{"resnet50", 12, nil}, {"resnet50v2", 12, nil}, {"resnext50_32x4d", 12, nil},
		// Basic blocks add onto their projection's output too: 3x3
		// convolutions by Winograd, or else by windows.
		{"resnet18", 8, nil}, {"resnet18", 8, []nn.CompileOption{nn.NoWinograd()}},
		// Option A's shortcut (strided, zero-padded) is a buffer of the
		// plan's as well.
		{"resnet20", 9, nil},
	} {
		var opts []Option
		if tt.arch != "resnet20" {
			opts = []Option{WithFlavor(Torch), InputShape(64, 64, 3)}
		}
		m := mustBuild(t, tt.arch, opts...)
		plan, err := m.Compile(tt.opts...)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := plan.Profile(tensor.New(append([]int{1}, m.Inputs()[0].Shape()...)...))
		if err != nil {
			t.Fatal(err)
		}
		adds, onto := 0, 0
		for _, st := range steps {
			if strings.Contains(st.What, "+add") {
				adds++
			}
			if strings.HasSuffix(st.What, "(in place)") {
				onto++
			}
		}
		if adds != tt.adds || onto != adds {
			t.Errorf("%s: %d of %d steps adding a residual did so in place, want all of %d", tt.arch, onto, adds, tt.adds)
		}
	}
}

// compiledTorch builds arch in torch flavour with nonTrivial weights and
// compiles it.
func compiledTorch(t *testing.T, arch string, opts ...Option) (*nn.Model, *nn.Plan) {
	t.Helper()
	m := mustBuild(t, arch, append([]Option{WithFlavor(Torch)}, opts...)...)
	if err := nonTrivial(m); err != nil {
		t.Fatal(err)
	}
	plan, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return m, plan
}

// nonTrivial gives the model weights and BatchNorm statistics far from
// Keras' initial identity, so that folding mistakes show.
func nonTrivial(m *nn.Model) error {
	for _, w := range m.Weights() {
		v, err := m.Weight(w.FullName())
		if err != nil {
			return err
		}
		u := testgen.Uniform(w.FullName(), len(v.Data))
		for i := range v.Data {
			switch w.Name {
			case "gamma", "moving_variance":
				v.Data[i] = 1 + 0.4*u[i]
			case "kernel":
				// keep Keras' glorot scale, but make it differ from the default
				v.Data[i] += 0.01 * u[i]
			default:
				v.Data[i] = 0.2 * u[i]
			}
		}
	}
	return nil
}

// A plan in steady use allocates nothing but the output it returns:
// buffers are reused, not garbage that would let the heap grow to twice
// the weights, and a pass's bookkeeping, the parallel loops' state and the
// gathered rows' descriptions come from pools (2026-11-29: 29, 10 and 27
// objects a Predict before them, 137, 166 and 223 with the loops'
// closures).
func TestPlanSteadyStateAllocations(t *testing.T) {
	race.SkipAllocs(t)
	for _, tt := range []buildCase{
		// The largest activation here is 2x48x48x64 floats, 1.2 MB.
		{"resnet18", []Option{WithFlavor(Torch), InputShape(96, 96, 3)}, []int{2, 96, 96, 3}},
		// Option A's shortcuts (1 and 0.5 MB here) come from the plan's
		// buffers too (they were 1.5 MB of garbage a pass).
		{"resnet20", nil, []int{32, 32, 32, 3}},
		// ResNet v2's BatchNorm and ReLU before each block, and the
		// padding before its max pooling (which may see negative values,
		// so is not folded), write into the plan's buffers too.
		{"resnet50v2", []Option{InputShape(64, 64, 3)}, []int{2, 64, 64, 3}},
		// Grouped convolutions, by the direct kernels with AVX-512.
		{"resnext50_32x4d", []Option{WithFlavor(Torch), InputShape(64, 64, 3)}, []int{2, 64, 64, 3}},
	} {
		m := mustBuild(t, tt.arch, tt.opts...)
		plan, err := m.Compile(nn.NoWinograd())
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(tt.in...)
		y, err := plan.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		out := 4 * uint64(len(y[0].Data)) // the output's bytes
		per, objs := steadyAllocs(2, 5, func() {
			if _, err := plan.Predict(x); err != nil {
				t.Fatal(err)
			}
		})
		// What is left is the output: its list, header, shape and values.
		t.Logf("%s: %d bytes in %d objects allocated per Predict of %d steps", tt.arch, per, objs, plan.Steps())
		if per > out+4<<10 {
			t.Errorf("%s: %d bytes allocated per Predict, want < %d (the output's %d and 4 KB)", tt.arch, per, out+4<<10, out)
		}
		if objs > 8 {
			t.Errorf("%s: %d objects allocated per Predict of %d steps, want at most 8", tt.arch, objs, plan.Steps())
		}
	}
}

// A compiled plan keeps its weights outside the Go heap, so that the
// collector's heap target (twice what is live) does not double them.
func TestPlanWeightsOffHeap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("plans map their memory on Linux only")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := mustBuild(t, "resnet18", WithFlavor(Torch), InputShape(64, 64, 3))
	weights := 4 * m.CountParams()
	plan, err := m.Compile(nn.ConsumeWeights())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Predict(tensor.New(1, 64, 64, 3)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int(after.HeapAlloc) - int(before.HeapAlloc)
	t.Logf("weights %d MB, live heap grown by %d MB", weights>>20, grown>>20)
	if grown > weights/4 {
		t.Errorf("live heap grew by %d MB with the plan compiled, want well under its %d MB of weights", grown>>20, weights>>20)
	}
	runtime.KeepAlive(plan)
}

// A plan's memory outside the heap goes when the plan does: a service that
// compiles a new plan for new weights does not keep the old one's.
func TestPlanMemoryFreedWithPlan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("plans map their memory on Linux only")
	}
	m := mustBuild(t, "resnet18", WithFlavor(Torch), InputShape(64, 64, 3))
	before := settledOffHeap() // earlier tests' plans gone
	var plans []*nn.Plan
	for range 3 {
		plan, err := m.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Predict(tensor.New(2, 64, 64, 3)); err != nil {
			t.Fatal(err)
		}
		plans = append(plans, plan)
	}
	if held := kernels.OffHeapBytes() - before; held < int64(3*4*m.CountParams()) {
		t.Fatalf("three compiled plans hold %d bytes off the heap, want at least their weights", held)
	}
	runtime.KeepAlive(plans) // held up to here, dropped from here on
	runtime.KeepAlive(m)
	if got := settledOffHeap() - before; got != 0 {
		t.Errorf("%d bytes still mapped after the plans were dropped", got)
	}
}

// settledOffHeap collects until the plans' cleanups, which run on their own
// goroutine, have stopped returning memory, and returns what is still held.
func settledOffHeap() int64 {
	last := int64(-1)
	for i := 0; i < 50; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		now := kernels.OffHeapBytes()
		if now == last {
			break
		}
		last = now
	}
	return last
}

func TestPlanConcurrent(t *testing.T) {
	m, plan := compiledTorch(t, "resnet20")
	inputs := make([]*tensor.Tensor, 6)
	wants := make([]*tensor.Tensor, 6)
	for i := range inputs {
		inputs[i] = tensor.New(1+i%3, 32, 32, 3)
		copy(inputs[i].Data, testgen.Uniform(string(rune('a'+i)), len(inputs[i].Data)))
		w, _ := m.Predict(inputs[i])
		wants[i] = w[0]
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 5; r++ {
				i := (g + r) % len(inputs)
				got, err := plan.Predict(inputs[i])
				if err != nil {
					t.Error(err)
					return
				}
				if d, s, _ := tensor.MaxAbsDiff(got[0], wants[i]); d > 1e-4*s {
					t.Errorf("goroutine %d: input %d differs by %g", g, i, d)
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestPlanConsumesWeights(t *testing.T) {
	m := mustBuild(t, "resnet20")
	x := tensor.New(1, 32, 32, 3)
	want, _ := m.Predict(x)
	plan, err := m.Compile(nn.ConsumeWeights())
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	if d, s, _ := tensor.MaxAbsDiff(got[0], want[0]); d > 1e-4*s {
		t.Errorf("consuming plan differs by %g", d)
	}
	if _, err := m.Predict(x); err != nn.ErrConsumed {
		t.Errorf("the consumed model still predicts: %v", err)
	}
	if _, err := m.Compile(); err != nn.ErrConsumed {
		t.Errorf("compiling a consumed model: %v", err)
	}
}

// Small outputs go by Winograd only from the batch where it pays (ResNet-20's
// 8x8 stage from two images on, by F(4x4) from 16; its narrow 16x16x32
// stage by F(4x4) from 4), its kernels made on first use; one image keeps
// the matrix products. All give the reference's results.
func TestPlanWinogradFromBatch(t *testing.T) {
	stage3 := kernels.Conv2DParams{N: 1, H: 8, W: 8, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1, OH: 8, OW: 8}
	if kernels.WinogradMinBatch(stage3) != 2 {
		t.Skip("F(2x2, 3x3) does not pay on this CPU (it needs the AVX-512 transforms)")
	}
	m, plan := compiledTorch(t, "resnet20")
	one, two := plan.WinogradLayers(1), plan.WinogradLayers(2)
	if two <= one {
		t.Fatalf("Winograd layers: %d for one image, %d for two; want more for two", one, two)
	}
	for _, n := range []int{1, 2, 1, 3, 4, 16} {
		wino, large := winogradSteps(t, m, plan, n, 32)
		// Five stride-1 convolutions a stage: the 16x16x32 stage's by
		// F(4x4) from 4 images, the 8x8 stage's F(2x2) tiles giving way to
		// F(4x4)'s from 16 (64 tiles each).
		if want := 5*min(1, n/4) + 5*min(1, n/16); large != want {
			t.Errorf("batch %d: %d steps by F(4x4), want %d", n, large, want)
		}
		if wino != plan.WinogradLayers(n) {
			t.Errorf("batch %d: the profile shows %d Winograd steps, WinogradLayers says %d", n, wino, plan.WinogradLayers(n))
		}
	}
}

// A ResNeXt's grouped 3x3 convolutions go by Winograd, a product for each
// group as packed: at 64x64, the first stage's three (16x16 outputs, 4
// filters a group) for one image, the second's three stride-1 ones (8x8)
// from two images; the strided ones never.
func TestPlanWinogradGrouped(t *testing.T) {
	stage1 := kernels.Conv2DParams{N: 1, H: 16, W: 16, C: 128, KH: 3, KW: 3, F: 128, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32, OH: 16, OW: 16}
	if kernels.WinogradMinBatch(stage1) != 1 {
		t.Skip("Winograd does not take these groups here: the direct grouped kernels do with AVX-512, and without the vector transforms it does not pay")
	}
	m, plan := compiledTorch(t, "resnext50_32x4d", InputShape(64, 64, 3))
	for _, tc := range []struct{ n, want int }{{1, 3}, {2, 6}, {1, 3}} {
		if wino, _ := winogradSteps(t, m, plan, tc.n, 64); wino != tc.want {
			t.Errorf("batch %d: %d steps by Winograd, want %d", tc.n, wino, tc.want)
		}
	}
}

// winogradSteps runs n images of size x size through plan, checks them
// against m's reference path, and returns how many of the plan's steps
// ran by Winograd and how many of those by F(4x4).
func winogradSteps(t *testing.T, m *nn.Model, plan *nn.Plan, n, size int) (wino, large int) {
	t.Helper()
	c := planSteps(t, m, plan, n, size, "winograd", "winograd F(4x4)")
	return c[0], c[1]
}

// planSteps runs n images of size x size through plan, checks them
// against m's reference path, and returns how many of the plan's steps
// say each of kinds in their profile.
func planSteps(t *testing.T, m *nn.Model, plan *nn.Plan, n, size int, kinds ...string) []int {
	t.Helper()
	x := tensor.New(n, size, size, 3)
	copy(x.Data, testgen.Uniform("x", len(x.Data)))
	want, err := m.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	times, err := plan.Profile(x)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(kinds))
	for _, st := range times {
		for i, k := range kinds {
			if strings.Contains(st.What, k) {
				counts[i]++
			}
		}
	}
	got, err := plan.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	if d, s, _ := tensor.MaxAbsDiff(got[0], want[0]); d > 1e-4*s {
		t.Errorf("batch %d: the plan differs from the reference by %g (scale %g)", n, d, s)
	}
	return counts
}

// With AVX-512 or AVX2, ResNeXt-50's grouped convolutions of groups of 4,
// 8 and 16 channels (thirteen, strides 1 and 2; the last stage's three
// have 32) run by the direct grouped kernels, at any batch, and match the
// reference; with the portable kernels, none does.
func TestPlanDirectGroups(t *testing.T) {
	m, plan := compiledTorch(t, "resnext50_32x4d", InputShape(64, 64, 3))
	want := 0
	if kernels.InstructionSet() != "go" {
		want = 13
	}
	for _, n := range []int{1, 3} {
		if c := planSteps(t, m, plan, n, 64, "groups direct", "32 groups"); c[0] != want || c[1] != 16 {
			t.Errorf("batch %d: %d of %d grouped steps direct, want %d of 16", n, c[0], c[1], want)
		}
	}
}

// A layer that runs by F(2x2) for one image and by F(4x4) from 8 (14x14
// outputs, whose 4x4 tiles overhang) keeps only F(2x2)'s kernel and makes
// F(4x4)'s from it when the first such batch comes; both match the
// reference.
func TestPlanWinogradLargerTile(t *testing.T) {
	stage := kernels.Conv2DParams{N: 8, H: 14, W: 14, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1, OH: 14, OW: 14}
	if kernels.WinogradTile(stage) != 4 {
		t.Skip("F(4x4, 3x3) runs with the AVX-512 transforms only")
	}
	m, plan := compiledTorch(t, "resnet18", InputShape(56, 56, 3))
	for _, n := range []int{1, 8, 1, 9} {
		// The 14x14x64 stage's four convolutions.
		if _, large := winogradSteps(t, m, plan, n, 56); large != 4*min(1, n/8) {
			t.Errorf("batch %d: %d steps by F(4x4), want %d", n, large, 4*min(1, n/8))
		}
	}
}

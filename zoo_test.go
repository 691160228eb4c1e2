package resnet

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/nn"
)

// buildCase is a model to build (mustBuild's arguments) and the shape of
// a batch for it.
type buildCase struct {
	arch string
	opts []Option
	in   []int
}

// steadyAllocs runs f warm times, then runs times more, and returns the
// bytes and objects the later runs allocated each. The collector is off
// meanwhile: a collection empties the sync.Pools a steady pass takes its
// state from (CI once counted 9 objects against 4 for that), and what the
// tests check is that a pass allocates nothing new, not when the runtime
// chooses to drop its caches. For the same reason the runs are measured
// three times over and the least is kept: on a loaded machine the
// goroutine moves between Ps, and a value put in one P's private slot of
// a pool is not found from another (20-47 KB a step in one window of five
// under the load of another test binary, nothing in the others).
func steadyAllocs(warm, runs int, f func()) (bytes, objects uint64) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range warm {
		f()
	}
	bytes, objects = math.MaxUint64, math.MaxUint64
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		n := uint64(runs)
		bytes = min(bytes, (after.TotalAlloc-before.TotalAlloc)/n)
		objects = min(objects, (after.Mallocs-before.Mallocs)/n)
	}
	return bytes, objects
}

func mustBuild(t *testing.T, name string, opts ...Option) *nn.Model {
	t.Helper()
	m, err := New(name, opts...)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return m
}

// Keras' figures from keras.applications (REFERENCE.md section 1).
func TestKerasParamCounts(t *testing.T) {
	tests := []struct {
		arch                           string
		total, trainable, nonTrainable int
		noTop                          int
		layers                         int // 0: not checked
	}{
		{"resnet50", 25_636_712, 25_583_592, 53_120, 23_587_712, 177},
		{"resnet101", 44_707_176, 44_601_832, 105_344, 42_658_176, 347},
		{"resnet152", 60_419_944, 60_268_520, 151_424, 58_370_944, 517},
		{"resnet50v2", 25_613_800, 25_568_360, 45_440, 23_564_800, 0},
		{"resnet101v2", 44_675_560, 44_577_896, 97_664, 42_626_560, 0},
		{"resnet152v2", 60_380_648, 60_236_904, 143_744, 58_331_648, 0},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			m := mustBuild(t, tt.arch)
			tr, nt := m.ParamCounts()
			if tr+nt != tt.total || tr != tt.trainable || nt != tt.nonTrainable {
				t.Errorf("params = %d total, %d trainable, %d non-trainable; want %d, %d, %d",
					tr+nt, tr, nt, tt.total, tt.trainable, tt.nonTrainable)
			}
			if tt.layers != 0 && len(m.Layers()) != tt.layers {
				t.Errorf("%d layers, want %d", len(m.Layers()), tt.layers)
			}
			noTop := mustBuild(t, tt.arch, IncludeTop(false))
			if got := noTop.CountParams(); got != tt.noTop {
				t.Errorf("without top: %d params, want %d", got, tt.noTop)
			}
		})
	}
}

func TestResNet50TenClasses(t *testing.T) {
	m, err := ResNet50(Classes(10))
	if err != nil {
		t.Fatal(err)
	}
	tr, nt := m.ParamCounts()
	if tr+nt != 23_608_202 || tr != 23_555_082 || nt != 53_120 {
		t.Errorf("params = %d/%d/%d, want 23,608,202/23,555,082/53,120", tr+nt, tr, nt)
	}
}

// torchvision counts model.parameters(): our trainable weights. Its
// BatchNorm running statistics are buffers, our non-trainable weights.
func TestTorchvisionParamCounts(t *testing.T) {
	tests := []struct {
		arch   string
		params int
	}{
		{"resnet18", 11_689_512},
		{"resnet34", 21_797_672},
		{"resnet50", 25_557_032},
		{"resnet101", 44_549_160},
		{"resnet152", 60_192_808},
		{"resnext50_32x4d", 25_028_904},
		{"resnext101_32x8d", 88_791_336},
		{"wide_resnet50_2", 68_883_240},
		{"wide_resnet101_2", 126_886_696},
	}
	for _, tt := range tests {
		m := mustBuild(t, tt.arch, WithFlavor(Torch))
		if tr, _ := m.ParamCounts(); tr != tt.params {
			t.Errorf("%s (torch): %d parameters, want %d", tt.arch, tr, tt.params)
		}
	}
}

// The paper quotes CIFAR parameter counts to two significant figures.
func TestCIFARParamCounts(t *testing.T) {
	tests := []struct {
		arch     string
		millions float64
		layers   int // weighted layers: 6n+2
	}{
		{"resnet20", 0.27, 20},
		{"resnet32", 0.46, 32},
		{"resnet44", 0.66, 44},
		{"resnet56", 0.85, 56},
		{"resnet110", 1.7, 110},
	}
	for _, tt := range tests {
		for _, f := range []Flavor{Keras, Torch} {
			m := mustBuild(t, tt.arch, WithFlavor(f))
			tr, _ := m.ParamCounts()
			got := float64(tr) / 1e6
			digits := math.Pow(10, 1-math.Floor(math.Log10(got)))
			if r := math.Round(got*digits) / digits; r != tt.millions {
				t.Errorf("%s (%v): %d trainable parameters = %.2fM, paper %.2fM", tt.arch, f, tr, r, tt.millions)
			}
			weighted := 0
			for _, l := range m.Layers() {
				if (l.Class() == "Conv2D" || l.Class() == "Dense") && !strings.Contains(l.Name(), "_0_") {
					weighted++
				}
			}
			if weighted != tt.layers {
				t.Errorf("%s: %d weighted layers, want %d", tt.arch, weighted, tt.layers)
			}
			if s := m.Outputs()[0].Shape(); !s.Equal(nn.Shape{10}) {
				t.Errorf("%s: output %v, want (None, 10)", tt.arch, s)
			}
		}
	}
}

func TestCIFAROptionB(t *testing.T) {
	a := mustBuild(t, "resnet20")
	b := mustBuild(t, "resnet20", WithShortcut(Projection))
	// Option B adds two 1x1 projections with BatchNorm: 16->32 and 32->64.
	want := a.CountParams() + (16*32 + 4*32) + (32*64 + 4*64)
	if got := b.CountParams(); got != want {
		t.Errorf("option B: %d params, want %d", got, want)
	}
}

func TestMACs(t *testing.T) {
	tests := []struct {
		arch   string
		flavor Flavor
		gmacs  float64
	}{
		{"resnet50", Keras, 3.858},
		{"resnet101", Keras, 7.570},
		{"resnet152", Keras, 11.282},
		{"resnet18", Torch, 1.814},
		{"resnet34", Torch, 3.664},
		{"resnet50", Torch, 4.089},
		{"resnet101", Torch, 7.801},
		{"resnet152", Torch, 11.514},
		{"resnext50_32x4d", Torch, 4.230},
		{"wide_resnet50_2", Torch, 11.398},
	}
	for _, tt := range tests {
		m := mustBuild(t, tt.arch, WithFlavor(tt.flavor))
		macs, err := m.MACs()
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%.3f", float64(macs)/1e9); got != fmt.Sprintf("%.3f", tt.gmacs) {
			t.Errorf("%s (%v): %s GMACs, want %.3f", tt.arch, tt.flavor, got, tt.gmacs)
		}
	}
}

func TestMACsUnknownSize(t *testing.T) {
	m := mustBuild(t, "resnet50", IncludeTop(false))
	if _, err := m.MACs(); !errors.Is(err, nn.ErrUnknownSize) {
		t.Errorf("MACs of a free-size model: err = %v, want ErrUnknownSize", err)
	}
	out := m.Outputs()[0].Shape()
	if !out.Equal(nn.Shape{nn.Unknown, nn.Unknown, 2048}) {
		t.Errorf("output %v, want (None, None, None, 2048)", out)
	}
}

func layerNames(m *nn.Model) []string {
	var names []string
	for _, l := range m.Layers() {
		names = append(names, l.Name())
	}
	return names
}

// Keras sorts a block with a projection shortcut by depth: the shortcut's
// convolution comes after the branch's second ReLU.
func TestBlockOrder(t *testing.T) {
	m := mustBuild(t, "resnet50")
	names := layerNames(m)
	start := -1
	for i, n := range names {
		if n == "conv3_block1_1_conv" {
			start = i
		}
	}
	if start < 0 {
		t.Fatal("no conv3_block1_1_conv")
	}
	want := "_1_conv _1_bn _1_relu _2_conv _2_bn _2_relu _0_conv _3_conv _0_bn _3_bn _add _out"
	var got []string
	for _, n := range names[start : start+12] {
		got = append(got, strings.TrimPrefix(n, "conv3_block1"))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("order\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if names[0] != "input_1" || names[len(names)-1] != "predictions" {
		t.Errorf("first and last layers %s, %s", names[0], names[len(names)-1])
	}
}

func TestV2UnnamedPools(t *testing.T) {
	m := mustBuild(t, "resnet50v2")
	var pools []string
	for _, l := range m.Layers() {
		if l.Class() == "MaxPooling2D" && l.Name() != "pool1_pool" {
			pools = append(pools, l.Name())
		}
	}
	if got := strings.Join(pools, " "); got != "max_pooling2d max_pooling2d_1 max_pooling2d_2" {
		t.Errorf("v2 shortcut pools: %s", got)
	}
	last := m.Layers()[len(m.Layers())-3:]
	if last[0].Name() != "post_relu" || last[1].Name() != "avg_pool" {
		t.Errorf("v2 head: %s, %s", last[0].Name(), last[1].Name())
	}
}

func TestTorchFlavourLayout(t *testing.T) {
	m := mustBuild(t, "resnet50", WithFlavor(Torch))
	for _, tt := range []struct {
		layer   string
		strides bool // whether the layer halves the size
	}{
		{"conv3_block1_1_conv", false},
		{"conv3_block1_2_conv", true},
		{"conv3_block1_0_conv", true},
	} {
		l, err := m.Layer(tt.layer)
		if err != nil {
			t.Fatal(err)
		}
		in := l.Inbound()[0].OutputShape()
		out := l.OutputShape()
		if halved := out[0] < in[0]; halved != tt.strides {
			t.Errorf("%s: %v -> %v, strided = %v, want %v", tt.layer, in, out, halved, tt.strides)
		}
		for _, w := range l.Weights() {
			if w.Name == "bias" {
				t.Errorf("%s has a bias in the torch flavour", tt.layer)
			}
		}
	}
	if _, err := m.Layer("conv3_block1_2_pad"); err != nil {
		t.Errorf("strided 3x3 should be padded symmetrically: %v", err)
	}
}

func TestChannelsFirst(t *testing.T) {
	last := mustBuild(t, "resnet50")
	first := mustBuild(t, "resnet50", DataFormat(nn.ChannelsFirst))
	if last.CountParams() != first.CountParams() {
		t.Errorf("channels_first has %d params, channels_last %d", first.CountParams(), last.CountParams())
	}
	l, err := first.Layer("conv2_block1_out")
	if err != nil {
		t.Fatal(err)
	}
	if s := l.OutputShape(); !s.Equal(nn.Shape{256, 56, 56}) {
		t.Errorf("conv2_block1_out: %v, want (None, 256, 56, 56)", s)
	}
	if in := first.Inputs()[0].Shape(); !in.Equal(nn.Shape{3, 224, 224}) {
		t.Errorf("input %v", in)
	}
}

func TestHeads(t *testing.T) {
	tests := []struct {
		opts  []Option
		last  string
		shape nn.Shape
	}{
		{nil, "predictions", nn.Shape{1000}},
		{[]Option{IncludeTop(false), InputShape(64, 64, 3)}, "conv5_block3_out", nn.Shape{2, 2, 2048}},
		{[]Option{IncludeTop(false), Pooling("avg")}, "avg_pool", nn.Shape{2048}},
		{[]Option{IncludeTop(false), Pooling("max")}, "max_pool", nn.Shape{2048}},
		{[]Option{InputShape(96, 128, 1), Classes(7), ClassifierActivation("none")}, "predictions", nn.Shape{7}},
	}
	for i, tt := range tests {
		m, err := ResNet50(tt.opts...)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		ls := m.Layers()
		last := ls[len(ls)-1]
		if last.Name() != tt.last || !last.OutputShape().Equal(tt.shape) {
			t.Errorf("case %d: last layer %s %v, want %s %v", i, last.Name(), last.OutputShape(), tt.last, tt.shape)
		}
	}
}

// A user writes a stackFn as the Keras seed does.
func ExampleResNet() {
	stackFn := func(x *nn.Tensor) *nn.Tensor {
		x = Stack1(x, 64, 2, Stride1(1), Name("conv2"))
		return Stack1(x, 128, 2, Name("conv3"))
	}
	m, err := ResNet(stackFn, ModelName("tiny"), InputShape(64, 64, 3), Classes(10))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Name(), len(m.Layers()), "layers,", m.CountParams(), "parameters")
	// Output: tiny 53 layers, 828938 parameters
}

func ExampleResNet50() {
	m, err := ResNet50()
	if err != nil {
		fmt.Println(err)
		return
	}
	macs, _ := m.MACs()
	fmt.Printf("%s: %d parameters, %.3f GMACs\n", m.Name(), m.CountParams(), float64(macs)/1e9)
	// Output: resnet50: 25636712 parameters, 3.858 GMACs
}

func TestErrors(t *testing.T) {
	mismatched := func(x *nn.Tensor) *nn.Tensor {
		a := nn.Conv2D(x, 64, 1, nn.Name("a"))
		b := nn.Conv2D(x, 32, 1, nn.Name("b"))
		return nn.Add([]*nn.Tensor{a, b}, nn.Name("bad_add"))
	}
	tests := []struct {
		name  string
		build func() (*nn.Model, error)
		want  []string // substrings of the error
	}{
		{"unknown architecture", func() (*nn.Model, error) { return New("resnet51") }, []string{`"resnet51"`, "resnet50"}},
		{"classes zero", func() (*nn.Model, error) { return ResNet50(Classes(0)) }, []string{"classes", "0"}},
		{"classes negative", func() (*nn.Model, error) { return New("resnet20", Classes(-3)) }, []string{"classes", "-3"}},
		{"input too small", func() (*nn.Model, error) { return ResNet50(InputShape(16, 16, 3)) }, []string{"at least 32x32"}},
		{"input too small without top", func() (*nn.Model, error) {
			return ResNet50(IncludeTop(false), InputShape(31, 200, 3))
		}, []string{"at least 32x32"}},
		{"wrong input rank", func() (*nn.Model, error) { return ResNet50(InputShape(224, 224)) }, []string{"3 dimensions", "got 2"}},
		{"wrong input rank 4", func() (*nn.Model, error) { return ResNet50(InputShape(1, 224, 224, 3)) }, []string{"3 dimensions"}},
		{"free size with top", func() (*nn.Model, error) { return ResNet50(InputShape(nn.Unknown, 224, 3)) }, []string{"fixed"}},
		{"unknown pooling", func() (*nn.Model, error) { return ResNet50(IncludeTop(false), Pooling("mean")) }, []string{`"mean"`, "avg"}},
		{"unknown activation", func() (*nn.Model, error) { return ResNet50(ClassifierActivation("gelu")) }, []string{`"gelu"`}},
		{"mismatched add", func() (*nn.Model, error) { return ResNet(mismatched) }, []string{`"bad_add"`, "same shape"}},
		{"nil stackFn", func() (*nn.Model, error) { return ResNet(nil) }, []string{"stackFn"}},
		{"stackFn returns nil", func() (*nn.Model, error) {
			return ResNet(func(*nn.Tensor) *nn.Tensor { return nil })
		}, []string{"nil"}},
		{"bad CIFAR depth", func() (*nn.Model, error) { return CIFARResNet(21) }, []string{"6n+2"}},
		{"duplicate block names", func() (*nn.Model, error) {
			return ResNet(func(x *nn.Tensor) *nn.Tensor {
				x = Block1(x, 64, Name("b"))
				return Block1(x, 64, Name("b"), ConvShortcut(false))
			})
		}, []string{`"b_1_conv"`, "already used"}},
		{"bad groups", func() (*nn.Model, error) {
			return ResNet(func(x *nn.Tensor) *nn.Tensor { return Block3(x, 100, Name("g"), Groups(32)) })
		}, []string{`"g_2_conv"`, "groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.build()
			if err == nil {
				t.Fatalf("no error; built %s", m.Name())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestNewAnyCIFARDepth(t *testing.T) {
	m := mustBuild(t, "resnet1202")
	if got := m.CountParams(); got < 19_000_000 || got > 20_000_000 {
		t.Errorf("resnet1202: %d params, the paper says 19.4M", got)
	}
}

func TestAutoBlockNames(t *testing.T) {
	m, err := ResNet(func(x *nn.Tensor) *nn.Tensor {
		x = Block1(x, 16)
		return Block1(x, 16, ConvShortcut(false))
	}, InputShape(32, 32, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"block1_1_conv", "block1_1_1_conv"} {
		if _, err := m.Layer(n); err != nil {
			t.Error(err)
		}
	}
}

// Kernel sets the size of the blocks' middle convolutions (a basic block's
// two) and nothing else: the stems, 1x1s and shortcuts keep theirs, the
// shapes are unchanged ("same" padding, or torch's k/2), and the count of
// parameters grows by (k*k - 9) * in * out for each of those convolutions.
func TestKernelOption(t *testing.T) {
	for _, tt := range []struct {
		arch   string
		flavor Flavor
		middle *regexp.Regexp
	}{
		{"resnet50", Keras, regexp.MustCompile(`^conv\d_block\d+_2_conv$`)},
		{"resnet50", Torch, regexp.MustCompile(`^conv\d_block\d+_2_conv$`)},
		{"resnet18", Torch, regexp.MustCompile(`^conv\d_block\d+_[12]_conv$`)},
		{"resnet50v2", Keras, regexp.MustCompile(`^conv\d_block\d+_2_conv$`)},
		{"resnet20", Keras, regexp.MustCompile(`^conv\d_block\d+_[12]_conv$`)},
	} {
		opts := []Option{WithFlavor(tt.flavor)}
		if !strings.HasPrefix(tt.arch, "resnet20") {
			opts = append(opts, InputShape(96, 96, 3))
		}
		base := mustBuild(t, tt.arch, opts...)
		wide := mustBuild(t, tt.arch, append(opts, Kernel(5))...)
		grown, middles := 0, 0
		for _, w := range wide.Weights() {
			if w.Name != "kernel" || len(w.Shape) != 4 {
				continue
			}
			want := 5
			if tt.middle.MatchString(w.Layer) {
				middles++
				grown += (25 - 9) * w.Shape[2] * w.Shape[3]
			} else {
				want = mustKernelSize(t, base, w.Layer)
			}
			if w.Shape[0] != want || w.Shape[1] != want {
				t.Errorf("%s %s: %s is %dx%d, want %dx%d", tt.arch, tt.flavor, w.Layer, w.Shape[0], w.Shape[1], want, want)
			}
		}
		if middles == 0 {
			t.Errorf("%s %s: no middle convolution found", tt.arch, tt.flavor)
		}
		if got := wide.CountParams() - base.CountParams(); got != grown {
			t.Errorf("%s %s: Kernel(5) adds %d parameters, want %d", tt.arch, tt.flavor, got, grown)
		}
		if !slices.Equal(wide.Outputs()[0].Shape(), base.Outputs()[0].Shape()) || len(wide.Layers()) != len(base.Layers()) {
			t.Errorf("%s %s: Kernel(5) changed the graph: %d layers, output %v", tt.arch, tt.flavor, len(wide.Layers()), wide.Outputs()[0].Shape())
		}
	}
}

// mustKernelSize returns the height of layer's kernel in m.
func mustKernelSize(t *testing.T, m *nn.Model, layer string) int {
	t.Helper()
	k, err := m.Weight(layer + "/kernel")
	if err != nil {
		t.Fatal(err)
	}
	return k.Shape[0]
}

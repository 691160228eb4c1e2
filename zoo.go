package resnet

import (
	"fmt"
	"sort"
	"strings"

	"github.com/resnet-go/resnet/nn"
)

// stackSpec is one stage of a named architecture.
type stackSpec struct {
	name           string
	filters, count int
	stride1        int
}

// imagenetStages are the four stages conv2..conv5 with their block counts.
func imagenetStages(filters [4]int, counts [4]int) []stackSpec {
	s := make([]stackSpec, 4)
	for i := range s {
		s[i] = stackSpec{name: fmt.Sprintf("conv%d", i+2), filters: filters[i], count: counts[i], stride1: 2}
	}
	s[0].stride1 = 1
	return s
}

type stackFunc func(x *nn.Tensor, filters, blocks int, opts ...Option) *nn.Tensor

// stacks returns a StackFn running stack over the stages, handing each the
// flavour and the extra options.
func stacks(stack stackFunc, stages []stackSpec, opts []Option, extra ...Option) StackFn {
	return func(x *nn.Tensor) *nn.Tensor {
		for _, s := range stages {
			x = stack(x, s.filters, s.count, with(with(opts, extra...), Stride1(s.stride1), Name(s.name))...)
		}
		return x
	}
}

// build runs ResNet with the architecture's defaults before the user's
// options, so that the user's win.
func build(fn func(opts []Option) StackFn, defaults []Option, opts []Option) (*nn.Model, error) {
	all := with(defaults, opts...)
	return ResNet(fn(all), all...)
}

func v1(name string, counts [4]int, opts []Option) (*nn.Model, error) {
	return build(func(o []Option) StackFn {
		return stacks(Stack1, imagenetStages([4]int{64, 128, 256, 512}, counts), o)
	}, []Option{ModelName(name)}, opts)
}

// ResNet50 is Keras' ResNet50 (torchvision's resnet50 in the torch flavour).
func ResNet50(opts ...Option) (*nn.Model, error) { return v1("resnet50", [4]int{3, 4, 6, 3}, opts) }

// ResNet101 is Keras' ResNet101.
func ResNet101(opts ...Option) (*nn.Model, error) { return v1("resnet101", [4]int{3, 4, 23, 3}, opts) }

// ResNet152 is Keras' ResNet152.
func ResNet152(opts ...Option) (*nn.Model, error) { return v1("resnet152", [4]int{3, 8, 36, 3}, opts) }

func basic(name string, counts [4]int, opts []Option) (*nn.Model, error) {
	return build(func(o []Option) StackFn {
		return stacks(StackBasic, imagenetStages([4]int{64, 128, 256, 512}, counts), o)
	}, []Option{ModelName(name)}, opts)
}

// ResNet18 is torchvision's resnet18 (basic blocks [2, 2, 2, 2]), named in
// Keras' style.
func ResNet18(opts ...Option) (*nn.Model, error) { return basic("resnet18", [4]int{2, 2, 2, 2}, opts) }

// ResNet34 is torchvision's resnet34 (basic blocks [3, 4, 6, 3]).
func ResNet34(opts ...Option) (*nn.Model, error) { return basic("resnet34", [4]int{3, 4, 6, 3}, opts) }

func v2(name string, counts [4]int, opts []Option) (*nn.Model, error) {
	return build(func(o []Option) StackFn {
		st := imagenetStages([4]int{64, 128, 256, 512}, counts)
		for i := range st {
			st[i].stride1 = 2
		}
		st[3].stride1 = 1
		return stacks(Stack2, st, o)
	}, []Option{ModelName(name), Preact(true)}, opts)
}

// ResNet50V2 is Keras' ResNet50V2.
func ResNet50V2(opts ...Option) (*nn.Model, error) {
	return v2("resnet50v2", [4]int{3, 4, 6, 3}, opts)
}

// ResNet101V2 is Keras' ResNet101V2.
func ResNet101V2(opts ...Option) (*nn.Model, error) {
	return v2("resnet101v2", [4]int{3, 4, 23, 3}, opts)
}

// ResNet152V2 is Keras' ResNet152V2.
func ResNet152V2(opts ...Option) (*nn.Model, error) {
	return v2("resnet152v2", [4]int{3, 8, 36, 3}, opts)
}

func resnext(name string, counts [4]int, width int, opts []Option) (*nn.Model, error) {
	return build(func(o []Option) StackFn {
		st := imagenetStages([4]int{width, 2 * width, 4 * width, 8 * width}, counts)
		return func(x *nn.Tensor) *nn.Tensor {
			for i, s := range st {
				x = Stack3(x, s.filters, s.count, with(o, Groups(32), OutFilters(256<<i), Stride1(s.stride1), Name(s.name))...)
			}
			return x
		}
	}, []Option{ModelName(name), UseBias(false)}, opts)
}

// ResNeXt50_32x4d is torchvision's resnext50_32x4d (Keras' ResNeXt50):
// 32 groups of 4 channels in the first stage.
func ResNeXt50_32x4d(opts ...Option) (*nn.Model, error) {
	return resnext("resnext50_32x4d", [4]int{3, 4, 6, 3}, 128, opts)
}

// ResNeXt101_32x8d is torchvision's resnext101_32x8d: 32 groups of 8
// channels in the first stage.
func ResNeXt101_32x8d(opts ...Option) (*nn.Model, error) {
	return resnext("resnext101_32x8d", [4]int{3, 4, 23, 3}, 256, opts)
}

func wide(name string, counts [4]int, opts []Option) (*nn.Model, error) {
	return build(func(o []Option) StackFn {
		st := imagenetStages([4]int{64, 128, 256, 512}, counts)
		return func(x *nn.Tensor) *nn.Tensor {
			for _, s := range st {
				x = Stack1(x, s.filters, s.count, with(o, InnerWidth(2*s.filters), Stride1(s.stride1), Name(s.name))...)
			}
			return x
		}
	}, []Option{ModelName(name)}, opts)
}

// WideResNet50_2 is torchvision's wide_resnet50_2: ResNet-50 with twice as
// many channels inside each bottleneck.
func WideResNet50_2(opts ...Option) (*nn.Model, error) {
	return wide("wide_resnet50_2", [4]int{3, 4, 6, 3}, opts)
}

// WideResNet101_2 is torchvision's wide_resnet101_2.
func WideResNet101_2(opts ...Option) (*nn.Model, error) {
	return wide("wide_resnet101_2", [4]int{3, 4, 23, 3}, opts)
}

// CIFARResNet is the paper's CIFAR-10 network of the given depth 6n+2: a
// 3x3 convolution with 16 filters, three stages of n basic blocks with 16,
// 32 and 64 filters (stages 2 and 3 strided), global average pooling and a
// 10-way classifier, for 32x32 inputs. As in the paper, convolutions have
// no bias (BatchNorm follows each) and shortcuts are option A (zero
// padding); WithShortcut(Projection) selects option B.
func CIFARResNet(depth int, opts ...Option) (*nn.Model, error) {
	if depth < 8 || (depth-2)%6 != 0 {
		return nil, fmt.Errorf("CIFAR ResNet depth %d is not 6n+2 with n >= 1", depth)
	}
	n := (depth - 2) / 6
	return build(func(o []Option) StackFn {
		st := []stackSpec{{"conv2", 16, n, 1}, {"conv3", 32, n, 2}, {"conv4", 64, n, 2}}
		return stacks(StackBasic, st, o)
	}, []Option{ModelName(fmt.Sprintf("resnet%d", depth)), cifar(), Classes(10), WithShortcut(ZeroPad), UseBias(false)}, opts)
}

// ResNet20 is the paper's CIFAR ResNet-20 (0.27M parameters).
func ResNet20(opts ...Option) (*nn.Model, error) { return CIFARResNet(20, opts...) }

// ResNet32 is the paper's CIFAR ResNet-32 (0.46M parameters).
func ResNet32(opts ...Option) (*nn.Model, error) { return CIFARResNet(32, opts...) }

// ResNet44 is the paper's CIFAR ResNet-44 (0.66M parameters).
func ResNet44(opts ...Option) (*nn.Model, error) { return CIFARResNet(44, opts...) }

// ResNet56 is the paper's CIFAR ResNet-56 (0.85M parameters).
func ResNet56(opts ...Option) (*nn.Model, error) { return CIFARResNet(56, opts...) }

// ResNet110 is the paper's CIFAR ResNet-110 (1.7M parameters).
func ResNet110(opts ...Option) (*nn.Model, error) { return CIFARResNet(110, opts...) }

// Architecture is a named constructor of the zoo.
type Architecture struct {
	Name        string
	Description string
	Build       func(opts ...Option) (*nn.Model, error)
}

var zoo = []Architecture{
	{"resnet18", "ResNet-18, basic blocks [2,2,2,2]", ResNet18},
	{"resnet34", "ResNet-34, basic blocks [3,4,6,3]", ResNet34},
	{"resnet50", "ResNet-50, bottlenecks [3,4,6,3]", ResNet50},
	{"resnet101", "ResNet-101, bottlenecks [3,4,23,3]", ResNet101},
	{"resnet152", "ResNet-152, bottlenecks [3,8,36,3]", ResNet152},
	{"resnet50v2", "ResNet-50 v2, pre-activation", ResNet50V2},
	{"resnet101v2", "ResNet-101 v2, pre-activation", ResNet101V2},
	{"resnet152v2", "ResNet-152 v2, pre-activation", ResNet152V2},
	{"resnext50_32x4d", "ResNeXt-50, 32 groups x 4 channels", ResNeXt50_32x4d},
	{"resnext101_32x8d", "ResNeXt-101, 32 groups x 8 channels", ResNeXt101_32x8d},
	{"wide_resnet50_2", "Wide ResNet-50-2", WideResNet50_2},
	{"wide_resnet101_2", "Wide ResNet-101-2", WideResNet101_2},
	{"resnet20", "CIFAR ResNet-20 (n=3), option A shortcuts", ResNet20},
	{"resnet32", "CIFAR ResNet-32 (n=5), option A shortcuts", ResNet32},
	{"resnet44", "CIFAR ResNet-44 (n=7), option A shortcuts", ResNet44},
	{"resnet56", "CIFAR ResNet-56 (n=9), option A shortcuts", ResNet56},
	{"resnet110", "CIFAR ResNet-110 (n=18), option A shortcuts", ResNet110},
}

// Architectures lists the named architectures.
func Architectures() []Architecture { return append([]Architecture(nil), zoo...) }

// New builds the named architecture ("resnet50", "resnext50_32x4d", ...;
// also "resnetD" for any CIFAR depth D = 6n+2).
func New(name string, opts ...Option) (*nn.Model, error) {
	key := strings.ToLower(name)
	for _, a := range zoo {
		if a.Name == key {
			return a.Build(opts...)
		}
	}
	var depth int
	if _, err := fmt.Sscanf(key, "resnet%d", &depth); err == nil && fmt.Sprintf("resnet%d", depth) == key && (depth-2)%6 == 0 {
		return CIFARResNet(depth, opts...)
	}
	names := make([]string, len(zoo))
	for i, a := range zoo {
		names[i] = a.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown architecture %q (known: %s, or resnetD for a CIFAR depth D = 6n+2)", name, strings.Join(names, ", "))
}

// WithHead puts a new classifier on a model without a top: global average
// pooling (unless the model already pools) and a Dense layer named
// "predictions". The backbone's layers and weights are shared, so a
// pretrained backbone stays pretrained; freeze it with train.FreezeAllBut.
func WithHead(backbone *nn.Model, classes int, activation string) (*nn.Model, error) {
	if classes < 1 {
		return nil, fmt.Errorf("new head: classes must be at least 1, got %d", classes)
	}
	x := backbone.Outputs()[0]
	if len(x.Shape()) == 3 {
		x = nn.GlobalAveragePooling2D(x, nn.Name("avg_pool"))
	}
	x = nn.Dense(x, classes, nn.WithActivation(activation), nn.Name("predictions"))
	return nn.NewModel(backbone.Name(), backbone.Inputs(), []*nn.Tensor{x})
}

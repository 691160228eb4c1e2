package resnet

import (
	"fmt"
	"strings"

	"github.com/resnet-go/resnet/nn"
)

// Flavor chooses between the two layouts of the same family.
type Flavor int

const (
	// Keras is keras.applications' layout: in the v1 bottleneck the stride
	// sits on the first 1x1 convolution (the original Caffe model), every
	// v1 convolution has a bias, BatchNormalization uses epsilon 1.001e-5.
	Keras Flavor = iota
	// Torch is torchvision's layout ("ResNet v1.5"): the stride sits on the
	// 3x3 convolution, convolutions have no bias, epsilon is 1e-5 and a
	// strided 3x3 is padded by one pixel on every side.
	Torch
)

// String returns "keras" or "torch".
func (f Flavor) String() string {
	if f == Torch {
		return "torch"
	}
	return "keras"
}

// ParseFlavor turns "keras" or "torch" into a Flavor.
func ParseFlavor(s string) (Flavor, error) {
	switch strings.ToLower(s) {
	case "keras":
		return Keras, nil
	case "torch", "pytorch", "torchvision":
		return Torch, nil
	}
	return 0, fmt.Errorf("unknown flavor %q (want keras or torch)", s)
}

// epsilon is the BatchNormalization epsilon of the flavour.
func (f Flavor) epsilon() float64 {
	if f == Torch {
		return 1e-5
	}
	return 1.001e-5
}

// momentum is the flavour's BatchNormalization momentum in Keras' meaning
// (torch's momentum 0.1 is Keras' 0.9).
func (f Flavor) momentum() float64 {
	if f == Torch {
		return 0.9
	}
	return 0.99
}

// bn adds the flavour's BatchNormalization.
func (f Flavor) bn(x *nn.Tensor, name string) *nn.Tensor {
	return nn.BatchNormalization(x, nn.Epsilon(f.epsilon()), nn.Momentum(f.momentum()), nn.BesselCorrection(f == Torch), nn.Name(name))
}

// Shortcut is how a block joins its input when the dimensions change: the
// ResNet paper's options A and B.
type Shortcut int

const (
	// Projection is option B: a strided 1x1 convolution and BatchNormalization.
	Projection Shortcut = iota
	// ZeroPad is option A: subsample and pad the channels with zeros; no
	// parameters. The paper's CIFAR networks use it.
	ZeroPad
)

// Option configures a model constructor, a stack or a block. Each function
// reads the options that concern it and ignores the rest, so a stack can
// hand its options down to its blocks.
type Option func(*config)

type config struct {
	// model
	includeTop  bool
	inputShape  []int
	pooling     string
	classes     int
	activation  string
	modelName   string
	preact      bool
	useBias     *bool
	flavor      Flavor
	format      nn.DataFormat
	defaultSize int
	minSize     int
	cifarStem   bool
	// stacks and blocks
	kernel       int
	stride       int
	stride1      *int
	convShortcut *bool
	groups       int
	innerWidth   int
	outFilters   int
	shortcut     Shortcut
	name         string
}

func configure(opts []Option) *config {
	c := &config{includeTop: true, classes: 1000, activation: "softmax", kernel: 3, stride: 1,
		defaultSize: 224, minSize: 32}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// IncludeTop says whether the model ends with global average pooling and
// the Dense classifier "predictions" (default true).
func IncludeTop(b bool) Option { return func(c *config) { c.includeTop = b } }

// InputShape sets the input shape without the batch dimension: (height,
// width, channels), or (channels, height, width) with ChannelsFirst.
// nn.Unknown leaves a spatial size free (only without a top).
func InputShape(dims ...int) Option {
	return func(c *config) { c.inputShape = append([]int{}, dims...) }
}

// Pooling sets the pooling of a model without a top: "" or "none" for the
// 4-D feature map, "avg" for GlobalAveragePooling2D ("avg_pool"), "max" for
// GlobalMaxPooling2D ("max_pool").
func Pooling(p string) Option { return func(c *config) { c.pooling = strings.ToLower(p) } }

// Classes sets the number of classes of the top (default 1000).
func Classes(n int) Option { return func(c *config) { c.classes = n } }

// ClassifierActivation sets the activation of the top: "softmax" (the
// default) or "linear" (also "none") for logits.
func ClassifierActivation(a string) Option {
	return func(c *config) { c.activation = strings.ToLower(a) }
}

// ModelName sets the model's name.
func ModelName(name string) Option { return func(c *config) { c.modelName = name } }

// Preact builds the pre-activation (v2) stem and head: no BatchNormalization
// after conv1, and post_bn, post_relu after the stacks.
func Preact(b bool) Option { return func(c *config) { c.preact = b } }

// UseBias says whether convolutions have biases. In ResNet it sets
// conv1_conv's bias, as Keras' use_bias does; given to a block or stack it
// overrides the flavour's default (Keras: biases on v1 and basic blocks and
// on v2's outer 1x1s; torch: none; ResNeXt: none).
func UseBias(b bool) Option { return func(c *config) { c.useBias = &b } }

// WithFlavor selects the Keras (default) or torchvision layout.
func WithFlavor(f Flavor) Option { return func(c *config) { c.flavor = f } }

// DataFormat sets the image layout of the input (default channels last).
func DataFormat(f nn.DataFormat) Option { return func(c *config) { c.format = f } }

// Kernel sets the size of a block's middle convolution (default 3).
func Kernel(k int) Option { return func(c *config) { c.kernel = k } }

// Stride sets a block's stride (default 1).
func Stride(s int) Option { return func(c *config) { c.stride = s } }

// Stride1 sets the stride of a stack's strided block (default 2).
func Stride1(s int) Option { return func(c *config) { c.stride1 = &s } }

// ConvShortcut says whether a block's shortcut is a projection rather than
// the identity. Block defaults follow Keras (true for Block1 and Block3,
// false for Block2); BlockBasic by default projects only when the shape
// changes.
func ConvShortcut(b bool) Option { return func(c *config) { c.convShortcut = &b } }

// Groups sets the number of groups of a ResNeXt block's 3x3 convolution
// (default 32 in Block3 and Stack3, 1 elsewhere).
func Groups(g int) Option { return func(c *config) { c.groups = g } }

// InnerWidth sets the channels inside a bottleneck (default: filters), as
// wide ResNets widen them.
func InnerWidth(w int) Option { return func(c *config) { c.innerWidth = w } }

// OutFilters sets a ResNeXt block's output channels (default: Keras'
// (64 / groups) * filters).
func OutFilters(n int) Option { return func(c *config) { c.outFilters = n } }

// WithShortcut selects option A (ZeroPad) or B (Projection, the default)
// for basic blocks whose shape changes.
func WithShortcut(s Shortcut) Option { return func(c *config) { c.shortcut = s } }

// Name sets the name prefix of a block ("conv2_block1") or stack ("conv2").
func Name(name string) Option { return func(c *config) { c.name = name } }

// cifar sets the defaults of the paper's CIFAR networks: a 3x3 stem
// without pooling and 32x32 inputs.
func cifar() Option {
	return func(c *config) { c.cifarStem, c.defaultSize, c.minSize = true, 32, 4 }
}

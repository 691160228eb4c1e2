package resnet

import (
	"strconv"

	"github.com/resnet-go/resnet/nn"
)

// bottleneck is a 1x1 -> kxk -> 1x1 residual block: the common shape of
// Keras' block1 and block3 and of torchvision's Bottleneck.
type bottleneck struct {
	inner, out, groups, kernel, stride int
	convShortcut                       bool
	strideOn3x3                        bool // torchvision and ResNeXt; Keras' v1 strides the first 1x1
	bias                               bool
	padAlways                          bool // pad before the kxk even at stride 1, as Keras' block3 does
	flavor                             Flavor
	name                               string
}

func (b bottleneck) build(x *nn.Tensor) *nn.Tensor {
	f, n := b.flavor, b.name
	s1, s2 := b.stride, 1
	if b.strideOn3x3 {
		s1, s2 = 1, b.stride
	}
	shortcut := x
	if b.convShortcut {
		shortcut = nn.Conv2D(x, b.out, 1, nn.Strides(b.stride), nn.UseBias(b.bias), nn.Name(n+"_0_conv"))
		shortcut = f.bn(shortcut, n+"_0_bn")
	}
	x = nn.Conv2D(x, b.inner, 1, nn.Strides(s1), nn.UseBias(b.bias), nn.Name(n+"_1_conv"))
	x = f.bn(x, n+"_1_bn")
	x = nn.Activation(x, "relu", nn.Name(n+"_1_relu"))
	pad := b.padAlways || (f == Torch && s2 > 1)
	x = conv(x, b.inner, b.kernel, s2, pad, n+"_2", nn.UseBias(b.bias), nn.Groups(b.groups))
	x = f.bn(x, n+"_2_bn")
	x = nn.Activation(x, "relu", nn.Name(n+"_2_relu"))
	x = nn.Conv2D(x, b.out, 1, nn.UseBias(b.bias), nn.Name(n+"_3_conv"))
	x = f.bn(x, n+"_3_bn")
	x = nn.Add([]*nn.Tensor{shortcut, x}, nn.Name(n+"_add"))
	return nn.Activation(x, "relu", nn.Name(n+"_out"))
}

// conv adds a kxk convolution named prefix+"_conv". With pad it first pads
// k/2 pixels on every side (layer prefix+"_pad") and convolves "valid", as
// torchvision's padding=k/2 does; otherwise it uses Keras' "same", which
// pads a strided convolution on the bottom and right only.
func conv(x *nn.Tensor, filters, k, stride int, pad bool, prefix string, opts ...nn.Option) *nn.Tensor {
	opts = append(opts, nn.Strides(stride), nn.Name(prefix+"_conv"))
	if pad {
		x = nn.ZeroPadding2D(x, k/2, nn.Name(prefix+"_pad"))
		return nn.Conv2D(x, filters, k, opts...)
	}
	return nn.Conv2D(x, filters, k, append(opts, nn.Padding("same"))...)
}

// blockName returns the configured name, or a fresh one in x's graph.
func (c *config) blockName(x *nn.Tensor, prefix string) string {
	if c.name != "" || x == nil {
		return c.name
	}
	return x.UniqueName(prefix)
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// Block1 is Keras' block1, the v1 bottleneck: a 1x1 convolution to
// filters (or InnerWidth) channels, a kxk convolution, a 1x1 convolution to
// 4*filters channels, added to a projection shortcut (ConvShortcut, default
// true) or the input, then ReLU. In the Keras flavour the stride sits on the
// first 1x1 and convolutions have biases; in the torch flavour the stride
// sits on the kxk and there are no biases. Options: Kernel, Stride,
// ConvShortcut, InnerWidth, Groups, WithFlavor, Name.
func Block1(x *nn.Tensor, filters int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	inner := filters
	if c.innerWidth > 0 {
		inner = c.innerWidth
	}
	return bottleneck{
		inner: inner, out: 4 * filters, groups: max(c.groups, 1), kernel: c.kernel,
		stride: c.stride, convShortcut: or(c.convShortcut, true), strideOn3x3: c.flavor == Torch,
		bias: or(c.useBias, c.flavor == Keras), flavor: c.flavor, name: c.blockName(x, "block1"),
	}.build(x)
}

// Block3 is Keras' block3, the ResNeXt bottleneck: a 1x1 convolution to
// filters channels, a grouped kxk convolution (Groups, default 32) carrying
// the stride, a 1x1 convolution to OutFilters channels (default
// (64/groups)*filters), no biases. Keras emulates the grouped convolution
// with a depthwise convolution and a frozen kernel; this is a true grouped
// Conv2D, so the names and trainable weights match but not the frozen extra.
// Options: Kernel, Stride, ConvShortcut (default true), Groups, OutFilters,
// WithFlavor, Name.
func Block3(x *nn.Tensor, filters int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	groups := c.groups
	if groups == 0 {
		groups = 32
	}
	out := c.outFilters
	if out == 0 && groups > 0 {
		out = 64 / groups * filters
	}
	return bottleneck{
		inner: filters, out: out, groups: groups, kernel: c.kernel, stride: c.stride,
		convShortcut: or(c.convShortcut, true), strideOn3x3: true, padAlways: c.flavor == Keras,
		bias:   or(c.useBias, false),
		flavor: c.flavor, name: c.blockName(x, "block3"),
	}.build(x)
}

// Block2 is Keras' block2, the pre-activation (v2) bottleneck: BatchNorm and
// ReLU first; the shortcut is a 1x1 projection of the pre-activated input
// (ConvShortcut, default false), a 1x1 max-pool of the input when strided,
// or the input; the branch is 1x1, padded kxk carrying the stride, 1x1 to
// 4*filters; the sum is the output, without ReLU. Options: Kernel, Stride,
// ConvShortcut, WithFlavor, Name.
func Block2(x *nn.Tensor, filters int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	f, n := c.flavor, c.blockName(x, "block2")
	bias := or(c.useBias, f == Keras)
	preact := f.bn(x, n+"_preact_bn")
	preact = nn.Activation(preact, "relu", nn.Name(n+"_preact_relu"))
	shortcut := x
	if or(c.convShortcut, false) {
		shortcut = nn.Conv2D(preact, 4*filters, 1, nn.Strides(c.stride), nn.UseBias(bias), nn.Name(n+"_0_conv"))
	} else if c.stride > 1 {
		shortcut = nn.MaxPooling2D(x, 1, nn.Strides(c.stride))
	}
	x = nn.Conv2D(preact, filters, 1, nn.UseBias(false), nn.Name(n+"_1_conv"))
	x = f.bn(x, n+"_1_bn")
	x = nn.Activation(x, "relu", nn.Name(n+"_1_relu"))
	x = conv(x, filters, c.kernel, c.stride, true, n+"_2", nn.UseBias(false))
	x = f.bn(x, n+"_2_bn")
	x = nn.Activation(x, "relu", nn.Name(n+"_2_relu"))
	x = nn.Conv2D(x, 4*filters, 1, nn.UseBias(bias), nn.Name(n+"_3_conv"))
	return nn.Add([]*nn.Tensor{shortcut, x}, nn.Name(n+"_out"))
}

// channels returns the channel count of x, or 0 if x is unusable.
func channels(x *nn.Tensor) int {
	if x == nil {
		return 0
	}
	s := x.Shape()
	if len(s) != 3 {
		return 0
	}
	if x.Format() == nn.ChannelsFirst {
		return s[0]
	}
	return s[2]
}

// BlockBasic is the two-convolution residual block of ResNet-18/34 and of
// the paper's CIFAR networks: kxk (carrying the stride), BN, ReLU, kxk, BN,
// added to the shortcut, ReLU. The shortcut changes the shape only when
// needed (by default when the stride or channel count changes), by
// projection (option B) or by zero padding (option A, WithShortcut(ZeroPad)).
// Options: Kernel, Stride, ConvShortcut, WithShortcut, WithFlavor, Name.
func BlockBasic(x *nn.Tensor, filters int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	f, n := c.flavor, c.blockName(x, "block")
	bias := or(c.useBias, f == Keras)
	shortcut := x
	if or(c.convShortcut, c.stride != 1 || channels(x) != filters) {
		if c.shortcut == ZeroPad {
			shortcut = nn.PaddedIdentity(x, filters, c.stride, nn.Name(n+"_0_pad"))
		} else {
			shortcut = nn.Conv2D(x, filters, 1, nn.Strides(c.stride), nn.UseBias(bias), nn.Name(n+"_0_conv"))
			shortcut = f.bn(shortcut, n+"_0_bn")
		}
	}
	x = conv(x, filters, c.kernel, c.stride, f == Torch && c.stride > 1, n+"_1", nn.UseBias(bias))
	x = f.bn(x, n+"_1_bn")
	x = nn.Activation(x, "relu", nn.Name(n+"_1_relu"))
	x = conv(x, filters, c.kernel, 1, false, n+"_2", nn.UseBias(bias))
	x = f.bn(x, n+"_2_bn")
	x = nn.Add([]*nn.Tensor{shortcut, x}, nn.Name(n+"_add"))
	return nn.Activation(x, "relu", nn.Name(n+"_out"))
}

// with returns opts followed by more, never sharing opts' backing array.
func with(opts []Option, more ...Option) []Option {
	return append(append(make([]Option, 0, len(opts)+len(more)), opts...), more...)
}

func blockName(stack string, i int) Option { return Name(stack + "_block" + strconv.Itoa(i)) }

// Stack1 is Keras' stack1: blocks Block1s, the first strided (Stride1,
// default 2) with a projection shortcut. Options are handed to the blocks.
func Stack1(x *nn.Tensor, filters, blocks int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	n := c.blockName(x, "stack1")
	x = Block1(x, filters, with(opts, Stride(or(c.stride1, 2)), ConvShortcut(true), blockName(n, 1))...)
	for i := 2; i <= blocks; i++ {
		x = Block1(x, filters, with(opts, Stride(1), ConvShortcut(false), blockName(n, i))...)
	}
	return x
}

// Stack2 is Keras' stack2: blocks Block2s, the first with a projection
// shortcut, the last strided (Stride1, default 2).
func Stack2(x *nn.Tensor, filters, blocks int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	n := c.blockName(x, "stack2")
	x = Block2(x, filters, with(opts, Stride(1), ConvShortcut(true), blockName(n, 1))...)
	for i := 2; i < blocks; i++ {
		x = Block2(x, filters, with(opts, Stride(1), ConvShortcut(false), blockName(n, i))...)
	}
	return Block2(x, filters, with(opts, Stride(or(c.stride1, 2)), ConvShortcut(false), blockName(n, blocks))...)
}

// Stack3 is Keras' stack3: blocks ResNeXt Block3s, the first strided
// (Stride1, default 2) with a projection shortcut.
func Stack3(x *nn.Tensor, filters, blocks int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	n := c.blockName(x, "stack3")
	x = Block3(x, filters, with(opts, Stride(or(c.stride1, 2)), ConvShortcut(true), blockName(n, 1))...)
	for i := 2; i <= blocks; i++ {
		x = Block3(x, filters, with(opts, Stride(1), ConvShortcut(false), blockName(n, i))...)
	}
	return x
}

// StackBasic is blocks BlockBasics, the first strided (Stride1, default 2)
// with whatever shortcut the shape change needs.
func StackBasic(x *nn.Tensor, filters, blocks int, opts ...Option) *nn.Tensor {
	c := configure(opts)
	n := c.blockName(x, "stack")
	x = BlockBasic(x, filters, with(opts, Stride(or(c.stride1, 2)), blockName(n, 1))...)
	for i := 2; i <= blocks; i++ {
		x = BlockBasic(x, filters, with(opts, Stride(1), blockName(n, i))...)
	}
	return x
}

package nn

import (
	"errors"
	"fmt"
)

type inputOp struct{}

func (inputOp) infer([]Shape, DataFormat) (spec, error) { return spec{}, nil }

// outLen is Keras' conv_output_length: the output size of a sliding window
// of size k (dilation d, stride s) over n values with "valid" or "same"
// padding. Unknown stays unknown.
func outLen(n, k, s, d int, padding string) int {
	if n == Unknown {
		return Unknown
	}
	if padding == "valid" {
		n -= (k-1)*d + 1 - 1
	}
	if n <= 0 {
		return 0 // the caller reports the empty output
	}
	return (n + s - 1) / s
}

func checkPadding(p string) error {
	if p != "valid" && p != "same" {
		return fmt.Errorf("padding %q is neither \"valid\" nor \"same\"", p)
	}
	return nil
}

func checkImage(in Shape) error {
	if len(in) != 3 {
		return fmt.Errorf("expects a rank-3 image input (height, width, channels), got shape %v", in)
	}
	return nil
}

// window computes the output height and width of a sliding window layer.
func window(in Shape, f DataFormat, kh, kw int, strides [2]int, dil int, padding string) (int, int, error) {
	if err := checkImage(in); err != nil {
		return 0, 0, err
	}
	if strides[0] < 1 || strides[1] < 1 {
		return 0, 0, fmt.Errorf("strides %v must be one or two positive values", strides)
	}
	if kh < 1 || kw < 1 {
		return 0, 0, fmt.Errorf("window size %dx%d must be positive", kh, kw)
	}
	if dil < 1 {
		return 0, 0, fmt.Errorf("dilation %d must be positive", dil)
	}
	if err := checkPadding(padding); err != nil {
		return 0, 0, err
	}
	h, w, _ := f.hwc(in)
	oh := outLen(h, kh, strides[0], dil, padding)
	ow := outLen(w, kw, strides[1], dil, padding)
	if (oh != Unknown && oh < 1) || (ow != Unknown && ow < 1) {
		return 0, 0, fmt.Errorf("input %v is too small for a %dx%d window with %s padding: the output would have no pixels", in, kh, kw, padding)
	}
	return oh, ow, nil
}

// conv2DOp is Keras' Conv2D with PyTorch's groups.
type conv2DOp struct {
	filters, kernel int
	strides         [2]int
	padding         string
	useBias         bool
	groups          int
	dilation        int
}

func (o *conv2DOp) infer(in []Shape, f DataFormat) (spec, error) {
	if o.filters < 1 {
		return spec{}, fmt.Errorf("filters %d must be positive", o.filters)
	}
	oh, ow, err := window(in[0], f, o.kernel, o.kernel, o.strides, o.dilation, o.padding)
	if err != nil {
		return spec{}, err
	}
	_, _, c := f.hwc(in[0])
	if c == Unknown {
		return spec{}, errors.New("the number of input channels must be known")
	}
	if o.groups < 1 || c%o.groups != 0 || o.filters%o.groups != 0 {
		return spec{}, fmt.Errorf("groups %d must divide both the input channels %d and the filters %d", o.groups, c, o.filters)
	}
	ws := []Weight{{Name: "kernel", Shape: []int{o.kernel, o.kernel, c / o.groups, o.filters}, Trainable: true}}
	if o.useBias {
		ws = append(ws, Weight{Name: "bias", Shape: []int{o.filters}, Trainable: true})
	}
	var macs int64
	if oh != Unknown && ow != Unknown {
		macs = int64(oh) * int64(ow) * int64(o.filters) * int64(o.kernel*o.kernel*c/o.groups)
	}
	return spec{out: f.image(oh, ow, o.filters), weights: ws, macs: macs}, nil
}

// Conv2D is Keras' 2-D convolution with a square kernel. Options: Name,
// Strides, Padding, UseBias, Groups, Dilation. Its kernel has Keras' layout
// (height, width, input channels / groups, filters).
func Conv2D(x *Tensor, filters, kernel int, opts ...Option) *Tensor {
	c := configure(opts)
	if c.set&optStrides == 0 {
		c.strides = [2]int{1, 1}
	}
	o := &conv2DOp{filters: filters, kernel: kernel, strides: c.strides, padding: c.padding,
		useBias: c.useBias, groups: c.groups, dilation: c.dilation}
	return apply("Conv2D", o, c, optStrides|optPadding|optUseBias|optGroups|optDilation, x)
}

type zeroPaddingOp struct{ top, bottom, left, right int }

// pads returns the padding as top, bottom, left, right.
func (o *zeroPaddingOp) pads() [4]int { return [4]int{o.top, o.bottom, o.left, o.right} }

func (o *zeroPaddingOp) infer(in []Shape, f DataFormat) (spec, error) {
	if err := checkImage(in[0]); err != nil {
		return spec{}, err
	}
	if o.top < 0 || o.bottom < 0 || o.left < 0 || o.right < 0 {
		return spec{}, fmt.Errorf("padding (%d, %d, %d, %d) must not be negative", o.top, o.bottom, o.left, o.right)
	}
	h, w, c := f.hwc(in[0])
	if h != Unknown {
		h += o.top + o.bottom
	}
	if w != Unknown {
		w += o.left + o.right
	}
	return spec{out: f.image(h, w, c)}, nil
}

// ZeroPadding2D pads the height and width with pad zeros on each side.
// Options: Name, Pads (a different amount per side).
func ZeroPadding2D(x *Tensor, pad int, opts ...Option) *Tensor {
	c := configure(opts)
	o := &zeroPaddingOp{pad, pad, pad, pad}
	if c.set&optPads != 0 {
		o = &zeroPaddingOp{c.pads[0], c.pads[1], c.pads[2], c.pads[3]}
	}
	return apply("ZeroPadding2D", o, c, optPads, x)
}

type batchNormOp struct {
	axis              int
	epsilon, momentum float64
	bessel            bool
}

func (o *batchNormOp) infer(in []Shape, f DataFormat) (spec, error) {
	rank := len(in[0]) + 1
	a := o.axis
	if a < 0 {
		a += rank
	}
	if a < 1 || a >= rank {
		return spec{}, fmt.Errorf("axis %d is out of range for input %v", o.axis, in[0])
	}
	o.axis = a
	n := in[0][a-1]
	if n == Unknown {
		return spec{}, fmt.Errorf("the size of axis %d must be known", a)
	}
	if o.epsilon <= 0 {
		return spec{}, fmt.Errorf("epsilon %g must be positive", o.epsilon)
	}
	if o.momentum < 0 || o.momentum > 1 {
		return spec{}, fmt.Errorf("momentum %g must lie in [0, 1]", o.momentum)
	}
	ws := []Weight{
		{Name: "gamma", Shape: []int{n}, Trainable: true},
		{Name: "beta", Shape: []int{n}, Trainable: true},
		{Name: "moving_mean", Shape: []int{n}},
		{Name: "moving_variance", Shape: []int{n}},
	}
	return spec{out: in[0].clone(), weights: ws}, nil
}

// BatchNormalization normalises over every axis but the feature axis.
// Options: Name, Axis (default: the channel axis), Epsilon (default 1e-3),
// Momentum (default 0.99), BesselCorrection. gamma and beta are trainable; the moving mean
// and variance are not.
func BatchNormalization(x *Tensor, opts ...Option) *Tensor {
	c := configure(opts)
	if c.set&optAxis == 0 {
		c.axis = -1
		if x != nil && x.g.format == ChannelsFirst {
			c.axis = 1
		}
	}
	o := &batchNormOp{axis: c.axis, epsilon: c.epsilon, momentum: c.momentum, bessel: c.bessel}
	return apply("BatchNormalization", o, c, optAxis|optEpsilon|optMomentum|optBessel, x)
}

var activations = map[string]bool{"linear": true, "relu": true, "softmax": true, "sigmoid": true, "tanh": true}

func checkActivation(name string) error {
	if !activations[name] {
		return fmt.Errorf("unknown activation %q (want linear, relu, softmax, sigmoid or tanh)", name)
	}
	return nil
}

type activationOp struct{ fn string }

func (o *activationOp) infer(in []Shape, _ DataFormat) (spec, error) {
	return spec{out: in[0].clone()}, checkActivation(o.fn)
}

// Activation applies an element-wise activation ("relu", "sigmoid", "tanh",
// "linear") or softmax over the last axis. Options: Name.
func Activation(x *Tensor, fn string, opts ...Option) *Tensor {
	c := configure(opts)
	return apply("Activation", &activationOp{fn: fn}, c, 0, x)
}

type addOp struct{}

func (addOp) infer(in []Shape, _ DataFormat) (spec, error) {
	if len(in) < 2 {
		return spec{}, fmt.Errorf("needs at least 2 inputs, got %d", len(in))
	}
	for i := 1; i < len(in); i++ {
		if !in[i].Equal(in[0]) {
			return spec{}, fmt.Errorf("inputs must have the same shape: input 0 is %v, input %d is %v", in[0], i, in[i])
		}
	}
	return spec{out: in[0].clone()}, nil
}

// Add sums tensors of the same shape element-wise. Options: Name.
func Add(xs []*Tensor, opts ...Option) *Tensor {
	c := configure(opts)
	return apply("Add", addOp{}, c, 0, xs...)
}

type poolOp struct {
	max     bool
	size    int
	strides [2]int
	padding string
}

func (o *poolOp) infer(in []Shape, f DataFormat) (spec, error) {
	oh, ow, err := window(in[0], f, o.size, o.size, o.strides, 1, o.padding)
	if err != nil {
		return spec{}, err
	}
	_, _, c := f.hwc(in[0])
	return spec{out: f.image(oh, ow, c)}, nil
}

func pool(class string, max bool, x *Tensor, size int, opts []Option) *Tensor {
	c := configure(opts)
	if c.set&optStrides == 0 {
		c.strides = [2]int{size, size}
	}
	o := &poolOp{max: max, size: size, strides: c.strides, padding: c.padding}
	return apply(class, o, c, optStrides|optPadding, x)
}

// MaxPooling2D takes the maximum over size x size windows. Options: Name,
// Strides (default: size), Padding.
func MaxPooling2D(x *Tensor, size int, opts ...Option) *Tensor {
	return pool("MaxPooling2D", true, x, size, opts)
}

// AveragePooling2D averages over size x size windows (with "same" padding,
// over the pixels inside the image, as Keras does). Options: Name, Strides
// (default: size), Padding.
func AveragePooling2D(x *Tensor, size int, opts ...Option) *Tensor {
	return pool("AveragePooling2D", false, x, size, opts)
}

type globalPoolOp struct{ max bool }

func (o *globalPoolOp) infer(in []Shape, f DataFormat) (spec, error) {
	if err := checkImage(in[0]); err != nil {
		return spec{}, err
	}
	_, _, c := f.hwc(in[0])
	return spec{out: Shape{c}}, nil
}

// GlobalAveragePooling2D averages each channel over height and width.
// Options: Name.
func GlobalAveragePooling2D(x *Tensor, opts ...Option) *Tensor {
	return apply("GlobalAveragePooling2D", &globalPoolOp{}, configure(opts), 0, x)
}

// GlobalMaxPooling2D takes each channel's maximum over height and width.
// Options: Name.
func GlobalMaxPooling2D(x *Tensor, opts ...Option) *Tensor {
	return apply("GlobalMaxPooling2D", &globalPoolOp{max: true}, configure(opts), 0, x)
}

type denseOp struct {
	units      int
	useBias    bool
	activation string
}

func (o *denseOp) infer(in []Shape, _ DataFormat) (spec, error) {
	if o.units < 1 {
		return spec{}, fmt.Errorf("units %d must be positive", o.units)
	}
	if err := checkActivation(o.activation); err != nil {
		return spec{}, err
	}
	s := in[0]
	n := s[len(s)-1]
	if n == Unknown {
		return spec{}, errors.New("the last axis of the input must have a known size")
	}
	ws := []Weight{{Name: "kernel", Shape: []int{n, o.units}, Trainable: true}}
	if o.useBias {
		ws = append(ws, Weight{Name: "bias", Shape: []int{o.units}, Trainable: true})
	}
	out := append(s[:len(s)-1:len(s)-1], o.units)
	lead := Shape(s[:len(s)-1]).Size()
	var macs int64
	if lead != Unknown {
		macs = int64(lead) * int64(n) * int64(o.units)
	}
	return spec{out: out, weights: ws, macs: macs}, nil
}

// Dense is a fully connected layer on the last axis. Options: Name,
// UseBias, WithActivation. Its kernel is (inputs, units).
func Dense(x *Tensor, units int, opts ...Option) *Tensor {
	c := configure(opts)
	o := &denseOp{units: units, useBias: c.useBias, activation: c.activation}
	return apply("Dense", o, c, optUseBias|optActivation, x)
}

type flattenOp struct{}

func (flattenOp) infer(in []Shape, _ DataFormat) (spec, error) {
	n := in[0].Size()
	if n == Unknown {
		return spec{}, fmt.Errorf("every dimension of the input %v must be known", in[0])
	}
	return spec{out: Shape{n}}, nil
}

// Flatten reshapes each example to one dimension. Options: Name.
func Flatten(x *Tensor, opts ...Option) *Tensor {
	return apply("Flatten", flattenOp{}, configure(opts), 0, x)
}

type paddedIdentityOp struct{ channels, stride int }

func (o *paddedIdentityOp) infer(in []Shape, f DataFormat) (spec, error) {
	if err := checkImage(in[0]); err != nil {
		return spec{}, err
	}
	h, w, c := f.hwc(in[0])
	if o.stride < 1 {
		return spec{}, fmt.Errorf("stride %d must be positive", o.stride)
	}
	if c == Unknown || o.channels < c || (o.channels-c)%2 != 0 {
		return spec{}, fmt.Errorf("cannot pad %d channels evenly on both sides to %d", c, o.channels)
	}
	h, w = outLen(h, 1, o.stride, 1, "valid"), outLen(w, 1, o.stride, 1, "valid")
	return spec{out: f.image(h, w, o.channels)}, nil
}

// PaddedIdentity is the parameter-free shortcut of the ResNet paper's option
// A: it keeps every stride-th pixel (starting at the first) and pads the
// channels with zeros, half before and half after, up to channels.
// Options: Name.
func PaddedIdentity(x *Tensor, channels, stride int, opts ...Option) *Tensor {
	return apply("PaddedIdentity", &paddedIdentityOp{channels, stride}, configure(opts), 0, x)
}

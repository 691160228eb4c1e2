package nn

import (
	"errors"
	"fmt"
	"math"

	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/tensor"
)

// Predict runs the model on a batch: one tensor per input, each with the
// batch dimension first and the rest as the input's shape (NHWC, or NCHW for
// a channels-first model). It returns one tensor per output. This is the
// reference path: plain, checked, and safe for concurrent use once the
// weights are set.
func (m *Model) Predict(inputs ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	if m.consumed {
		return nil, ErrConsumed
	}
	if len(inputs) != len(m.inputs) {
		return nil, fmt.Errorf("model %q: %d inputs given, the model has %d", m.name, len(inputs), len(m.inputs))
	}
	f := m.inputs[0].g.format
	vals := map[*Layer]*tensor.Tensor{}
	batch := -1
	for i, in := range inputs {
		if err := m.checkInput(i, in, &batch); err != nil {
			return nil, err
		}
		vals[m.inputs[i].layer] = toInternal(in, f)
	}
	// Free each output once its last consumer has run.
	uses := m.readers()
	for _, l := range m.layers {
		if _, ok := l.op.(inputOp); ok {
			continue
		}
		ins := make([]*tensor.Tensor, len(l.inputs))
		for i, t := range l.inputs {
			ins[i] = vals[t.layer]
		}
		out, err := l.op.forward(ins, l.values(), f, nil)
		if err != nil {
			return nil, fmt.Errorf("model %q: layer %q (%s): %w", m.name, l.name, l.class, err)
		}
		vals[l] = out
		for _, t := range l.inputs {
			if uses[t.layer]--; uses[t.layer] == 0 {
				delete(vals, t.layer)
			}
		}
	}
	outs := make([]*tensor.Tensor, len(m.outputs))
	for i, t := range m.outputs {
		outs[i] = fromInternal(vals[t.layer], f)
	}
	return outs, nil
}

func (m *Model) checkInput(i int, in *tensor.Tensor, batch *int) error {
	name := m.inputs[i].layer.name
	if in == nil {
		return fmt.Errorf("model %q: input %q is nil", m.name, name)
	}
	want := m.inputs[i].shape
	if len(in.Shape) != len(want)+1 {
		return fmt.Errorf("model %q: input %q has shape %v; want rank %d, a batch of %v", m.name, name, in.Shape, len(want)+1, want)
	}
	if n, err := tensor.Elements(in.Shape); err != nil || n != len(in.Data) {
		return fmt.Errorf("model %q: input %q: shape %v does not match its %d values", m.name, name, in.Shape, len(in.Data))
	}
	for j, d := range want {
		if (d != Unknown && in.Shape[j+1] != d) || in.Shape[j+1] < 1 {
			return fmt.Errorf("model %q: input %q has shape %v; want a batch of %v", m.name, name, in.Shape, want)
		}
	}
	if in.Shape[0] < 1 || (*batch >= 0 && in.Shape[0] != *batch) {
		return fmt.Errorf("model %q: input %q has batch size %d", m.name, name, in.Shape[0])
	}
	*batch = in.Shape[0]
	return nil
}

// Images run channels-last inside; channels-first tensors are converted at
// the model's edges.
func toInternal(t *tensor.Tensor, f DataFormat) *tensor.Tensor {
	if f != ChannelsFirst || len(t.Shape) != 4 {
		return t
	}
	u, _ := t.Transpose(0, 2, 3, 1)
	return u
}

func fromInternal(t *tensor.Tensor, f DataFormat) *tensor.Tensor {
	if f != ChannelsFirst || len(t.Shape) != 4 {
		return t
	}
	u, _ := t.Transpose(0, 3, 1, 2)
	return u
}

// samePad returns TensorFlow's padding before the first element for "same".
func samePad(in, out, k, s, d int) int {
	total := (out-1)*s + (k-1)*d + 1 - in
	if total < 0 {
		return 0
	}
	return total / 2
}

// params describes the convolution of x for the kernels, with the zero
// padding pads (top, bottom, left, right) of a ZeroPadding2D before it
// folded in: then x is that layer's input.
func (o *conv2DOp) params(x *tensor.Tensor, pads [4]int) (kernels.Conv2DParams, error) {
	p, ok := o.paddedParams(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], pads)
	if !ok {
		return p, fmt.Errorf("input %v is too small", x.Shape)
	}
	return p, nil
}

// paddedParams describes the convolution of an n x h x w x c input: the
// folded padding pads, then "same" padding, and the output size. ok is
// false when the output would be empty.
func (o *conv2DOp) paddedParams(n, h, w, c int, pads [4]int) (kp kernels.Conv2DParams, ok bool) {
	ph, pw := h+pads[0]+pads[1], w+pads[2]+pads[3]
	kp = kernels.Conv2DParams{N: n, H: h, W: w, C: c, KH: o.kernel, KW: o.kernel, F: o.filters,
		SH: o.strides[0], SW: o.strides[1], DH: o.dilation, DW: o.dilation, Groups: o.groups,
		PadT: pads[0], PadL: pads[2]}
	kp.OH = outLen(ph, o.kernel, kp.SH, o.dilation, o.padding)
	kp.OW = outLen(pw, o.kernel, kp.SW, o.dilation, o.padding)
	if kp.OH < 1 || kp.OW < 1 {
		return kp, false
	}
	if o.padding == "same" {
		kp.PadT += samePad(ph, kp.OH, o.kernel, kp.SH, o.dilation)
		kp.PadL += samePad(pw, kp.OW, o.kernel, kp.SW, o.dilation)
	}
	return kp, true
}

func (o *conv2DOp) forward(in, w []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	return o.forwardPadded(in, w, [4]int{}, al, false)
}

// forwardPadded is forward with the padding of a ZeroPadding2D before it
// folded in (see params), for a training step (kernels.ConvForwardTrain)
// when train is set.
func (o *conv2DOp) forwardPadded(in, w []*tensor.Tensor, pads [4]int, al *arena, train bool) (*tensor.Tensor, error) {
	p, err := o.params(in[0], pads)
	if err != nil {
		return nil, err
	}
	out := al.NewUninit(p.N, p.OH, p.OW, o.filters) // ConvForward writes every value
	var bias []float32
	if o.useBias {
		bias = w[1].Data
	}
	if train {
		kernels.ConvForwardTrain(p, in[0].Data, w[0].Data, bias, out.Data)
	} else {
		kernels.ConvForward(p, in[0].Data, w[0].Data, bias, out.Data)
	}
	return out, nil
}

func (o *zeroPaddingOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	return filled(o, in[0], al), nil
}

func (o *zeroPaddingOp) outShape(x *tensor.Tensor) [4]int {
	return [4]int{x.Shape[0], x.Shape[1] + o.top + o.bottom, x.Shape[2] + o.left + o.right, x.Shape[3]}
}

func (o *zeroPaddingOp) fill(x, out *tensor.Tensor) {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := h+o.top+o.bottom, w+o.left+o.right
	clear(out.Data)
	for b := 0; b < n; b++ {
		for y := 0; y < h; y++ {
			src := x.Data[((b*h+y)*w)*c:][:w*c]
			copy(out.Data[((b*oh+y+o.top)*ow+o.left)*c:], src)
		}
	}
}

// internalAxis maps a Keras axis of a batched tensor to the channels-last
// layout it is computed in.
func internalAxis(axis, rank int, f DataFormat) int {
	if f == ChannelsFirst && rank == 4 {
		return []int{0, 3, 1, 2}[axis]
	}
	return axis
}

func (o *batchNormOp) forward(in, w []*tensor.Tensor, f DataFormat, al *arena) (*tensor.Tensor, error) {
	x := in[0]
	axis := internalAxis(o.axis, len(x.Shape), f)
	c := x.Shape[axis]
	inner := 1
	for _, d := range x.Shape[axis+1:] {
		inner *= d
	}
	scale, shift := o.affine(w)
	out := al.New(x.Shape...)
	if inner == 1 {
		kernels.Affine(x.Data, out.Data, c, scale, shift)
		return out, nil
	}
	for i, v := range x.Data {
		ch := (i / inner) % c
		out.Data[i] = v*scale[ch] + shift[ch]
	}
	return out, nil
}

// affine returns inference's per-channel form of the layer with weights
// w (gamma, beta, moving mean and variance): x*scale + shift.
func (o *batchNormOp) affine(w []*tensor.Tensor) (scale, shift []float32) {
	gamma, beta, mean, variance := w[0].Data, w[1].Data, w[2].Data, w[3].Data
	scale, shift = make([]float32, len(gamma)), make([]float32, len(gamma))
	for i := range scale {
		s := float64(gamma[i]) / math.Sqrt(float64(variance[i])+o.epsilon)
		scale[i] = float32(s)
		shift[i] = float32(float64(beta[i]) - float64(mean[i])*s)
	}
	return scale, shift
}

func activate(fn string, shape []int, data []float32) {
	switch fn {
	case "relu":
		kernels.Relu(data, data)
	case "sigmoid":
		for i, v := range data {
			data[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case "tanh":
		for i, v := range data {
			data[i] = float32(math.Tanh(float64(v)))
		}
	case "softmax":
		k := shape[len(shape)-1]
		for r := 0; r < len(data)/k; r++ {
			Softmax(data[r*k : (r+1)*k])
		}
	}
}

// Softmax normalises x in place, subtracting the maximum for stability.
func Softmax(x []float32) {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = float32(e)
		sum += e
	}
	for i := range x {
		x[i] = float32(float64(x[i]) / sum)
	}
}

var errChannelsFirstLastAxis = errors.New("acting on the last axis of a channels-first image is not supported; apply it after pooling")

func (o *activationOp) forward(in, _ []*tensor.Tensor, f DataFormat, al *arena) (*tensor.Tensor, error) {
	if o.fn == "softmax" && f == ChannelsFirst && len(in[0].Shape) == 4 {
		return nil, errChannelsFirstLastAxis
	}
	out := al.NewUninit(in[0].Shape...) // written whole below
	if o.fn == "relu" {
		kernels.Relu(in[0].Data, out.Data)
		return out, nil
	}
	copy(out.Data, in[0].Data)
	activate(o.fn, out.Shape, out.Data)
	return out, nil
}

func (addOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	if len(in) == 1 {
		return al.Clone(in[0]), nil
	}
	out := al.NewUninit(in[0].Shape...)
	kernels.Add(out.Data, in[0].Data, in[1].Data) // one pass, not a copy and then an addition
	for _, t := range in[2:] {
		kernels.AddTo(out.Data, t.Data)
	}
	return out, nil
}

func (o *poolOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	x := in[0]
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	p := kernels.PoolParams{N: n, H: h, W: w, C: c, KH: o.size, KW: o.size, SH: o.strides[0], SW: o.strides[1]}
	p.OH = outLen(h, o.size, p.SH, 1, o.padding)
	p.OW = outLen(w, o.size, p.SW, 1, o.padding)
	if p.OH < 1 || p.OW < 1 {
		return nil, fmt.Errorf("input %v is too small", x.Shape)
	}
	if o.padding == "same" {
		p.PadT = samePad(h, p.OH, o.size, p.SH, 1)
		p.PadL = samePad(w, p.OW, o.size, p.SW, 1)
	}
	out := al.New(n, p.OH, p.OW, c)
	if o.max {
		kernels.MaxPool(p, x.Data, out.Data)
	} else {
		kernels.AvgPool(p, x.Data, out.Data)
	}
	return out, nil
}

func (o *globalPoolOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	x := in[0]
	out := al.NewUninit(x.Shape[0], x.Shape[3])
	o.poolInto(x, out.Data)
	return out, nil
}

// poolInto pools each image of x (batch, height, width, channels) into
// out, a row of channels each; images without pixels give NaN (the mean
// of nothing, as TensorFlow gives) or -Inf.
func (o *globalPoolOp) poolInto(x *tensor.Tensor, out []float32) {
	n, hw, c := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	if hw == 0 {
		v := float32(math.NaN())
		if o.max {
			v = float32(math.Inf(-1))
		}
		for i := range out[:n*c] {
			out[i] = v
		}
		return
	}
	kernels.GlobalPool(n, hw, c, x.Data, out, o.max)
}

func (o *denseOp) forward(in, w []*tensor.Tensor, f DataFormat, al *arena) (*tensor.Tensor, error) {
	x := in[0]
	if f == ChannelsFirst && len(x.Shape) == 4 {
		return nil, errChannelsFirstLastAxis
	}
	k := x.Shape[len(x.Shape)-1]
	rows := len(x.Data) / k
	var buf [8]int // the shape, on the stack: New copies it
	shape := append(append(buf[:0], x.Shape[:len(x.Shape)-1]...), o.units)
	out := al.New(shape...)
	var bias []float32
	if o.useBias {
		bias = w[1].Data
	}
	kernels.Dense(rows, k, o.units, x.Data, w[0].Data, bias, out.Data)
	activate(o.activation, out.Shape, out.Data)
	return out, nil
}

func (flattenOp) forward(in, _ []*tensor.Tensor, f DataFormat, al *arena) (*tensor.Tensor, error) {
	x := fromInternal(in[0], f) // Keras flattens channels-first images in C, H, W order
	n := x.Shape[0]
	return &tensor.Tensor{Shape: []int{n, len(x.Data) / n}, Data: append([]float32(nil), x.Data...)}, nil
}

func (o *paddedIdentityOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	return filled(o, in[0], al), nil
}

func (o *paddedIdentityOp) outShape(x *tensor.Tensor) [4]int {
	return [4]int{x.Shape[0], (x.Shape[1] + o.stride - 1) / o.stride, (x.Shape[2] + o.stride - 1) / o.stride, o.channels}
}

func (o *paddedIdentityOp) fill(x, out *tensor.Tensor) {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := out.Shape[1], out.Shape[2]
	shortcutFills.Run(n*oh, 8, shortcutFill{o, x.Data, out.Data, h, w, c, oh, ow})
}

// shortcutFill is paddedIdentityOp.fill's loop over output rows: each
// pixel's channels zero-padded to the op's, or (backward) its gradient's
// channels back to the input's.
type shortcutFill struct {
	o               *paddedIdentityOp
	x, out          []float32
	h, w, c, oh, ow int
}

var shortcutFills kernels.Tasks[shortcutFill, *shortcutFill]

func (t *shortcutFill) Run(lo, hi int) {
	o, h, w, c, oh, ow := t.o, t.h, t.w, t.c, t.oh, t.ow
	before := (o.channels - c) / 2
	for r := lo; r < hi; r++ {
		b, y := r/oh, r%oh
		for xx := 0; xx < ow; xx++ {
			src := t.x[((b*h+y*o.stride)*w+xx*o.stride)*c:][:c]
			px := t.out[(r*ow+xx)*o.channels:][:o.channels]
			clear(px[:before])
			copy(px[before:], src)
			clear(px[before+c:])
		}
	}
}

// filler is an op that writes every value of an output shaped by outShape
// (an image batch) from its one input: the plan runs it into a buffer of
// its own.
type filler interface {
	outShape(x *tensor.Tensor) [4]int
	fill(x, out *tensor.Tensor)
}

// filled runs f on x into a tensor from al, which it need not zero.
func filled(f filler, x *tensor.Tensor, al *arena) *tensor.Tensor {
	sh := f.outShape(x)
	out := al.NewUninit(sh[:]...)
	f.fill(x, out)
	return out
}

func (inputOp) forward(in, _ []*tensor.Tensor, _ DataFormat, al *arena) (*tensor.Tensor, error) {
	return in[0], nil
}

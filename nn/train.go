package nn

import (
	"fmt"

	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/tensor"
)

// trainOp is implemented by layers whose training forward pass differs
// from inference (BatchNormalization) or that keep something for backward.
type trainOp interface {
	forwardTrain(in, w []*tensor.Tensor, f DataFormat, frozen bool, al *arena) (out *tensor.Tensor, cache any, err error)
}

// backOp computes a layer's gradients: it returns the gradients of its
// inputs and adds those of its weights into gw (nil when frozen).
type backOp interface {
	backward(c backCtx) ([]*tensor.Tensor, error)
}

type backCtx struct {
	in     []*tensor.Tensor
	out    *tensor.Tensor
	cache  any
	gout   *tensor.Tensor
	w, gw  []*tensor.Tensor
	f      DataFormat
	logits bool   // gout is the gradient of the pre-softmax output
	al     *arena // where the gradients' buffers come from
	// mask, for a BatchNorm whose ReLU was fused into its backward, is the
	// ReLU's output: the gradient is gout where mask > 0, else 0.
	mask *tensor.Tensor
	// pads, for a convolution, is the padding of the ZeroPadding2D before
	// it that the Tape folded into it: in[0] is that layer's input.
	pads [4]int
	// noInputGrad, for a convolution, says that the gradient of its input
	// is not wanted (Tape.SkipInputGrads).
	noInputGrad bool
	// res, for a convolution, is the gradient its input has so far from
	// its other readers (nil: none): the input gradient returned includes
	// it, the sum made as the gradient is written.
	res *tensor.Tensor
}

// Tape is a recorded training forward pass: every layer's output and what
// its backward pass needs.
type Tape struct {
	m          *Model
	vals       map[*Layer]*tensor.Tensor
	caches     map[*Layer]any
	inputGrads []*tensor.Tensor
	al         *arena // the model's step buffers, or nil
	// bnOf maps each ReLU whose passes its BatchNorm takes over
	// (fusedRelu) to that BatchNorm: decided once, for both passes.
	bnOf map[*Layer]*Layer
	// padOf maps each convolution that reads its ZeroPadding2D's input
	// with that padding (foldedPads) to the padding layer; folded holds
	// those padding layers.
	padOf  map[*Layer]*Layer
	folded map[*Layer]bool
	// skipInputs leaves out the gradients of the model's inputs.
	skipInputs bool
}

// SkipInputGrads makes Backward leave out the gradients of the model's
// inputs (InputGrads then gives nils), which training does not use: that of
// a first convolution from 3 channels costs more than its forward pass.
func (t *Tape) SkipInputGrads() { t.skipInputs = true }

// ForwardTrain runs the model in training mode (BatchNormalization uses
// batch statistics and updates its moving averages, unless its layer is
// frozen) and records what Backward needs.
func (m *Model) ForwardTrain(inputs ...*tensor.Tensor) (*Tape, []*tensor.Tensor, error) {
	if m.consumed {
		return nil, nil, ErrConsumed
	}
	if len(inputs) != len(m.inputs) {
		return nil, nil, fmt.Errorf("model %q: %d inputs given, the model has %d", m.name, len(inputs), len(m.inputs))
	}
	f := m.inputs[0].g.format
	m.arena.reset() // the previous step's tensors are dead now
	t, sm := m.arena.newTape(m), m.arena.maps()
	t.vals, t.caches = cleared(&sm.vals), cleared(&sm.caches)
	batch := -1
	for i, in := range inputs {
		if err := m.checkInput(i, in, &batch); err != nil {
			return nil, nil, err
		}
		t.vals[m.inputs[i].layer] = toInternal(in, f)
	}
	// A ReLU whose backward its BatchNorm takes over (fusedRelu) is applied
	// by the BatchNorm too, as it writes its output: the two layers share
	// that output, one pass over it instead of two.
	readers := m.countReaders(cleared(&sm.readers))
	t.bnOf = cleared(&sm.bnOf)
	reluOf := cleared(&sm.reluOf)
	for _, l := range m.layers {
		if bn := fusedRelu(l, readers); bn != nil {
			t.bnOf[l], reluOf[bn] = bn, l
		}
	}
	// A residual block's last BatchNorm waits for the Add after it, which
	// then normalizes, adds the shortcut and rectifies in one pass.
	ends := residualEnds(m, readers, cleared(&sm.ends))
	// A ZeroPadding2D before a convolution is no copy of its input: the
	// convolution reads the input with the padding, and gives the
	// gradient of the input in backward. The padding layer's value is its
	// input's.
	t.padOf, t.folded = foldedPads(m, readers, cleared(&sm.padOf)), cleared(&sm.folded)
	applied := cleared(&sm.applied)
	for _, pad := range t.padOf {
		applied[pad], t.folded[pad] = true, true
	}
	for _, l := range m.layers {
		if _, ok := l.op.(inputOp); ok {
			continue
		}
		if applied[l] {
			t.vals[l] = t.vals[l.inputs[0].layer]
			continue
		}
		if _, ok := ends[l]; ok {
			continue // run by its Add
		}
		if e, ok := ends[lastInput(l)]; ok && e.add == l {
			done, err := t.residualEnd(e, f)
			if err != nil {
				return nil, nil, err
			}
			applied[e.add], applied[e.relu] = done, done
			if done {
				t.vals[l] = t.vals[e.bn]
				continue
			}
		}
		ins := t.al.slots(len(l.inputs))
		for i, x := range l.inputs {
			ins[i] = t.vals[x.layer]
		}
		var out *tensor.Tensor
		var err error
		if bn, ok := l.op.(*batchNormOp); ok && reluOf[l] != nil {
			var rectified bool
			out, t.caches[l], rectified, err = bn.train(ins, l.values(), f, l.frozen, t.al, true, nil)
			applied[reluOf[l]] = rectified
		} else if c, ok := l.op.(*conv2DOp); ok {
			out, err = c.forwardPadded(ins, l.values(), t.padsOf(l), t.al, true)
		} else if to, ok := l.op.(trainOp); ok {
			out, t.caches[l], err = to.forwardTrain(ins, l.values(), f, l.frozen, t.al)
		} else {
			out, err = l.op.forward(ins, l.values(), f, t.al)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("model %q: layer %q (%s): %w", m.name, l.name, l.class, err)
		}
		t.vals[l] = out
	}
	outs := t.al.slots(len(m.outputs))
	for i, o := range m.outputs {
		outs[i] = fromInternal(t.vals[o.layer], f)
	}
	return t, outs, nil
}

// Logits returns the input of output i's softmax when the output ends in
// one (a Dense layer with softmax activation, or a softmax Activation),
// so that a loss can be computed from logits without losing precision.
func (t *Tape) Logits(i int) (*tensor.Tensor, bool) {
	l := t.m.outputs[i].layer
	switch o := l.op.(type) {
	case *denseOp:
		if o.activation == "softmax" {
			return t.caches[l].(*tensor.Tensor), true
		}
	case *activationOp:
		if o.fn == "softmax" {
			return t.vals[l.inputs[0].layer], true
		}
	}
	return nil, false
}

// Backward propagates the gradients of the outputs back through the graph,
// adding weight gradients into the model's gradient buffers (see Params).
// With logits, the gradient of an output that ends in softmax is taken to
// be the gradient of its logits (as Logits returns them).
func (t *Tape) Backward(gradOutputs []*tensor.Tensor, logits bool) error {
	m := t.m
	if len(gradOutputs) != len(m.outputs) {
		return fmt.Errorf("model %q: %d output gradients for %d outputs", m.name, len(gradOutputs), len(m.outputs))
	}
	f := m.inputs[0].g.format
	sm := t.al.maps()
	grads := cleared(&sm.grads)
	fromLogits := cleared(&sm.fromLogits)
	for i, g := range gradOutputs {
		l := m.outputs[i].layer
		if g == nil || len(g.Data) != len(t.vals[l].Data) {
			return fmt.Errorf("model %q: gradient of output %q does not match its shape", m.name, l.name)
		}
		if _, ok := t.Logits(i); ok && logits {
			fromLogits[l] = true
		}
		addGrad(t.al, grads, l, toInternal(g, f))
	}
	life := t.lifetimes(gradOutputs, sm)
	masks := cleared(&sm.masks) // BatchNorm -> the ReLU output masking its gradient
	for i := len(m.layers) - 1; i >= 0; i-- {
		l := m.layers[i]
		g, ok := grads[l]
		if !ok || len(l.inputs) == 0 {
			continue
		}
		if _, isInput := l.op.(inputOp); isInput {
			continue
		}
		delete(grads, l)
		if bn := t.bnOf[l]; bn != nil && !fromLogits[l] {
			// The BatchNorm's backward applies this ReLU's mask as it
			// reads g: the ReLU's own pass and its output are skipped.
			y := t.vals[l]
			masks[bn] = y
			life.hold(y)
			addGrad(t.al, grads, bn, g)
			life.done(l, g, t.al.list(t.vals[bn]), y, nil, grads)
			continue
		}
		if t.folded[l] {
			addGrad(t.al, grads, l.inputs[0].layer, g) // the convolution's gradient is of the input
			life.done(l, g, t.al.list(t.vals[l.inputs[0].layer]), t.vals[l], nil, grads)
			continue
		}
		bo, ok := l.op.(backOp)
		if !ok {
			return fmt.Errorf("model %q: layer %q (%s) has no backward pass", m.name, l.name, l.class)
		}
		ins := t.al.slots(len(l.inputs))
		for j, x := range l.inputs {
			ins[j] = t.vals[x.layer]
		}
		var gw []*tensor.Tensor
		if !l.frozen {
			gw = l.gradients()
		}
		var res *tensor.Tensor
		if _, conv := l.op.(*conv2DOp); conv {
			res = grads[l.inputs[0].layer] // the shortcut's, in a residual block
		}
		gin, err := bo.backward(backCtx{in: ins, out: t.vals[l], cache: t.caches[l], gout: g,
			w: l.values(), gw: gw, f: f, logits: fromLogits[l], al: t.al, mask: masks[l], pads: t.padsOf(l),
			noInputGrad: t.skipInputs && t.readsInput(l), res: res})
		if err != nil {
			return fmt.Errorf("model %q: layer %q (%s) backward: %w", m.name, l.name, l.class, err)
		}
		for j, x := range l.inputs {
			switch {
			case gin[j] == nil:
			case j == 0 && res != nil:
				grads[x.layer] = gin[j] // res added in
			default:
				addGrad(t.al, grads, x.layer, gin[j])
			}
		}
		life.done(l, g, ins, t.vals[l], t.caches[l], grads)
		if y := masks[l]; y != nil {
			life.drop(y)
		}
	}
	t.inputGrads = t.al.slots(len(m.inputs))
	for i, in := range m.inputs {
		if g, ok := grads[in.layer]; ok && !t.skipInputs {
			t.inputGrads[i] = fromInternal(g, f)
		}
	}
	return nil
}

// InputGrads returns the gradients of the model's inputs from the last
// Backward (nil for an input nothing depends on, and after
// SkipInputGrads).
func (t *Tape) InputGrads() []*tensor.Tensor { return t.inputGrads }

// lifetimes tracks which of a step's buffers Backward still needs, so that
// each goes back to the arena as soon as its last reader has run: at most
// about half the activations and gradients are held at once.
type lifetimes struct {
	al    *arena
	reads map[*float32]int  // backward passes still to read a forward value
	keep  map[*float32]bool // the outputs (and logits) the caller may still read
}

// hold keeps v alive for one more reader; drop is that reader done.
func (lt *lifetimes) hold(v *tensor.Tensor) {
	if k := dataKey(v); k != nil {
		lt.reads[k]++
	}
}

func (lt *lifetimes) drop(v *tensor.Tensor) {
	k := dataKey(v)
	if lt.al == nil || k == nil {
		return
	}
	if lt.reads[k]--; lt.reads[k] == 0 && !lt.keep[k] {
		lt.al.release(v.Data)
	}
}

// fusedRelu returns the BatchNorm whose backward takes over ReLU layer l's:
// l's only input is a BatchNorm in training mode that nothing else reads.
func fusedRelu(l *Layer, readers map[*Layer]int) *Layer {
	a, ok := l.op.(*activationOp)
	if !ok || a.fn != "relu" || len(l.inputs) != 1 {
		return nil
	}
	bn := l.inputs[0].layer
	if _, ok := bn.op.(*batchNormOp); !ok || bn.frozen || readers[bn] != 1 {
		return nil
	}
	return bn
}

// residualEnd is a BatchNorm in training mode, the Add of its output (its
// only reader) and a shortcut, and the ReLU that alone reads the sum.
type residualEnd struct{ bn, add, relu *Layer }

// residualEnds finds the residual ends whose BatchNorm is the Add's last
// input (a residual branch, added to the shortcut before it), by BatchNorm.
// ends is the map to fill (empty).
func residualEnds(m *Model, readers map[*Layer]int, ends map[*Layer]residualEnd) map[*Layer]residualEnd {
	for _, relu := range m.layers {
		a, ok := relu.op.(*activationOp)
		if !ok || a.fn != "relu" || len(relu.inputs) != 1 {
			continue
		}
		add := relu.inputs[0].layer
		if _, ok := add.op.(addOp); !ok || len(add.inputs) != 2 || readers[add] != 1 {
			continue
		}
		bn := add.inputs[1].layer
		if _, ok := bn.op.(*batchNormOp); ok && !bn.frozen && readers[bn] == 1 && add.inputs[0].layer != bn {
			ends[bn] = residualEnd{bn, add, relu}
		}
	}
	return ends
}

// lastInput returns the layer of l's last input, or nil.
func lastInput(l *Layer) *Layer {
	if len(l.inputs) == 0 {
		return nil
	}
	return l.inputs[len(l.inputs)-1].layer
}

// residualEnd runs e's BatchNorm, and with it the Add and ReLU where it
// can (done): the three layers' values are then one tensor.
func (t *Tape) residualEnd(e residualEnd, f DataFormat) (done bool, err error) {
	bn := e.bn.op.(*batchNormOp)
	ins := t.al.list(t.vals[e.bn.inputs[0].layer])
	res := t.vals[e.add.inputs[0].layer]
	out, cache, done, err := bn.train(ins, e.bn.values(), f, false, t.al, true, res)
	if err != nil {
		return false, fmt.Errorf("model %q: layer %q (%s): %w", t.m.name, e.bn.name, e.bn.class, err)
	}
	t.vals[e.bn], t.caches[e.bn] = out, cache
	return done, nil
}

// padsOf returns the padding folded into convolution l (none: zeros).
func (t *Tape) padsOf(l *Layer) [4]int {
	if pad := t.padOf[l]; pad != nil {
		return pad.op.(*zeroPaddingOp).pads()
	}
	return [4]int{}
}

// readsInput reports whether l's first input is a model input, directly
// or through a ZeroPadding2D folded into l.
func (t *Tape) readsInput(l *Layer) bool {
	src := l.inputs[0].layer
	if t.folded[src] {
		src = src.inputs[0].layer
	}
	_, ok := src.op.(inputOp)
	return ok
}

// foldedPads finds the ZeroPadding2D layers read only by a "valid"
// convolution, by convolution.
// pads is the map to fill (empty).
func foldedPads(m *Model, readers map[*Layer]int, pads map[*Layer]*Layer) map[*Layer]*Layer {
	for _, l := range m.layers {
		c, ok := l.op.(*conv2DOp)
		if !ok || c.padding != "valid" || len(l.inputs) != 1 {
			continue
		}
		if pad := l.inputs[0].layer; readers[pad] == 1 {
			if _, ok := pad.op.(*zeroPaddingOp); ok {
				pads[l] = pad
			}
		}
	}
	return pads
}

// readers counts the layers reading each layer's output, model outputs
// counting once more.
func (m *Model) readers() map[*Layer]int { return m.countReaders(map[*Layer]int{}) }

// countReaders is readers, counted into n (empty).
func (m *Model) countReaders(n map[*Layer]int) map[*Layer]int {
	for _, l := range m.layers {
		for _, x := range l.inputs {
			n[x.layer]++
		}
	}
	for _, o := range m.outputs {
		n[o.layer]++
	}
	return n
}

func dataKey(t *tensor.Tensor) *float32 {
	if t == nil || len(t.Data) == 0 {
		return nil
	}
	return &t.Data[0]
}

func (t *Tape) lifetimes(gradOutputs []*tensor.Tensor, sm *stepMaps) lifetimes {
	lt := lifetimes{al: t.al, reads: cleared(&sm.reads), keep: cleared(&sm.keep)}
	if t.al == nil {
		return lt
	}
	for _, l := range t.m.layers {
		if len(l.inputs) == 0 {
			continue
		}
		lt.reads[dataKey(t.vals[l])]++
		for _, x := range l.inputs {
			lt.reads[dataKey(t.vals[x.layer])]++
		}
	}
	for i, o := range t.m.outputs {
		lt.keep[dataKey(t.vals[o.layer])] = true
		if lg, ok := t.Logits(i); ok {
			lt.keep[dataKey(lg)] = true
		}
	}
	for _, g := range gradOutputs {
		lt.keep[dataKey(g)] = true
	}
	return lt
}

// done releases what layer l's backward pass was the last to read: its
// output, its inputs, its BatchNorm cache, and its output gradient g
// unless another pending gradient shares it.
func (lt *lifetimes) done(l *Layer, g *tensor.Tensor, ins []*tensor.Tensor, out *tensor.Tensor, cache any, grads map[*Layer]*tensor.Tensor) {
	if lt.al == nil {
		return
	}
	for _, v := range ins {
		lt.drop(v)
	}
	lt.drop(out)
	if c, ok := cache.(*bnCache); ok {
		lt.al.release(c.xhat)
	}
	k := dataKey(g)
	if k == nil || lt.keep[k] || lt.reads[k] > 0 {
		return
	}
	for _, other := range grads {
		if dataKey(other) == k {
			return
		}
	}
	lt.al.release(g.Data)
}

func addGrad(al *arena, grads map[*Layer]*tensor.Tensor, l *Layer, g *tensor.Tensor) {
	if prev, ok := grads[l]; ok {
		sum := al.NewUninit(prev.Shape...) // not into prev: it may be another layer's gradient too
		kernels.Add(sum.Data, prev.Data, g.Data)
		grads[l] = sum
		return
	}
	grads[l] = g
}

// gradients returns the layer's weight-gradient buffers, made on first use.
func (l *Layer) gradients() []*tensor.Tensor {
	if l.grads == nil {
		l.grads = make([]*tensor.Tensor, len(l.weights))
		for i, w := range l.weights {
			l.grads[i] = tensor.New(w.Shape...)
		}
	}
	return l.grads
}

// Param is a trainable weight with its gradient buffer.
type Param struct {
	Name  string // "layer/weight"
	Kind  string // "kernel", "bias", "gamma", "beta"
	Value *tensor.Tensor
	Grad  *tensor.Tensor
}

// Params lists the trainable weights of the layers that are not frozen,
// in Keras' order, with their gradient buffers.
func (m *Model) Params() []Param {
	var ps []Param
	for _, l := range m.layers {
		if l.frozen {
			continue
		}
		for i, w := range l.weights {
			if w.Trainable {
				ps = append(ps, Param{Name: l.name + "/" + w.Name, Kind: w.Name, Value: l.values()[i], Grad: l.gradients()[i]})
			}
		}
	}
	return ps
}

// ZeroGrads clears every gradient buffer.
func (m *Model) ZeroGrads() {
	for _, l := range m.layers {
		for _, g := range l.grads {
			clear(g.Data)
		}
	}
}

// SetFrozen freezes or unfreezes a layer, as Keras' layer.trainable =
// False: its weights stop training and count as non-trainable, and a
// frozen BatchNormalization runs in inference mode (moving statistics,
// not updated) even while the model trains.
func (l *Layer) SetFrozen(frozen bool) { l.frozen = frozen }

// Frozen reports whether the layer is frozen.
func (l *Layer) Frozen() bool { return l.frozen }

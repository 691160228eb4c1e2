package nn

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/resnet-go/resnet/tensor"
)

// Weight describes one weight tensor of a layer: its name inside the layer
// ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"), its
// shape in Keras' layout and whether training changes it.
type Weight struct {
	Name      string
	Shape     []int
	Trainable bool
}

// Size is the number of values in the weight.
func (w Weight) Size() int {
	n := 1
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// Layer is one node of a model's graph.
type Layer struct {
	name    string
	class   string
	op      op
	inputs  []*Tensor
	output  *Tensor
	weights []Weight
	macs    int64
	failed  bool

	once   sync.Once // creates vals
	vals   []*tensor.Tensor
	made   atomic.Bool      // vals exist
	preset []*tensor.Tensor // weights SetWeight was given before vals existed
	grads  []*tensor.Tensor
	frozen bool
}

// op is what a layer kind knows about itself while the graph is built.
type op interface {
	// infer checks the input shapes and returns the output shape, the
	// weights and the multiply-adds per example.
	infer(in []Shape, f DataFormat) (spec, error)
	// forward computes the output from batched channels-last inputs and
	// the layer's weights.
	forward(in []*tensor.Tensor, w []*tensor.Tensor, f DataFormat, al *arena) (*tensor.Tensor, error)
}

type spec struct {
	out     Shape
	weights []Weight
	macs    int64
}

// Name returns the layer's unique name.
func (l *Layer) Name() string { return l.name }

// Class returns the Keras class name of the layer ("Conv2D", "Add", ...).
func (l *Layer) Class() string { return l.class }

// Output returns the layer's symbolic output, to build sub-models from, as
// Keras' layer.output.
func (l *Layer) Output() *Tensor { return l.output }

// OutputShape returns the shape of the layer's output without the batch
// dimension.
func (l *Layer) OutputShape() Shape { return l.output.shape.clone() }

// Inbound returns the layers whose outputs feed this one, in call order.
func (l *Layer) Inbound() []*Layer {
	out := make([]*Layer, len(l.inputs))
	for i, t := range l.inputs {
		out[i] = t.layer
	}
	return out
}

// Weights returns the layer's weights in Keras' order (trainable first).
func (l *Layer) Weights() []Weight {
	out := make([]Weight, len(l.weights))
	for i, w := range l.weights {
		out[i] = Weight{Name: w.Name, Shape: append([]int(nil), w.Shape...), Trainable: w.Trainable && !l.frozen}
	}
	return out
}

// CountParams is the number of values in all of the layer's weights.
func (l *Layer) CountParams() int {
	n := 0
	for _, w := range l.weights {
		n += w.Size()
	}
	return n
}

// MACs is the number of multiply-adds the layer performs per example.
// Only convolutions and dense layers count; see Model.MACs.
func (l *Layer) MACs() int64 { return l.macs }

// apply adds a layer computing o from ins to their graph and returns its
// symbolic output. Problems are recorded in the graph and returned by
// NewModel; the returned tensor is then marked failed so that one mistake
// is reported once, not again by every layer after it.
func apply(class string, o op, c *config, allowed optBit, ins ...*Tensor) *Tensor {
	var g *graph
	for _, t := range ins {
		if t != nil {
			g = t.g
			break
		}
	}
	if g == nil {
		return nil // nothing to attach to; NewModel reports the nil output
	}
	l := &Layer{class: class, op: o, inputs: ins, name: c.name}
	if l.name == "" {
		l.name = g.uniqueName(class)
	} else if g.names[l.name] {
		g.errorf("layer %q (%s): the name is already used by another layer", l.name, class)
		l.failed = true
	}
	g.names[l.name] = true
	out := &Tensor{g: g, layer: l}
	l.output = out
	if err := c.check(class, l.name, allowed|optName); err != nil {
		g.errs = append(g.errs, err)
		l.failed = true
	}
	shapes := make([]Shape, len(ins))
	for i, t := range ins {
		switch {
		case t == nil:
			g.errorf("layer %q (%s): input %d is nil", l.name, class, i)
			l.failed = true
		case t.g != g:
			g.errorf("layer %q (%s): input %d (%s) belongs to another graph", l.name, class, i, t.layer.name)
			l.failed = true
		case t.layer.failed:
			l.failed = true
		default:
			shapes[i] = t.shape
		}
	}
	if l.failed {
		return out
	}
	s, err := o.infer(shapes, g.format)
	if err != nil {
		g.errs = append(g.errs, fmt.Errorf("layer %q (%s): %w", l.name, class, err))
		l.failed = true
		return out
	}
	for _, w := range s.weights {
		if _, err := tensor.Elements(w.Shape); err != nil {
			g.errorf("layer %q (%s): weight %s: %v", l.name, class, w.Name, err)
			l.failed = true
			return out
		}
	}
	out.shape, l.weights, l.macs = s.out, s.weights, s.macs
	return out
}

// Activation returns the activation a Dense or Activation layer applies
// ("softmax", "relu", "linear", ...), or "" for other layers.
func (l *Layer) Activation() string {
	switch o := l.op.(type) {
	case *denseOp:
		return o.activation
	case *activationOp:
		return o.fn
	}
	return ""
}

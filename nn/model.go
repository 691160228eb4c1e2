package nn

import (
	"errors"
	"fmt"
	"sort"
)

// Model is a built graph from inputs to outputs, with its layers in Keras'
// order.
type Model struct {
	name    string
	inputs  []*Tensor
	outputs []*Tensor
	layers  []*Layer
	byName  map[string]*Layer
	// sequential is Keras' "sequential_like": one layer per depth and no
	// layer with several inputs. It decides the summary's layout.
	sequential bool
	consumed   bool   // a plan took the weights
	arena      *arena // step buffers, when ReuseBuffers is on
}

// NewModel builds the model that computes outputs from inputs, checking the
// graph: every error recorded while the layers were called is returned here,
// each naming its layer, and so is an output that does not depend only on
// the given inputs.
func NewModel(name string, inputs, outputs []*Tensor) (*Model, error) {
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, fmt.Errorf("model %q: needs at least one input and one output", name)
	}
	for i, t := range append(append([]*Tensor(nil), inputs...), outputs...) {
		if t == nil {
			return nil, fmt.Errorf("model %q: input or output %d is nil", name, i)
		}
	}
	g := inputs[0].g
	for _, t := range append(append([]*Tensor(nil), inputs...), outputs...) {
		if t.g != g {
			return nil, fmt.Errorf("model %q: layer %q belongs to another graph than input %q", name, t.layer.name, inputs[0].layer.name)
		}
	}
	if err := g.err(); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	for _, t := range inputs {
		if _, ok := t.layer.op.(inputOp); !ok {
			return nil, fmt.Errorf("model %q: input %q is not an Input layer", name, t.layer.name)
		}
	}
	m := &Model{name: name, inputs: inputs, outputs: outputs, byName: map[string]*Layer{}}
	if err := m.order(); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	return m, nil
}

// order sorts the layers as Keras' functional model does: by depth (the
// longest path to an output), deepest first, and within one depth by the
// order in which a depth-first walk from the outputs first meets them.
func (m *Model) order() error {
	var post []*Layer
	visit := map[*Layer]int{} // 1 in progress, 2 done
	index := map[*Layer]int{}
	var walk func(l *Layer) error
	walk = func(l *Layer) error {
		switch visit[l] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("layer %q is part of a cycle", l.name)
		}
		if _, ok := index[l]; !ok {
			index[l] = len(index)
		}
		visit[l] = 1
		for _, t := range l.inputs {
			if err := walk(t.layer); err != nil {
				return err
			}
		}
		visit[l] = 2
		post = append(post, l)
		return nil
	}
	for _, t := range m.outputs {
		if err := walk(t.layer); err != nil {
			return err
		}
	}
	depth := map[*Layer]int{}
	for i := len(post) - 1; i >= 0; i-- {
		l := post[i]
		d := depth[l]
		for _, t := range l.inputs {
			if depth[t.layer] < d+1 {
				depth[t.layer] = d + 1
			}
		}
	}
	m.layers = append(m.layers, post...)
	sort.SliceStable(m.layers, func(i, j int) bool {
		a, b := m.layers[i], m.layers[j]
		if depth[a] != depth[b] {
			return depth[a] > depth[b]
		}
		return index[a] < index[b]
	})
	given := map[*Layer]bool{}
	for _, t := range m.inputs {
		given[t.layer] = true
	}
	count := map[int]int{}
	m.sequential = true
	for _, l := range m.layers {
		if _, ok := l.op.(inputOp); ok && !given[l] {
			return fmt.Errorf("graph disconnected: the outputs need input %q, which is not among the model's inputs", l.name)
		}
		m.byName[l.name] = l
		count[depth[l]]++
		if len(l.inputs) > 1 || count[depth[l]] > 1 {
			m.sequential = false
		}
	}
	for _, t := range m.inputs {
		if _, ok := index[t.layer]; !ok {
			return fmt.Errorf("input %q does not lead to any output", t.layer.name)
		}
	}
	return nil
}

// Name returns the model's name.
func (m *Model) Name() string { return m.name }

// Layers returns the layers in Keras' order (model.layers).
func (m *Model) Layers() []*Layer { return append([]*Layer(nil), m.layers...) }

// Layer returns the layer with the given name.
func (m *Model) Layer(name string) (*Layer, error) {
	l, ok := m.byName[name]
	if !ok {
		return nil, fmt.Errorf("model %q has no layer %q", m.name, name)
	}
	return l, nil
}

// Inputs returns the model's symbolic inputs.
func (m *Model) Inputs() []*Tensor { return append([]*Tensor(nil), m.inputs...) }

// Outputs returns the model's symbolic outputs.
func (m *Model) Outputs() []*Tensor { return append([]*Tensor(nil), m.outputs...) }

// NamedWeight is a weight with its full Keras name, "layer/weight".
type NamedWeight struct {
	Layer string
	Weight
}

// FullName returns "layer/weight", the key weights are stored and loaded by.
func (w NamedWeight) FullName() string { return w.Layer + "/" + w.Name }

// Weights lists every weight in Keras' order: layer by layer, and inside a
// layer trainable before non-trainable.
func (m *Model) Weights() []NamedWeight {
	var out []NamedWeight
	for _, l := range m.layers {
		for _, w := range l.Weights() {
			out = append(out, NamedWeight{Layer: l.name, Weight: w})
		}
	}
	return out
}

// ParamCounts returns the number of trainable and non-trainable values.
func (m *Model) ParamCounts() (trainable, nonTrainable int) {
	for _, l := range m.layers {
		for _, w := range l.weights {
			if w.Trainable && !l.frozen {
				trainable += w.Size()
			} else {
				nonTrainable += w.Size()
			}
		}
	}
	return trainable, nonTrainable
}

// CountParams is the total number of values in all weights, as Keras'
// model.count_params().
func (m *Model) CountParams() int {
	t, n := m.ParamCounts()
	return t + n
}

// MACs is the number of multiply-adds per example in the convolutions and
// dense layers, the measure the ResNet paper and torchvision quote as FLOPs.
// Batch normalisation, activations, additions and pooling are not counted
// (they add well under 1% for ResNets). Layers whose spatial size is
// unknown count as zero; ErrUnknownSize is returned with the partial sum.
func (m *Model) MACs() (int64, error) {
	var sum int64
	var err error
	for _, l := range m.layers {
		sum += l.macs
		if (l.class == "Conv2D" || l.class == "Dense") && !l.output.shape.Known() {
			err = ErrUnknownSize
		}
	}
	return sum, err
}

// ErrUnknownSize says a count could not be completed because the model was
// built with a free input size.
var ErrUnknownSize = errors.New("the input size is not fixed, so layers of unknown size were not counted")

// Features returns a model with the same inputs whose outputs are the named
// layers' outputs, sharing this model's layers and weights: Keras'
// Model(inputs=m.inputs, outputs=[m.get_layer(n).output for n in names]),
// for feature extraction.
func (m *Model) Features(names ...string) (*Model, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("model %q: Features needs at least one layer name", m.name)
	}
	outs := make([]*Tensor, len(names))
	for i, n := range names {
		l, err := m.Layer(n)
		if err != nil {
			return nil, err
		}
		outs[i] = l.output
	}
	return NewModel(m.name+"_features", m.inputs, outs)
}

package nn

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/resnet-go/resnet/tensor"
)

// values returns the layer's weight tensors, creating them the first time:
// those SetWeight was given before then as given, the others with Keras'
// default initialisers: glorot_uniform kernels, zero biases and betas,
// unit gammas, zero moving means and unit moving variances. The random
// numbers are seeded by the weight's name, so a model built twice starts
// from the same weights.
func (l *Layer) values() []*tensor.Tensor {
	l.once.Do(func() {
		l.vals = make([]*tensor.Tensor, len(l.weights))
		for i, w := range l.weights {
			if i < len(l.preset) && l.preset[i] != nil {
				l.vals[i] = l.preset[i]
				continue
			}
			t := tensor.New(w.Shape...)
			switch w.Name {
			case "kernel":
				glorotUniform(t, l.name+"/"+w.Name)
			case "gamma", "moving_variance":
				for j := range t.Data {
					t.Data[j] = 1
				}
			}
			l.vals[i] = t
		}
		l.preset = nil
		l.made.Store(true)
	})
	return l.vals
}

func glorotUniform(t *tensor.Tensor, name string) {
	s := t.Shape
	receptive := 1
	for _, d := range s[:len(s)-2] {
		receptive *= d
	}
	fanIn, fanOut := s[len(s)-2]*receptive, s[len(s)-1]*receptive
	limit := math.Sqrt(6 / float64(fanIn+fanOut))
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	for i := range t.Data {
		t.Data[i] = float32((2*r.Float64() - 1) * limit)
	}
}

// Weight returns the live tensor of a weight by its full name
// ("conv1_conv/kernel"); changing it changes the model.
func (m *Model) Weight(fullName string) (*tensor.Tensor, error) {
	if m.consumed {
		return nil, ErrConsumed
	}
	l, i, err := m.findWeight(fullName)
	if err != nil {
		return nil, err
	}
	return l.values()[i], nil
}

// SetWeight copies t into the named weight after checking its shape and
// that every value is finite.
func (m *Model) SetWeight(fullName string, t *tensor.Tensor) error {
	return m.setWeight(fullName, t, false)
}

// AdoptWeight is SetWeight for a tensor the caller gives up: where the
// weight has not been read yet, the model keeps t itself rather than a
// copy, so a loader does not hold every weight twice. The caller must not
// use t afterwards.
func (m *Model) AdoptWeight(fullName string, t *tensor.Tensor) error {
	return m.setWeight(fullName, t, true)
}

func (m *Model) setWeight(fullName string, t *tensor.Tensor, adopt bool) error {
	if m.consumed {
		return ErrConsumed
	}
	l, i, err := m.findWeight(fullName)
	if err != nil {
		return err
	}
	if want := l.weights[i].Shape; !Shape(t.Shape).Equal(want) {
		return fmt.Errorf("weight %s: shape %v does not match the model's %v", fullName, t.Shape, want)
	}
	if j := t.Finite(); j >= 0 {
		return fmt.Errorf("weight %s: value %d is %v", fullName, j, t.Data[j])
	}
	if l.made.Load() {
		copy(l.vals[i].Data, t.Data) // the live tensor: Weight's callers see the change
		return nil
	}
	// Kept for values to take: drawing random numbers for a weight about
	// to be overwritten took a fifth of loading ResNet-50.
	if !adopt {
		t = t.Clone()
	}
	if l.preset == nil {
		l.preset = make([]*tensor.Tensor, len(l.weights))
	}
	l.preset[i] = t
	return nil
}

func (m *Model) findWeight(fullName string) (*Layer, int, error) {
	for i := len(fullName) - 1; i >= 0; i-- {
		if fullName[i] != '/' {
			continue
		}
		l, ok := m.byName[fullName[:i]]
		if !ok {
			break
		}
		for j, w := range l.weights {
			if w.Name == fullName[i+1:] {
				return l, j, nil
			}
		}
		break
	}
	return nil, 0, fmt.Errorf("model %q has no weight %q", m.name, fullName)
}

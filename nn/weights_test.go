package nn

import (
	"math"
	"slices"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

// weightModel is one 3x3 convolution with a bias: weights "c/kernel" and
// "c/bias".
func weightModel(t *testing.T) *Model {
	t.Helper()
	x := Input(Shape{5, 5, 2})
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{Conv2D(x, 3, 3, Name("c"))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func constTensor(v float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// A weight set before the model's weights exist is taken as given (a copy
// by SetWeight, the tensor itself by AdoptWeight) and its layer's other
// weights still get their defaults; once they exist, both write into the
// live tensor that Weight returned.
func TestSetWeightBeforeAndAfterUse(t *testing.T) {
	fresh := weightModel(t)
	defKernel, _ := fresh.Weight("c/kernel")
	for _, adopt := range []bool{false, true} {
		m := weightModel(t)
		set := m.SetWeight
		if adopt {
			set = m.AdoptWeight
		}
		bias := constTensor(0.5, 3)
		if err := set("c/bias", bias); err != nil {
			t.Fatal(err)
		}
		bias.Data[0] = 9 // the caller's tensor changes after the call
		got, _ := m.Weight("c/bias")
		if want := float32(0.5); !adopt && got.Data[0] != want {
			t.Errorf("SetWeight kept the caller's tensor: bias[0] = %v, want %v", got.Data[0], want)
		}
		if adopt && got != bias {
			t.Error("AdoptWeight copied the tensor instead of keeping it")
		}
		kernel, _ := m.Weight("c/kernel")
		if !slices.Equal(kernel.Data, defKernel.Data) {
			t.Error("the kernel, never set, lost its default initialisation")
		}
		if err := set("c/kernel", constTensor(2, 3, 3, 2, 3)); err != nil {
			t.Fatal(err)
		}
		if kernel.Data[7] != 2 {
			t.Errorf("setting a weight already in use left its live tensor at %v", kernel.Data[7])
		}
	}
}

// Bad tensors are refused, by name, before anything changes.
func TestSetWeightRefuses(t *testing.T) {
	m := weightModel(t)
	nan := constTensor(1, 3)
	nan.Data[1] = float32(math.NaN())
	for _, tc := range []struct {
		name string
		t    *tensor.Tensor
	}{
		{"c/bias", constTensor(1, 4)},
		{"c/bias", nan},
		{"c/gamma", constTensor(1, 3)},
	} {
		if err := m.AdoptWeight(tc.name, tc.t); err == nil {
			t.Errorf("%s %v: accepted", tc.name, tc.t.Shape)
		}
	}
	if b, _ := m.Weight("c/bias"); slices.ContainsFunc(b.Data, func(v float32) bool { return v != 0 }) {
		t.Errorf("a refused tensor changed the bias: %v", b.Data)
	}
}

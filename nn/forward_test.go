package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

func run(t *testing.T, in *Tensor, out *Tensor, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	m, err := NewModel("m", []*Tensor{in}, []*Tensor{out})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	return y[0]
}

func ramp(shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 2.5
	}
	return x
}

func setAll(t *testing.T, l *Layer, fill func(name string, i int) float32) {
	t.Helper()
	for wi, w := range l.weights {
		v := l.values()[wi]
		for i := range v.Data {
			v.Data[i] = fill(w.Name, i)
		}
	}
}

// TensorFlow's "same" pads a strided convolution on the bottom and right:
// it equals explicit (0, 1, 0, 1) padding and a "valid" convolution.
func TestSamePaddingIsAsymmetric(t *testing.T) {
	x := Input(Shape{6, 6, 2})
	a := Conv2D(x, 3, 3, Strides(2), Padding("same"), Name("a"))
	b := Conv2D(ZeroPadding2D(x, 0, Pads(0, 1, 0, 1)), 3, 3, Strides(2), Name("b"))
	fill := func(name string, i int) float32 { return float32(i%5) - 1.5 }
	setAll(t, a.Layer(), fill)
	setAll(t, b.Layer(), fill)
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Predict(ramp(2, 6, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := tensor.MaxAbsDiff(y[0], y[1]); d != 0 || len(y[0].Data) != 2*3*3*3 {
		t.Errorf("same != pad(0,1,0,1)+valid: diff %g, shape %v", d, y[0].Shape)
	}
}

func TestConvByHand(t *testing.T) {
	// 1x3x3x1 input 1..9, 2x2 kernel of ones, dilation 2 "valid": one
	// output, the sum of the corners 1+3+7+9.
	x := Input(Shape{3, 3, 1})
	y := Conv2D(x, 1, 2, Dilation(2), UseBias(false))
	setAll(t, y.Layer(), func(string, int) float32 { return 1 })
	in, _ := tensor.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3, 1)
	if got := run(t, x, y, in); len(got.Data) != 1 || got.Data[0] != 20 {
		t.Errorf("dilated conv = %v, want [20]", got.Data)
	}
	// Grouped: 2 groups of one channel each; output channel g sees only
	// input channel g.
	x = Input(Shape{1, 1, 2})
	y = Conv2D(x, 2, 1, Groups(2), UseBias(false))
	setAll(t, y.Layer(), func(_ string, i int) float32 { return float32(10 * (i + 1)) }) // kernel (1,1,1,2) = [10, 20]
	in, _ = tensor.FromData([]float32{3, 5}, 1, 1, 1, 2)
	if got := run(t, x, y, in); got.Data[0] != 30 || got.Data[1] != 100 {
		t.Errorf("grouped conv = %v, want [30 100]", got.Data)
	}
}

func TestPoolingByHand(t *testing.T) {
	in, _ := tensor.FromData([]float32{-1, -2, -3, -4, -5, -6, -7, -8, -9}, 1, 3, 3, 1)
	x := Input(Shape{3, 3, 1})
	// "same" 2x2 stride 2 average: windows are cut at the border and
	// average only the pixels inside.
	avg := run(t, x, AveragePooling2D(x, 2, Padding("same")), in)
	want := []float32{-3, -4.5, -7.5, -9}
	for i := range want {
		if avg.Data[i] != want[i] {
			t.Fatalf("avg pool = %v, want %v", avg.Data, want)
		}
	}
	// Max pooling never sees the padding, even when every pixel is negative.
	mx := run(t, x, MaxPooling2D(x, 2, Padding("same")), in)
	want = []float32{-1, -3, -7, -9}
	for i := range want {
		if mx.Data[i] != want[i] {
			t.Fatalf("max pool = %v, want %v", mx.Data, want)
		}
	}
	g := run(t, x, GlobalMaxPooling2D(x), in)
	if g.Data[0] != -1 {
		t.Errorf("global max = %v", g.Data)
	}
}

func TestSoftmaxStable(t *testing.T) {
	x := Input(Shape{3})
	in, _ := tensor.FromData([]float32{1000, 1001, 1002, -5, 0, 5}, 2, 3)
	y := run(t, x, Activation(x, "softmax"), in)
	for r := 0; r < 2; r++ {
		sum := 0.0
		for _, v := range y.Data[r*3 : r*3+3] {
			if math.IsNaN(float64(v)) {
				t.Fatalf("softmax gave NaN: %v", y.Data)
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("row %d sums to %v", r, sum)
		}
	}
	if math.Abs(float64(y.Data[2])-0.66524096) > 1e-6 {
		t.Errorf("softmax(1000,1001,1002)[2] = %v", y.Data[2])
	}
}

func TestBatchNormByHand(t *testing.T) {
	x := Input(Shape{2})
	y := BatchNormalization(x, Epsilon(0.25))
	vals := map[string][]float32{"gamma": {2, 1}, "beta": {1, 0}, "moving_mean": {3, 0}, "moving_variance": {4, 0}}
	setAll(t, y.Layer(), func(name string, i int) float32 { return vals[name][i] })
	in, _ := tensor.FromData([]float32{4, 1}, 1, 2)
	got := run(t, x, y, in)
	// (4-3)/sqrt(4.25)*2+1 and 1/sqrt(0.25)
	if math.Abs(float64(got.Data[0])-(2/math.Sqrt(4.25)+1)) > 1e-6 || got.Data[1] != 2 {
		t.Errorf("batch norm = %v", got.Data)
	}
}

// Each example of a batch comes out as it would alone.
func TestBatchIndependence(t *testing.T) {
	x := Input(Shape{8, 8, 3})
	y := Conv2D(x, 4, 3, Padding("same"))
	y = BatchNormalization(y)
	y = Activation(y, "relu")
	y = Dense(GlobalAveragePooling2D(y), 3, WithActivation("softmax"))
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{y})
	if err != nil {
		t.Fatal(err)
	}
	batch := ramp(3, 8, 8, 3)
	all, err := m.Predict(batch)
	if err != nil {
		t.Fatal(err)
	}
	per := 8 * 8 * 3
	for i := 0; i < 3; i++ {
		one, _ := tensor.FromData(batch.Data[i*per:(i+1)*per], 1, 8, 8, 3)
		got, err := m.Predict(one)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got[0].Data {
			if got[0].Data[j] != all[0].Data[i*3+j] {
				t.Fatalf("example %d differs alone", i)
			}
		}
	}
}

func TestPredictInputErrors(t *testing.T) {
	x := Input(Shape{4, 4, 3}, Name("image"))
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{GlobalAveragePooling2D(x)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   *tensor.Tensor
		want string
	}{
		{nil, "nil"},
		{tensor.New(4, 4, 3), "rank 4"},
		{tensor.New(1, 4, 5, 3), "want a batch of"},
		{&tensor.Tensor{Shape: []int{1, 4, 4, 3}, Data: make([]float32, 5)}, "does not match"},
		{tensor.New(0, 4, 4, 3), "batch size 0"},
	}
	for _, tt := range tests {
		_, err := m.Predict(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"image"`) {
			t.Errorf("input %v: error %v, want one naming the input and containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := m.Predict(); err == nil {
		t.Error("no inputs accepted")
	}
}

func TestFeatures(t *testing.T) {
	x := Input(Shape{4, 4, 2})
	a := Conv2D(x, 3, 1, Name("a"))
	b := Activation(a, "relu", Name("b"))
	y := GlobalAveragePooling2D(b, Name("gap"))
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{y})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Features("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Predict(ramp(1, 4, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || !out[0].SameShape(tensor.New(1, 4, 4, 3)) {
		t.Fatalf("features %v", out)
	}
	for i, v := range out[0].Data {
		if want := max(v, 0); out[1].Data[i] != want {
			t.Fatalf("b is not relu(a)")
		}
	}
	if _, err := m.Features("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown layer: %v", err)
	}
}

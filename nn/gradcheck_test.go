package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

// gradCheck compares Backward with central differences of the loss
// sum(output * r) for the input and every trainable weight.
func gradCheck(t *testing.T, name string, m *Model, x *tensor.Tensor) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, w := range m.Weights() {
		v, _ := m.Weight(w.FullName())
		for i := range v.Data {
			switch w.Name {
			case "moving_variance", "gamma":
				v.Data[i] = float32(0.5 + rng.Float64())
			default:
				v.Data[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
	}
	_, outs, err := m.ForwardTrain(x)
	if err != nil {
		t.Fatal(err)
	}
	r := tensor.New(outs[0].Shape...)
	for i := range r.Data {
		r.Data[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		_, o, err := m.ForwardTrain(x)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range o[0].Data {
			s += float64(v) * float64(r.Data[i])
		}
		return s
	}
	m.ZeroGrads()
	tape, _, _ := m.ForwardTrain(x)
	if err := tape.Backward([]*tensor.Tensor{r}, false); err != nil {
		t.Fatal(err)
	}
	check := func(what string, vals, grad []float32) {
		for _, i := range []int{0, len(vals) / 3, len(vals) / 2, len(vals) - 1} {
			const h = 2e-3
			old := vals[i]
			vals[i] = old + h
			up := loss()
			vals[i] = old - h
			down := loss()
			vals[i] = old
			num := (up - down) / (2 * h)
			if d := math.Abs(num - float64(grad[i])); d > 2e-2*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: d/d %s[%d]: backward %v, numeric %v", name, what, i, grad[i], num)
			}
		}
	}
	check("input", x.Data, tape.InputGrads()[0].Data)
	for _, p := range m.Params() {
		check(p.Name, p.Value.Data, p.Grad.Data)
	}
}

func smooth(shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	rng := rand.New(rand.NewPCG(1, 9))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestGradients(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		opts  []Option
		build func(x *Tensor) *Tensor
	}{
		{"conv", Shape{6, 5, 3}, nil, func(x *Tensor) *Tensor { return Conv2D(x, 4, 3) }},
		{"conv strided same", Shape{6, 6, 3}, nil, func(x *Tensor) *Tensor { return Conv2D(x, 4, 3, Strides(2), Padding("same")) }},
		{"conv dilated", Shape{7, 7, 2}, nil, func(x *Tensor) *Tensor { return Conv2D(x, 3, 3, Dilation(2)) }},
		{"conv grouped", Shape{5, 5, 4}, nil, func(x *Tensor) *Tensor { return Conv2D(x, 6, 3, Groups(2), UseBias(false)) }},
		{"conv 1x1", Shape{4, 4, 5}, nil, func(x *Tensor) *Tensor { return Conv2D(x, 3, 1) }},
		{"batchnorm", Shape{4, 4, 3}, nil, func(x *Tensor) *Tensor { return BatchNormalization(x) }},
		{"relu", Shape{4, 4, 3}, nil, func(x *Tensor) *Tensor { return Activation(Conv2D(x, 2, 1), "relu") }},
		{"sigmoid tanh", Shape{3, 3, 2}, nil, func(x *Tensor) *Tensor { return Activation(Activation(x, "sigmoid"), "tanh") }},
		{"softmax", Shape{5}, nil, func(x *Tensor) *Tensor { return Activation(x, "softmax") }},
		{"add", Shape{4, 4, 2}, nil, func(x *Tensor) *Tensor { return Add([]*Tensor{x, Conv2D(x, 2, 1), x}) }},
		{"residual end", Shape{4, 4, 3}, nil, residualEndOf},
		{"maxpool", Shape{6, 6, 2}, nil, func(x *Tensor) *Tensor { return MaxPooling2D(x, 3, Strides(2), Padding("same")) }},
		{"avgpool", Shape{5, 5, 2}, nil, func(x *Tensor) *Tensor { return AveragePooling2D(x, 2, Padding("same")) }},
		{"global avg", Shape{3, 4, 2}, nil, func(x *Tensor) *Tensor { return GlobalAveragePooling2D(x) }},
		{"global max", Shape{3, 4, 2}, nil, func(x *Tensor) *Tensor { return GlobalMaxPooling2D(x) }},
		{"dense softmax", Shape{6}, nil, func(x *Tensor) *Tensor { return Dense(x, 4, WithActivation("softmax")) }},
		{"flatten dense", Shape{3, 2, 2}, nil, func(x *Tensor) *Tensor { return Dense(Flatten(x), 3) }},
		{"zero padding", Shape{3, 3, 2}, nil, func(x *Tensor) *Tensor { return Conv2D(ZeroPadding2D(x, 0, Pads(1, 0, 2, 1)), 2, 2) }},
		{"zero padding strided", Shape{6, 6, 3}, nil, func(x *Tensor) *Tensor { return Conv2D(ZeroPadding2D(x, 1), 4, 3, Strides(2)) }},
		{"zero padding read twice", Shape{4, 4, 2}, nil, func(x *Tensor) *Tensor {
			p := ZeroPadding2D(x, 1)
			return Add([]*Tensor{Conv2D(p, 2, 3), Conv2D(p, 2, 3)})
		}},
		{"padded identity", Shape{5, 5, 2}, nil, func(x *Tensor) *Tensor { return PaddedIdentity(x, 6, 2) }},
		{"channels first", Shape{2, 5, 4}, []Option{Format(ChannelsFirst)}, func(x *Tensor) *Tensor {
			return Dense(Flatten(BatchNormalization(Conv2D(x, 3, 3, Padding("same")))), 2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Input(tt.shape, tt.opts...)
			m, err := NewModel(tt.name, []*Tensor{x}, []*Tensor{tt.build(x)})
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, tt.name, m, smooth(append([]int{3}, tt.shape...)...))
		})
	}
}

// residualEndOf is a residual block's end, BatchNorm, Add and ReLU, which
// ForwardTrain runs in one pass (channels last).
func residualEndOf(x *Tensor) *Tensor {
	return Activation(Add([]*Tensor{x, BatchNormalization(Conv2D(x, 3, 1))}), "relu")
}

// A frozen layer gets no gradient but still passes one on; a frozen
// BatchNormalization uses its moving statistics and leaves them alone.
func TestFrozen(t *testing.T) {
	x := Input(Shape{4, 4, 2})
	c := Conv2D(x, 3, 3, Padding("same"), Name("conv"))
	b := BatchNormalization(c, Name("bn"))
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{GlobalAveragePooling2D(b)})
	if err != nil {
		t.Fatal(err)
	}
	c.Layer().SetFrozen(true)
	b.Layer().SetFrozen(true)
	if tr, _ := m.ParamCounts(); tr != 0 || len(m.Params()) != 0 {
		t.Errorf("frozen model has %d trainable values, %d params", tr, len(m.Params()))
	}
	mv, _ := m.Weight("bn/moving_mean")
	before := append([]float32(nil), mv.Data...)
	in := smooth(2, 4, 4, 2)
	tape, out, err := m.ForwardTrain(in)
	if err != nil {
		t.Fatal(err)
	}
	inf, _ := m.Predict(in)
	if d, _, _ := tensor.MaxAbsDiff(out[0], inf[0]); d != 0 {
		t.Errorf("frozen BatchNorm trains differently from inference (%g)", d)
	}
	if err := tape.Backward([]*tensor.Tensor{tensor.New(2, 3)}, false); err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if mv.Data[i] != before[i] {
			t.Fatal("a frozen BatchNorm updated its moving mean")
		}
	}
}

// Keras' momentum: moving = m*moving + (1-m)*batch; torch's Bessel-corrected
// variance with BesselCorrection.
func TestMovingAverages(t *testing.T) {
	for _, bessel := range []bool{false, true} {
		x := Input(Shape{1})
		y := BatchNormalization(x, Momentum(0.9), BesselCorrection(bessel), Name("bn"))
		m, _ := NewModel("m", []*Tensor{x}, []*Tensor{y})
		in, _ := tensor.FromData([]float32{1, 2, 3, 6}, 4, 1) // mean 3, biased var 3.5, unbiased 14/3
		if _, _, err := m.ForwardTrain(in); err != nil {
			t.Fatal(err)
		}
		mean, _ := m.Weight("bn/moving_mean")
		vr, _ := m.Weight("bn/moving_variance")
		wantVar := 0.9 + 0.1*3.5
		if bessel {
			wantVar = 0.9 + 0.1*14.0/3
		}
		if math.Abs(float64(mean.Data[0])-0.3) > 1e-6 || math.Abs(float64(vr.Data[0])-wantVar) > 1e-6 {
			t.Errorf("bessel=%v: moving mean %v, variance %v; want 0.3, %v", bessel, mean.Data[0], vr.Data[0], wantVar)
		}
	}
}

// Training BatchNormalization's batch statistics hold where a channel's
// spread is far below its mean and where the first row is far from the
// rest, against statistics computed in float64 from the same values: the
// moving mean and variance (momentum 0: the batch's) within 1e-6, and the
// normalized output within what its float32 arithmetic allows (x*scale +
// shift, each term |mean|/spread times one; 1e-5 for the standard case).
func TestBatchStatistics(t *testing.T) {
	const rows, c = 999, 32
	for _, tc := range []struct {
		name         string
		mean, spread float64
		outlier      float64 // added to the first row, in spreads
	}{
		{"standard", 0, 1, 0},
		{"far from zero", 1e4, 0.1, 0},
		{"tiny spread", -3, 1e-4, 0},
		{"first row far out", 5, 2, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := Input(Shape{c})
			m, _ := NewModel("m", []*Tensor{x}, []*Tensor{BatchNormalization(x, Momentum(0), Epsilon(1e-12), Name("bn"))})
			in := tensor.New(rows, c)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range in.Data {
				v := tc.mean + tc.spread*rng.NormFloat64()
				if i < c {
					v += tc.outlier * tc.spread
				}
				in.Data[i] = float32(v)
			}
			_, outs, err := m.ForwardTrain(in)
			if err != nil {
				t.Fatal(err)
			}
			mm, _ := m.Weight("bn/moving_mean")
			mv, _ := m.Weight("bn/moving_variance")
			outTol := 1e-5 + 4e-7*math.Abs(tc.mean)/tc.spread
			for ch := 0; ch < c; ch++ {
				var sum, sq float64
				for r := 0; r < rows; r++ {
					sum += float64(in.Data[r*c+ch])
				}
				mean := sum / rows
				for r := 0; r < rows; r++ {
					d := float64(in.Data[r*c+ch]) - mean
					sq += d * d
				}
				v := sq / rows
				if got := float64(mm.Data[ch]); math.Abs(got-mean) > 1e-6*math.Abs(mean)+1e-7 {
					t.Fatalf("channel %d: moving mean %v, want %v", ch, got, mean)
				}
				if got := float64(mv.Data[ch]); math.Abs(got-v) > 1e-6*v {
					t.Fatalf("channel %d: moving variance %v, want %v", ch, got, v)
				}
				for r := 0; r < rows; r++ {
					want := (float64(in.Data[r*c+ch]) - mean) / math.Sqrt(v+1e-12)
					if got := float64(outs[0].Data[r*c+ch]); math.Abs(got-want) > outTol {
						t.Fatalf("channel %d, row %d: %v, want %v", ch, r, got, want)
					}
				}
			}
		})
	}
}

// SkipInputGrads leaves the input's gradient out and every weight's
// gradient as it was, for an input read by a convolution directly, through
// a padding folded into one, and by other layers.
func TestSkipInputGrads(t *testing.T) {
	x := Input(Shape{6, 6, 3})
	y := Add([]*Tensor{Conv2D(x, 4, 3, Padding("same")), Conv2D(ZeroPadding2D(x, 1), 4, 3), Conv2D(x, 4, 1)})
	m, err := NewModel("m", []*Tensor{x}, []*Tensor{Dense(Flatten(y), 2)})
	if err != nil {
		t.Fatal(err)
	}
	in, r := smooth(2, 6, 6, 3), smooth(2, 2)
	grads := func(skip bool) (input *tensor.Tensor, ws [][]float32) {
		m.ZeroGrads()
		tape, _, err := m.ForwardTrain(in)
		if err != nil {
			t.Fatal(err)
		}
		if skip {
			tape.SkipInputGrads()
		}
		if err := tape.Backward([]*tensor.Tensor{r}, false); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params() {
			ws = append(ws, append([]float32(nil), p.Grad.Data...))
		}
		return tape.InputGrads()[0], ws
	}
	full, want := grads(false)
	skipped, got := grads(true)
	if full == nil || skipped != nil {
		t.Fatalf("input gradients %v (all) and %v (skipped), want one and nil", full != nil, skipped != nil)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("%s[%d]: %v with the input's gradient skipped, %v without", m.Params()[i].Name, j, got[i][j], want[i][j])
			}
		}
	}
}

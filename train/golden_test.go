package train

import (
	"math"
	"strings"
	"testing"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/internal/goldens"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

// torchLayout turns a Keras-layout tensor into torch's layout.
func torchLayout(t *tensor.Tensor) *tensor.Tensor {
	switch len(t.Shape) {
	case 4:
		t, _ = t.Transpose(3, 2, 0, 1)
	case 2:
		t, _ = t.Transpose(1, 0)
	}
	return t
}

// compare checks a tensor against a golden entry stored whole or as
// (sum, sum of squares), returning the relative error in the L2 norm. (A
// max-norm error is dominated by single ReLU or max-pool switches: in
// ResNet-18 a 1e-6 relative change of the input moves conv1's gradient by
// 5e-3 in the max norm.)
func compare(got *tensor.Tensor, want *tensor.Tensor) float64 {
	if len(want.Data) == 2 && len(got.Data) != 2 {
		var s, q float64
		for _, v := range got.Data {
			s += float64(v)
			q += float64(v) * float64(v)
		}
		scale := math.Sqrt(float64(want.Data[1])) + 1e-12
		// Sums of many terms: judge them by the tensor's norm.
		return math.Max(math.Abs(s-float64(want.Data[0]))/(scale*math.Sqrt(float64(len(got.Data)))), math.Abs(math.Sqrt(q)-math.Sqrt(float64(want.Data[1])))/scale)
	}
	if len(got.Data) != len(want.Data) {
		return math.Inf(1)
	}
	var d, n float64
	for i, v := range want.Data {
		e := float64(got.Data[i]) - float64(v)
		d += e * e
		n += float64(v) * float64(v)
	}
	return math.Sqrt(d / (n + 1e-30))
}

// One training step in PyTorch and here, from the same weights and batch:
// the same loss, gradients, weights and BatchNorm statistics after two SGD
// steps with momentum and weight decay. ResNeXt-50's golden holds one
// step's gradients in float64, and each tensor's error in PyTorch's own
// float32 step ("tol/"): from these weights float32 itself is 1-3% off on
// some gradients, so ours may be off twice as far as PyTorch's, or 3e-3
// where PyTorch's happened closer (a wrong group, say, is off by O(1)).
func TestTrainingStepMatchesPyTorch(t *testing.T) {
	for _, arch := range []string{"resnet20", "resnet18", "resnext50_32x4d"} {
		t.Run(arch, func(t *testing.T) {
			g, err := weights.ReadSafetensors(goldens.Path("..", "train_"+arch))
			if err != nil {
				t.Fatal(err)
			}
			x := g.Tensors["input"]
			m, err := resnet.New(arch, resnet.WithFlavor(resnet.Torch), resnet.Classes(10), resnet.InputShape(x.Shape[1], x.Shape[2], 3),
				resnet.ClassifierActivation("linear"))
			if err != nil {
				t.Fatal(err)
			}
			if err := goldens.TorchWeights(m); err != nil {
				t.Fatal(err)
			}
			labels := make([]int, len(g.Tensors["labels"].Data))
			for i, v := range g.Tensors["labels"].Data {
				labels[i] = int(v)
			}
			opt := &SGD{Momentum: 0.9, WeightDecay: 5e-4}
			worst := 0.0
			steps := 2
			if _, ok := g.Tensors["loss1"]; !ok {
				steps = 1 // gradients only
			}
			for step := 0; step < steps; step++ {
				m.ZeroGrads()
				tape, out, err := m.ForwardTrain(x)
				if err != nil {
					t.Fatal(err)
				}
				loss, grad, err := CrossEntropy(out[0], labels, 0, true)
				if err != nil {
					t.Fatal(err)
				}
				want := float64(g.Tensors["loss"+string(rune('0'+step))].Data[0])
				t.Logf("step %d: loss %.6f, PyTorch %.6f", step, loss, want)
				if math.Abs(loss-want) > 1e-4*math.Max(1, want) {
					t.Errorf("step %d: loss %v, PyTorch %v", step, loss, want)
				}
				if err := tape.Backward([]*tensor.Tensor{grad}, false); err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					for _, p := range m.Params() {
						key, _ := weights.TorchName(p.Name)
						e := compare(torchLayout(p.Grad), g.Tensors["grad/"+key])
						worst = math.Max(worst, e)
						tol := 1e-3
						if pt, ok := g.Tensors["tol/"+key]; ok { // against float64
							tol = math.Max(3e-3, 2*float64(pt.Data[0]))
						}
						if testing.Verbose() {
							t.Logf("grad %s %.2g (allowed %.2g)", p.Name, e, tol)
						}
						if e > tol {
							t.Errorf("gradient of %s (%s): relative error %.2g, allowed %.2g", p.Name, key, e, tol)
						}
					}
					t.Logf("largest relative gradient error %.2g over %d tensors", worst, len(m.Params()))
				}
				opt.Step(m.Params(), 0.02)
			}
			worst = 0
			for name, want := range g.Tensors {
				key, ok := strings.CutPrefix(name, "after/")
				if !ok {
					continue
				}
				kn, err := weights.KerasName(key)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Weight(kn)
				if err != nil {
					t.Fatal(err)
				}
				e := compare(torchLayout(got), want)
				worst = math.Max(worst, e)
				if e > 1e-3 {
					t.Errorf("%s after two steps: relative error %.2g", kn, e)
				}
			}
			if steps == 2 {
				t.Logf("largest relative error of weights and statistics after two steps %.2g", worst)
			}
		})
	}
}

var _ = nn.Keras2

package nn_test

import (
	"fmt"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// A residual block written with the functional API. Layers come in Keras'
// order; m.Summary(os.Stdout, nn.Keras2) prints Keras' table.
func ExampleNewModel() {
	x := nn.Input(nn.Shape{8, 8, 16}, nn.Name("image"))
	y := nn.Conv2D(x, 16, 3, nn.Padding("same"), nn.UseBias(false), nn.Name("conv"))
	y = nn.BatchNormalization(y, nn.Name("bn"))
	y = nn.Add([]*nn.Tensor{x, y}, nn.Name("add"))
	y = nn.Activation(y, "relu", nn.Name("out"))
	m, err := nn.NewModel("block", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range m.Layers() {
		fmt.Println(l.Name(), l.Class(), l.OutputShape(), l.CountParams())
	}
	macs, _ := m.MACs()
	fmt.Println("MACs:", macs)
	// Output:
	// image InputLayer (None, 8, 8, 16) 0
	// conv Conv2D (None, 8, 8, 16) 2304
	// bn BatchNormalization (None, 8, 8, 16) 64
	// add Add (None, 8, 8, 16) 0
	// out Activation (None, 8, 8, 16) 0
	// MACs: 147456
}

// A compiled plan runs the model for inference; Profile times its steps.
// BatchNorm and ReLU are folded into the convolution before them, so the
// block below runs as one step.
func ExamplePlan_Profile() {
	x := nn.Input(nn.Shape{16, 16, 8}, nn.Name("image"))
	y := nn.Conv2D(x, 8, 3, nn.Padding("same"), nn.UseBias(false), nn.Name("conv"))
	y = nn.BatchNormalization(y, nn.Name("bn"))
	y = nn.Activation(y, "relu", nn.Name("relu"))
	m, err := nn.NewModel("block", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := m.Compile(nn.NoWinograd())
	if err != nil {
		fmt.Println(err)
		return
	}
	steps, err := plan.Profile(tensor.New(1, 16, 16, 8))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range steps {
		fmt.Println(s.Layer, s.What, s.FLOPs) // 16x16x8 outputs, 3x3x8 multiply-adds each
	}
	// Output:
	// conv conv 3x3/1 ->8 +relu 294912
}

// Training with ReuseBuffers: each step takes the previous step's buffers
// back, so a step's tensors (outputs, tape, gradients) are valid until the
// next ForwardTrain. The train package's Trainer does this itself.
func ExampleModel_ReuseBuffers() {
	x := nn.Input(nn.Shape{4}, nn.Name("x"))
	y := nn.Dense(x, 2, nn.Name("dense"))
	m, err := nn.NewModel("tiny", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		fmt.Println(err)
		return
	}
	m.ReuseBuffers(true)
	in := tensor.New(3, 4)
	for step := 0; step < 2; step++ {
		m.ZeroGrads()
		tape, out, err := m.ForwardTrain(in)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := tape.Backward(out, false); err != nil { // d(sum of squares)/2
			fmt.Println(err)
			return
		}
		fmt.Println("step", step, "output", out[0].Shape)
	}
	// Output:
	// step 0 output [3 2]
	// step 1 output [3 2]
}

// Gradients for training only: SkipInputGrads before Backward leaves out
// the gradient of the model's input, which an optimizer never reads.
func ExampleTape_SkipInputGrads() {
	x := nn.Input(nn.Shape{6, 6, 3}, nn.Name("x"))
	y := nn.Conv2D(x, 4, 3, nn.Name("conv"))
	m, err := nn.NewModel("tiny", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := tensor.New(2, 6, 6, 3)
	in.Data[0] = 1
	tape, out, err := m.ForwardTrain(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	tape.SkipInputGrads()
	if err := tape.Backward(out, false); err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range m.Params() {
		fmt.Println(p.Name, p.Grad.Shape)
	}
	fmt.Println("input gradient:", tape.InputGrads()[0] != nil)
	// Output:
	// conv/kernel [3 3 3 4]
	// conv/bias [4]
	// input gradient: false
}

// A loader that decodes weights into fresh tensors hands them over with
// AdoptWeight: the model keeps them rather than copies, and never draws
// the random initial values they replace. SetWeight copies instead, for a
// caller that keeps its tensor.
func ExampleModel_AdoptWeight() {
	x := nn.Input(nn.Shape{4}, nn.Name("features"))
	m, err := nn.NewModel("linear", []*nn.Tensor{x}, []*nn.Tensor{nn.Dense(x, 2, nn.Name("fc"))})
	if err != nil {
		fmt.Println(err)
		return
	}
	kernel, _ := tensor.FromData([]float32{1, 0, 0, 1, 1, 0, 0, 1}, 4, 2)
	bias, _ := tensor.FromData([]float32{0.5, -0.5}, 2)
	if err := m.AdoptWeight("fc/kernel", kernel); err != nil {
		fmt.Println(err)
		return
	}
	if err := m.AdoptWeight("fc/bias", bias); err != nil {
		fmt.Println(err)
		return
	}
	in, _ := tensor.FromData([]float32{1, 2, 3, 4}, 1, 4)
	out, _ := m.Predict(in)
	fmt.Println(out[0].Data)
	// A wrong shape is refused by name.
	fmt.Println(m.AdoptWeight("fc/bias", tensor.New(3)))
	// Output:
	// [4.5 5.5]
	// weight fc/bias: shape [3] does not match the model's [2]
}

package nn_test

import (
	"fmt"

	"github.com/resnet-go/resnet/nn"
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

package train_test

import (
	"fmt"

	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/train"
)

// The loss of two examples from their logits, and the gradient that
// Backward then takes: softmax minus the target, over the batch size.
func ExampleCrossEntropy() {
	logits, _ := tensor.FromData([]float32{2, 0, 0, 0, 0, 2}, 2, 3)
	loss, grad, err := train.CrossEntropy(logits, []int{0, 2}, 0, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loss %.4f, d/dz of example 0: %.4f %.4f %.4f\n", loss, grad.Data[0], grad.Data[1], grad.Data[2])
	// Output: loss 0.2395, d/dz of example 0: -0.1065 0.0533 0.0533
}

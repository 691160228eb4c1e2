// Package goldens loads the PyTorch golden files of tools/goldens.py and
// tools/train_goldens.py for tests: the generated weights a torch-flavour
// model starts from, and the stored tensors under their Keras names.
package goldens

import (
	"github.com/resnet-go/resnet/internal/testgen"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

// TorchWeights fills m with the generated weights the goldens were made
// with, going through the torchvision importer as a real state dict would.
func TorchWeights(m *nn.Model) error {
	sd := map[string]*tensor.Tensor{}
	for _, w := range m.Weights() {
		key, err := weights.TorchName(w.FullName())
		if err != nil {
			return err
		}
		shape := w.Shape
		switch len(shape) {
		case 4:
			shape = []int{shape[3], shape[2], shape[0], shape[1]}
		case 2:
			shape = []int{shape[1], shape[0]}
		}
		sd[key] = testgen.Torch(key, shape...)
	}
	kw, err := weights.FromTorch(sd)
	if err != nil {
		return err
	}
	return weights.Apply(m, kw)
}

// Path is the golden file of the given name.
func Path(root, name string) string { return root + "/testdata/golden/" + name + ".safetensors" }

package data_test

import (
	"fmt"

	"github.com/resnet-go/resnet/data"
)

// Batches of a dataset, shuffled by a seed and augmented; the same seed and
// epoch always give the same batches.
func ExampleLoader() {
	ds := &data.Memory{H: 2, W: 2, C: 1, Pixels: make([]byte, 10*4), Labels: []int{0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, Names: []string{"a", "b"}}
	loader := &data.Loader{Data: ds, Batch: 4, Shuffle: true, Seed: 1, Augment: []data.Augment{data.Flip()}}
	it := loader.Epoch(0)
	defer it.Close()
	for {
		b, err := it.Next()
		if err != nil || b == nil {
			break
		}
		fmt.Println(b.X.Shape, len(b.Labels))
	}
	// Output:
	// [4 2 2 1] 4
	// [4 2 2 1] 4
	// [2 2 2 1] 2
}

// ImageNet-style training input: a random crop of 8% to all of each image
// resized to 224x224, a random flip, and torchvision's per-channel
// normalization.
func ExampleRandomResizedCrop() {
	ds := &data.Memory{H: 300, W: 400, C: 3, Pixels: make([]byte, 2*300*400*3), Labels: []int{0, 1}, Names: []string{"a", "b"}}
	loader := &data.Loader{Data: ds, Batch: 2, Seed: 1, Augment: []data.Augment{
		data.RandomResizedCrop(224, 224, 0.08),
		data.Flip(),
		data.Normalize([]float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}),
	}}
	it := loader.Epoch(0)
	defer it.Close()
	b, err := it.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.X.Shape, b.X.Data[0])
	// Output: [2 224 224 3] -2.117904
}

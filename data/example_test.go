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

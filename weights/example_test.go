package weights_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/weights"
)

// A checkpoint carries the architecture: Load rebuilds the model from the
// file alone.
func ExampleLoad() {
	m, err := resnet.ResNet20()
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "resnet20.safetensors")
	if err := weights.Save(path, m, map[string]string{weights.MetaPreprocess: "tf"}); err != nil {
		fmt.Println(err)
		return
	}
	back, meta, err := weights.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Name(), len(back.Weights()), "weights,", back.CountParams(), "values, preprocess", meta[weights.MetaPreprocess])
	// Output: resnet20 97 weights, 271098 values, preprocess tf
}

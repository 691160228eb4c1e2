package train

import (
	"fmt"
	"testing"
	"time"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/data"
)

func TestSpeedTmp(t *testing.T) {
	ds, err := data.ReadIDX("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", data.FashionMNISTClasses)
	if err != nil { t.Fatal(err) }
	m, _ := resnet.ResNet20(resnet.InputShape(28, 28, 1), resnet.WithFlavor(resnet.Torch))
	tr := &Trainer{Model: m, Train: ds.Subset(128*20), Config: Config{Epochs: 1, Batch: 128, Optimizer: &SGD{Momentum: 0.9, WeightDecay: 1e-4}, Schedule: Constant(0.1)}}
	st := time.Now()
	h, err := tr.Fit()
	if err != nil { t.Fatal(err) }
	fmt.Println(time.Since(st), h[0].ImagesPerSec, h[0].Loss, h[0].Accuracy)
}

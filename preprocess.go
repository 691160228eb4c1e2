package resnet

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/resnet-go/resnet/tensor"
)

// Mode is one of Keras' imagenet_utils.preprocess_input modes.
type Mode string

const (
	// Caffe converts RGB to BGR and subtracts the ImageNet mean per channel
	// (103.939, 116.779, 123.68 in BGR order), without scaling: ResNet v1.
	Caffe Mode = "caffe"
	// TF scales to [-1, 1]: x/127.5 - 1. ResNet v2.
	TF Mode = "tf"
	// TorchMode scales to [0, 1] and normalises by the ImageNet mean
	// (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225).
	TorchMode Mode = "torch"
	// Unit scales to [0, 1]: x/255.
	Unit Mode = "unit"
	// Raw leaves the values as they are.
	Raw Mode = "raw"
)

// ParseMode checks a preprocessing mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case Caffe, TF, TorchMode, Unit, Raw:
		return m, nil
	}
	return "", fmt.Errorf("unknown preprocessing mode %q (want caffe, tf, torch, unit or raw)", s)
}

// Preprocess applies a mode in place to RGB images with values in [0, 255]
// whose last axis holds the 3 channels (an (H, W, 3) image or an (N, H, W,
// 3) batch), as Keras' preprocess_input does for channels-last data.
func Preprocess(t *tensor.Tensor, mode Mode) error {
	if len(t.Shape) == 0 || t.Shape[len(t.Shape)-1] != 3 {
		return fmt.Errorf("preprocess %s: want RGB values on the last axis, got shape %v", mode, t.Shape)
	}
	d := t.Data
	switch mode {
	case Caffe:
		mean := [3]float32{103.939, 116.779, 123.68}
		for i := 0; i < len(d); i += 3 {
			r, g, b := d[i], d[i+1], d[i+2]
			d[i], d[i+1], d[i+2] = b-mean[0], g-mean[1], r-mean[2]
		}
	case TF:
		for i, v := range d {
			d[i] = v/127.5 - 1
		}
	case TorchMode:
		mean := [3]float32{0.485, 0.456, 0.406}
		std := [3]float32{0.229, 0.224, 0.225}
		for i, v := range d {
			c := i % 3
			d[i] = (v/255 - mean[c]) / std[c]
		}
	case Unit:
		for i, v := range d {
			d[i] = v / 255
		}
	case Raw:
	default:
		return fmt.Errorf("unknown preprocessing mode %q", mode)
	}
	return nil
}

//go:embed imagenet_classes.txt
var imagenetText string

// Class is an ImageNet class: its WordNet ID and Keras' name for it.
type Class struct {
	WNID string
	Name string
}

var imagenet = func() []Class {
	var cs []Class
	for _, line := range strings.Split(strings.TrimSpace(imagenetText), "\n") {
		id, name, _ := strings.Cut(line, " ")
		cs = append(cs, Class{id, name})
	}
	return cs
}()

// ImageNetClasses returns the 1000 ImageNet classes in the models' output
// order (sorted WordNet IDs), with the names Keras' decode_predictions uses.
func ImageNetClasses() []Class { return append([]Class(nil), imagenet...) }

// Prediction is one ranked class of one image.
type Prediction struct {
	Index int
	Class
	Score float32
}

// DecodePredictions returns, for each row of an (N, 1000) tensor of
// ImageNet scores, the top classes by descending score, as Keras'
// decode_predictions does.
func DecodePredictions(preds *tensor.Tensor, top int) ([][]Prediction, error) {
	if len(preds.Shape) != 2 || preds.Shape[1] != len(imagenet) {
		return nil, fmt.Errorf("decode predictions: want a batch of shape (N, %d), got %v", len(imagenet), preds.Shape)
	}
	return TopK(preds, top, func(i int) Class { return imagenet[i] })
}

// TopK ranks each row of an (N, K) tensor of scores, naming classes with
// class (which may be nil).
func TopK(preds *tensor.Tensor, top int, class func(int) Class) ([][]Prediction, error) {
	if len(preds.Shape) != 2 {
		return nil, fmt.Errorf("top-k: want scores of shape (N, K), got %v", preds.Shape)
	}
	if top < 1 {
		return nil, fmt.Errorf("top-k: top must be at least 1, got %d", top)
	}
	k := preds.Shape[1]
	top = min(top, k)
	out := make([][]Prediction, preds.Shape[0])
	for r := range out {
		row := preds.Data[r*k : (r+1)*k]
		idx := make([]int, k)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		for _, i := range idx[:top] {
			p := Prediction{Index: i, Score: row[i]}
			if class != nil {
				p.Class = class(i)
			}
			out[r] = append(out[r], p)
		}
	}
	return out, nil
}

package data

import (
	"math"
	"math/rand/v2"

	"github.com/resnet-go/resnet/tensor"
)

// Augment changes an (H, W, C) image at random; it must draw its random
// numbers from r only, so that a seed reproduces a run.
type Augment func(img *tensor.Tensor, r *rand.Rand) *tensor.Tensor

// PadCrop pads the image with pad zero pixels on every side and cuts a
// random window of the original size: the ResNet paper's CIFAR
// augmentation (pad 4, crop 32).
func PadCrop(pad int) Augment {
	return func(img *tensor.Tensor, r *rand.Rand) *tensor.Tensor {
		h, w, c := img.Shape[0], img.Shape[1], img.Shape[2]
		dy, dx := r.IntN(2*pad+1)-pad, r.IntN(2*pad+1)-pad
		out := tensor.New(h, w, c)
		for y := 0; y < h; y++ {
			sy := y + dy
			if sy < 0 || sy >= h {
				continue
			}
			x0, x1 := max(0, -dx), min(w, w-dx)
			if x0 < x1 {
				copy(out.Data[(y*w+x0)*c:(y*w+x1)*c], img.Data[(sy*w+x0+dx)*c:])
			}
		}
		return out
	}
}

// Flip mirrors the image left to right with probability one half.
func Flip() Augment {
	return func(img *tensor.Tensor, r *rand.Rand) *tensor.Tensor {
		if r.IntN(2) == 0 {
			return img
		}
		h, w, c := img.Shape[0], img.Shape[1], img.Shape[2]
		out := tensor.New(h, w, c)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				copy(out.Data[(y*w+x)*c:][:c], img.Data[(y*w+w-1-x)*c:][:c])
			}
		}
		return out
	}
}

// RandomResizedCrop cuts a window covering a random fraction [minScale, 1]
// of the area with an aspect ratio between 3/4 and 4/3 and resizes it to
// height x width, as torchvision's RandomResizedCrop does (falling back to
// the whole image after ten tries).
func RandomResizedCrop(height, width int, minScale float64) Augment {
	return func(img *tensor.Tensor, r *rand.Rand) *tensor.Tensor {
		h, w, c := img.Shape[0], img.Shape[1], img.Shape[2]
		top, left, ch, cw := 0, 0, h, w
		for try := 0; try < 10; try++ {
			area := float64(h*w) * (minScale + (1-minScale)*r.Float64())
			ratio := math.Exp(math.Log(3.0/4) + (math.Log(4.0/3)-math.Log(3.0/4))*r.Float64())
			tw := int(math.Round(math.Sqrt(area * ratio)))
			th := int(math.Round(math.Sqrt(area / ratio)))
			if tw >= 1 && th >= 1 && tw <= w && th <= h {
				top, left, ch, cw = r.IntN(h-th+1), r.IntN(w-tw+1), th, tw
				break
			}
		}
		crop := tensor.New(ch, cw, c)
		for y := 0; y < ch; y++ {
			copy(crop.Data[y*cw*c:(y+1)*cw*c], img.Data[((top+y)*w+left)*c:])
		}
		out, _ := Resize(crop, height, width)
		return out
	}
}

// Normalize maps each channel to (x/255 - mean) / std; it is not random.
func Normalize(mean, std []float32) Augment {
	return func(img *tensor.Tensor, _ *rand.Rand) *tensor.Tensor {
		c := img.Shape[len(img.Shape)-1]
		for i, v := range img.Data {
			k := i % c
			img.Data[i] = (v/255 - mean[k%len(mean)]) / std[k%len(std)]
		}
		return img
	}
}

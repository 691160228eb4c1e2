package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/resnet-go/resnet/tensor"
)

// Augment changes an (H, W, C) image at random. It must draw its random
// numbers from r only, so that a seed reproduces a run, and must not change
// img (a dataset may hand out images it keeps): it returns a new tensor or
// img itself. An image it cannot take (not (H, W, C), or arguments that do
// not fit it) is an error naming the augmentation.
type Augment func(img *tensor.Tensor, r *rand.Rand) (*tensor.Tensor, error)

// imageDims returns img's height, width and channels, or an error when img
// is not an (H, W, C) image (the caller names the augmentation: only then
// is its name formatted, not for every image).
func imageDims(img *tensor.Tensor) (h, w, c int, err error) {
	if img == nil || len(img.Shape) != 3 || img.Shape[0] < 1 || img.Shape[1] < 1 || img.Shape[2] < 1 {
		var shape []int
		if img != nil {
			shape = img.Shape
		}
		return 0, 0, 0, fmt.Errorf("want an (H, W, C) image, got shape %v", shape)
	}
	return img.Shape[0], img.Shape[1], img.Shape[2], nil
}

// PadCrop pads the image with pad zero pixels on every side and cuts a
// random window of the original size: the ResNet paper's CIFAR
// augmentation (pad 4, crop 32).
func PadCrop(pad int) Augment {
	return func(img *tensor.Tensor, r *rand.Rand) (*tensor.Tensor, error) {
		h, w, c, err := imageDims(img)
		if err == nil && pad < 0 {
			err = errors.New("the padding must be at least 0")
		}
		if err != nil {
			return nil, fmt.Errorf("pad %d and crop: %w", pad, err)
		}
		dy, dx := r.IntN(2*pad+1)-pad, r.IntN(2*pad+1)-pad
		out := tensor.New(h, w, c)
		x0, x1 := max(0, -dx), min(w, w-dx)
		for y := 0; y < h; y++ {
			sy := y + dy
			if sy < 0 || sy >= h || x0 >= x1 {
				continue
			}
			copy(out.Data[(y*w+x0)*c:(y*w+x1)*c], img.Data[(sy*w+x0+dx)*c:])
		}
		return out, nil
	}
}

// Flip mirrors the image left to right with probability one half.
func Flip() Augment {
	return func(img *tensor.Tensor, r *rand.Rand) (*tensor.Tensor, error) {
		h, w, c, err := imageDims(img)
		if err != nil {
			return nil, fmt.Errorf("flip: %w", err)
		}
		if r.IntN(2) == 0 {
			return img, nil
		}
		out := tensor.New(h, w, c)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				copy(out.Data[(y*w+x)*c:][:c], img.Data[(y*w+w-1-x)*c:][:c])
			}
		}
		return out, nil
	}
}

// RandomResizedCrop cuts a window covering a random fraction [minScale, 1]
// of the area with an aspect ratio (width over height) between 3/4 and 4/3,
// log-uniform, and resizes it bilinearly to height x width, as
// torchvision's RandomResizedCrop does: after ten windows that do not fit,
// it takes the largest central one whose ratio is within the range.
// torchvision's default minScale is 0.08.
func RandomResizedCrop(height, width int, minScale float64) Augment {
	return func(img *tensor.Tensor, r *rand.Rand) (*tensor.Tensor, error) {
		h, w, c, err := imageDims(img)
		if err != nil {
			return nil, fmt.Errorf("random resized crop to %dx%d: %w", height, width, err)
		}
		if height < 1 || width < 1 || !(minScale > 0 && minScale <= 1) {
			return nil, fmt.Errorf("random resized crop to %dx%d, scale from %g: want a positive size and a scale in (0, 1]", height, width, minScale)
		}
		top, left, ch, cw := cropWindow(h, w, minScale, r)
		crop := tensor.New(ch, cw, c)
		for y := 0; y < ch; y++ {
			copy(crop.Data[y*cw*c:(y+1)*cw*c], img.Data[((top+y)*w+left)*c:])
		}
		return Resize(crop, height, width)
	}
}

// cropWindow draws RandomResizedCrop's window of an h x w image: its top,
// left, height and width (sides rounded half to even, as Python's round
// rounds them).
func cropWindow(h, w int, minScale float64, r *rand.Rand) (top, left, ch, cw int) {
	const minRatio, maxRatio = 3.0 / 4, 4.0 / 3
	for try := 0; try < 10; try++ {
		area := float64(h*w) * (minScale + (1-minScale)*r.Float64())
		ratio := math.Exp(math.Log(minRatio) + (math.Log(maxRatio)-math.Log(minRatio))*r.Float64())
		cw = int(math.RoundToEven(math.Sqrt(area * ratio)))
		ch = int(math.RoundToEven(math.Sqrt(area / ratio)))
		if cw >= 1 && ch >= 1 && cw <= w && ch <= h {
			return r.IntN(h - ch + 1), r.IntN(w - cw + 1), ch, cw
		}
	}
	ch, cw = h, w
	switch ratio := float64(w) / float64(h); {
	case ratio < minRatio:
		ch = int(math.RoundToEven(float64(w) / minRatio))
	case ratio > maxRatio:
		cw = int(math.RoundToEven(float64(h) * maxRatio))
	}
	return (h - ch) / 2, (w - cw) / 2, ch, cw
}

// Normalize maps channel k of a [0, 255] image to (x/255 - mean[k]) /
// std[k]; a single mean or std serves every channel. It is not random.
func Normalize(mean, std []float32) Augment {
	return func(img *tensor.Tensor, _ *rand.Rand) (*tensor.Tensor, error) {
		_, _, c, err := imageDims(img)
		if err != nil {
			return nil, fmt.Errorf("normalize: %w", err)
		}
		for _, v := range [][]float32{mean, std} {
			if len(v) != 1 && len(v) != c {
				return nil, fmt.Errorf("normalize: %d means and %d standard deviations for %d channels; give one or one per channel", len(mean), len(std), c)
			}
		}
		for _, s := range std {
			if s == 0 || s != s {
				return nil, fmt.Errorf("normalize: standard deviation %g", s)
			}
		}
		out := tensor.New(img.Shape...)
		for i, v := range img.Data {
			k := i % c
			out.Data[i] = (v/255 - mean[k%len(mean)]) / std[k%len(std)]
		}
		return out, nil
	}
}

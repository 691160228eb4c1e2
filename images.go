package resnet

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/resnet-go/resnet/data"
	"github.com/resnet-go/resnet/tensor"
)

// Resize says how an image is brought to a model's input size.
type Resize string

const (
	// Squash scales the whole image to the input size, as Keras'
	// load_img(target_size=...) does.
	Squash Resize = "squash"
	// Crop scales the shorter side to size*256/224 and cuts the centre, as
	// torchvision's evaluation transform (Resize(256), CenterCrop(224)) does.
	Crop Resize = "crop"
)

// ImageConfig says how to turn image files into a model's input.
type ImageConfig struct {
	Height, Width int
	// Channels is 3 for RGB or 1 for grey (ITU-R 601 luma).
	Channels int
	Mode     Mode
	Resize   Resize
}

// LoadImages decodes, resizes and preprocesses image files into one NHWC
// batch, the images shared out between the cores (decoding is most of the
// time: a PNG of 600x400 takes about 10 ms). An error names the first
// image in paths that failed.
func LoadImages(paths []string, cfg ImageConfig) (*tensor.Tensor, error) {
	if cfg.Height < 1 || cfg.Width < 1 {
		return nil, fmt.Errorf("load images: the input size %dx%d is not fixed", cfg.Height, cfg.Width)
	}
	if cfg.Channels != 1 && cfg.Channels != 3 {
		return nil, fmt.Errorf("load images: %d channels; images give 1 (grey) or 3 (RGB)", cfg.Channels)
	}
	per := cfg.Height * cfg.Width * cfg.Channels
	batch := tensor.New(len(paths), cfg.Height, cfg.Width, cfg.Channels)
	errs := make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(paths), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				errs[i] = loadImageInto(batch.Data[i*per:(i+1)*per], paths[i], cfg)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return batch, nil
}

// loadImageInto decodes, fits and preprocesses the image at path into dst.
func loadImageInto(dst []float32, path string, cfg ImageConfig) error {
	img, err := data.LoadImage(path)
	if err != nil {
		return err
	}
	if img, err = fit(img, cfg); err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	if cfg.Channels == 1 {
		for j := range dst {
			r, g, b := img.Data[3*j], img.Data[3*j+1], img.Data[3*j+2]
			dst[j] = 0.299*r + 0.587*g + 0.114*b
		}
		if err := preprocessGrey(dst, cfg.Mode); err != nil {
			return fmt.Errorf("image %s: %w", path, err)
		}
		return nil
	}
	if err := Preprocess(img, cfg.Mode); err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	copy(dst, img.Data)
	return nil
}

// preprocessGrey applies the modes that make sense for one channel.
func preprocessGrey(d []float32, mode Mode) error {
	switch mode {
	case Raw:
	case TF:
		for i, v := range d {
			d[i] = v/127.5 - 1
		}
	case Unit:
		for i, v := range d {
			d[i] = v / 255
		}
	default:
		return fmt.Errorf("preprocessing mode %q needs RGB; grey images take raw, tf or unit", mode)
	}
	return nil
}

func fit(img *tensor.Tensor, cfg ImageConfig) (*tensor.Tensor, error) {
	if cfg.Resize != Crop {
		return data.Resize(img, cfg.Height, cfg.Width)
	}
	short := min(cfg.Height, cfg.Width) * 256 / 224
	r, err := data.ResizeShorter(img, short)
	if err != nil {
		return nil, err
	}
	return data.CenterCrop(r, cfg.Height, cfg.Width)
}

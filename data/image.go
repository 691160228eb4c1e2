// Package data reads what models learn from and look at: images (JPEG,
// PNG, GIF, BMP, TIFF, WebP), resizing and cropping as Keras and
// torchvision do it.
package data

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // register decoders
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/resnet-go/resnet/tensor"
)

// MaxImagePixels bounds the pixels of an image to decode (a decompression
// bomb declares a huge size in a tiny file).
const MaxImagePixels = 1 << 28

// MaxImageBytes bounds the size of an image file.
const MaxImageBytes = 1 << 30

// LoadImage decodes an image file into an RGB tensor of shape (height,
// width, 3) with values in [0, 255], the way Keras' load_img and
// img_to_array present it. Alpha is dropped; grey images get three equal
// channels.
func LoadImage(path string) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxImageBytes {
		return nil, fmt.Errorf("image %s: %d bytes is more than %d", path, st.Size(), MaxImageBytes)
	}
	t, err := DecodeImage(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return t, nil
}

// DecodeImage decodes an image in any registered format into an RGB
// (height, width, 3) tensor with values in [0, 255].
func DecodeImage(r io.Reader) (*tensor.Tensor, error) {
	head := make([]byte, 0, 1<<16)
	buf := bytes.NewBuffer(head)
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, buf))
	if err != nil {
		return nil, fmt.Errorf("not a decodable image (JPEG, PNG, GIF, BMP, TIFF or WebP): %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("%s image of %dx%d pixels is empty or larger than %d pixels", format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err := image.Decode(io.MultiReader(buf, r))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", format, err)
	}
	return FromImage(img), nil
}

// FromImage converts an image to an RGB (height, width, 3) tensor in
// [0, 255].
func FromImage(img image.Image) *tensor.Tensor {
	b := img.Bounds()
	rgba, ok := img.(*image.NRGBA)
	if !ok || rgba.Rect.Min != (image.Point{}) {
		rgba = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	}
	h, w := b.Dy(), b.Dx()
	t := tensor.New(h, w, 3)
	for y := 0; y < h; y++ {
		row := rgba.Pix[y*rgba.Stride:]
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				t.Data[(y*w+x)*3+c] = float32(row[4*x+c])
			}
		}
	}
	return t
}

// Resize scales an (H, W, C) tensor to (h, w, C) by bilinear interpolation
// with half-pixel centres (as PIL and torchvision do when enlarging; when
// shrinking they also smooth, which this does not).
func Resize(t *tensor.Tensor, h, w int) (*tensor.Tensor, error) {
	if len(t.Shape) != 3 || h < 1 || w < 1 {
		return nil, fmt.Errorf("resize %v to %dx%d: want an (H, W, C) image and a positive size", t.Shape, h, w)
	}
	ih, iw, c := t.Shape[0], t.Shape[1], t.Shape[2]
	out := tensor.New(h, w, c)
	sy, sx := float64(ih)/float64(h), float64(iw)/float64(w)
	for y := 0; y < h; y++ {
		fy := math.Max((float64(y)+0.5)*sy-0.5, 0)
		y0 := min(int(fy), ih-1)
		y1 := min(y0+1, ih-1)
		wy := float32(fy - float64(y0))
		for x := 0; x < w; x++ {
			fx := math.Max((float64(x)+0.5)*sx-0.5, 0)
			x0 := min(int(fx), iw-1)
			x1 := min(x0+1, iw-1)
			wx := float32(fx - float64(x0))
			o := out.Data[(y*w+x)*c:][:c]
			for ch := range o {
				a := t.Data[(y0*iw+x0)*c+ch]*(1-wx) + t.Data[(y0*iw+x1)*c+ch]*wx
				b := t.Data[(y1*iw+x0)*c+ch]*(1-wx) + t.Data[(y1*iw+x1)*c+ch]*wx
				o[ch] = a*(1-wy) + b*wy
			}
		}
	}
	return out, nil
}

// CenterCrop cuts the central (h, w) window of an (H, W, C) tensor, as
// torchvision's CenterCrop does (rounding the offset).
func CenterCrop(t *tensor.Tensor, h, w int) (*tensor.Tensor, error) {
	if len(t.Shape) != 3 || h < 1 || w < 1 || h > t.Shape[0] || w > t.Shape[1] {
		return nil, fmt.Errorf("center crop %dx%d of %v: the crop must fit the image", h, w, t.Shape)
	}
	ih, iw, c := t.Shape[0], t.Shape[1], t.Shape[2]
	top := int(math.Round(float64(ih-h) / 2))
	left := int(math.Round(float64(iw-w) / 2))
	out := tensor.New(h, w, c)
	for y := 0; y < h; y++ {
		copy(out.Data[y*w*c:(y+1)*w*c], t.Data[((top+y)*iw+left)*c:])
	}
	return out, nil
}

// ResizeShorter scales an image so that its shorter side is size, keeping
// the aspect ratio (torchvision's Resize(size) with an int).
func ResizeShorter(t *tensor.Tensor, size int) (*tensor.Tensor, error) {
	if len(t.Shape) != 3 || size < 1 {
		return nil, fmt.Errorf("resize %v: want an (H, W, C) image and a positive size", t.Shape)
	}
	h, w := t.Shape[0], t.Shape[1]
	if h <= w {
		return Resize(t, size, int(float64(size)*float64(w)/float64(h)))
	}
	return Resize(t, int(float64(size)*float64(h)/float64(w)), size)
}

package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/resnet-go/resnet/tensor"
)

func testImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			img.Set(x, y, color.NRGBA{uint8(40 * x), uint8(60 * y), 200, 255})
		}
	}
	return img
}

// encodeGIF writes m with a palette of exactly its colours, so GIF is
// lossless here.
func encodeGIF(w io.Writer, m image.Image) error {
	var pal color.Palette
	seen := map[color.Color]bool{}
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := m.At(x, y); !seen[c] {
				seen[c] = true
				pal = append(pal, c)
			}
		}
	}
	p := image.NewPaletted(b, pal)
	draw.Draw(p, b, m, b.Min, draw.Src)
	return gif.Encode(w, p, nil)
}

func TestDecodeFormats(t *testing.T) {
	src := testImage()
	encoders := map[string]func(io.Writer, image.Image) error{
		"png":  png.Encode,
		"bmp":  bmp.Encode,
		"tiff": func(w io.Writer, m image.Image) error { return tiff.Encode(w, m, nil) },
		"gif":  encodeGIF,
		"jpeg": func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, &jpeg.Options{Quality: 100}) },
	}
	for name, enc := range encoders {
		var b bytes.Buffer
		if err := enc(&b, src); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeImage(&b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.SameShape(&tensor.Tensor{Shape: []int{4, 6, 3}}) {
			t.Fatalf("%s: shape %v", name, got.Shape)
		}
		// Lossless formats give the pixels back; GIF's palette and JPEG's
		// compression stay close.
		tol := map[string]float64{"jpeg": 40}[name] // 4:2:0 chroma subsampling
		for y := 0; y < 4; y++ {
			for x := 0; x < 6; x++ {
				want := []float64{float64(40 * x), float64(60 * y), 200}
				for c := range want {
					if d := math.Abs(float64(got.Data[(y*6+x)*3+c]) - want[c]); d > tol {
						t.Fatalf("%s: pixel (%d,%d) channel %d = %v, want %v", name, x, y, c, got.Data[(y*6+x)*3+c], want[c])
					}
				}
			}
		}
	}
}

func TestLoadImageFiles(t *testing.T) {
	for _, tt := range []struct {
		file string
		h, w int
	}{
		{"chelsea.png", 300, 451},
		{"coffee.png", 400, 600},
		{"chelsea_small.webp", 42, 64},
	} {
		img, err := LoadImage(filepath.Join("..", "testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if img.Shape[0] != tt.h || img.Shape[1] != tt.w || img.Shape[2] != 3 {
			t.Errorf("%s: shape %v, want (%d, %d, 3)", tt.file, img.Shape, tt.h, tt.w)
		}
	}
}

func TestNotAnImage(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"text.png":      "this is not an image",
		"empty.jpg":     "",
		"truncated.png": "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		_, err := LoadImage(p)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	if _, err := LoadImage(filepath.Join(dir, "missing.png")); err == nil {
		t.Error("a missing file loaded")
	}
	// A PNG header declaring a huge image is refused before decoding.
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	raw := b.Bytes()
	copy(raw[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0}) // 65536 x 65536
	binary.BigEndian.PutUint32(raw[29:33], crc32.ChecksumIEEE(raw[12:29]))
	if _, err := DecodeImage(bytes.NewReader(raw)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge image: %v", err)
	}
}

func TestResize(t *testing.T) {
	// A horizontal ramp 0, 10, 20, 30 doubled in width: half-pixel centres
	// give 0, 2.5, 7.5, ... with the edges clamped.
	ramp, _ := tensor.FromData([]float32{0, 10, 20, 30}, 1, 4, 1)
	got, err := Resize(ramp, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30}
	for i := range want {
		if math.Abs(float64(got.Data[i]-want[i])) > 1e-5 {
			t.Fatalf("resize %v, want %v", got.Data, want)
		}
	}
	same, _ := Resize(ramp, 1, 4)
	for i := range same.Data {
		if same.Data[i] != ramp.Data[i] {
			t.Fatalf("identity resize changed %v to %v", ramp.Data, same.Data)
		}
	}
	if _, err := Resize(ramp, 0, 4); err == nil {
		t.Error("resize to zero height accepted")
	}
}

func TestCenterCropAndShorter(t *testing.T) {
	img := tensor.New(10, 20, 1)
	for i := range img.Data {
		img.Data[i] = float32(i)
	}
	c, err := CenterCrop(img, 4, 6)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data[0] != float32(3*20+7) { // top = 3, left = 7
		t.Errorf("crop starts at %v, want %v", c.Data[0], 3*20+7)
	}
	if _, err := CenterCrop(img, 11, 6); err == nil {
		t.Error("a crop larger than the image was accepted")
	}
	r, _ := ResizeShorter(img, 5)
	if r.Shape[0] != 5 || r.Shape[1] != 10 {
		t.Errorf("shorter side to 5: %v", r.Shape)
	}
}

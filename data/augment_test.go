package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

// ramp returns an h x w x c image whose pixel (y, x) holds y in channel 0,
// x in channel 1 and y*w+x in the others.
func ramp(h, w, c int) *tensor.Tensor {
	t := tensor.New(h, w, c)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := t.Data[(y*w+x)*c:][:c]
			for k := range p {
				p[k] = float32(y*w + x)
			}
			p[0] = float32(y)
			if c > 1 {
				p[1] = float32(x)
			}
		}
	}
	return t
}

// shifted reports whether out is img moved down by dy and right by dx,
// zeros where nothing moved in.
func shifted(img, out *tensor.Tensor, dy, dx int) bool {
	h, w, c := img.Shape[0], img.Shape[1], img.Shape[2]
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sy, sx := y-dy, x-dx
			for k := 0; k < c; k++ {
				var want float32
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					want = img.Data[(sy*w+sx)*c+k]
				}
				if out.Data[(y*w+x)*c+k] != want {
					return false
				}
			}
		}
	}
	return true
}

func TestPadCropShiftsWithinPad(t *testing.T) {
	img := ramp(6, 5, 2)
	for i := range img.Data {
		img.Data[i]++ // no zeros of its own, so the padding shows
	}
	keep := img.Clone()
	const pad = 2
	seen := map[[2]int]bool{}
	for seed := uint64(0); seed < 300; seed++ {
		out, err := PadCrop(pad)(img, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for dy := -pad; dy <= pad && !found; dy++ {
			for dx := -pad; dx <= pad && !found; dx++ {
				if shifted(img, out, dy, dx) {
					found, seen[[2]int{dy, dx}] = true, true
				}
			}
		}
		if !found {
			t.Fatalf("seed %d: the output is no shift of at most %d pixels", seed, pad)
		}
	}
	if len(seen) != (2*pad+1)*(2*pad+1) {
		t.Errorf("%d of %d shifts seen in 300 draws", len(seen), (2*pad+1)*(2*pad+1))
	}
	if !slices.Equal(img.Data, keep.Data) {
		t.Error("PadCrop changed its input")
	}
}

func TestFlipMirrorsHalfTheTime(t *testing.T) {
	img := ramp(3, 4, 2)
	flips := 0
	for seed := uint64(0); seed < 400; seed++ {
		out, err := Flip()(img, rand.New(rand.NewPCG(seed, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(out.Data, img.Data) {
			continue
		}
		flips++
		for y := 0; y < 3; y++ {
			for x := 0; x < 4; x++ {
				if got := out.Data[(y*4+x)*2+1]; got != float32(3-x) || out.Data[(y*4+x)*2] != float32(y) {
					t.Fatalf("pixel (%d, %d) holds column %g, want %d", y, x, got, 3-x)
				}
			}
		}
	}
	if flips < 160 || flips > 240 {
		t.Errorf("%d flips in 400 draws", flips)
	}
}

// The window RandomResizedCrop resized is read back from a ramp image:
// bilinear resizing keeps a linear ramp linear, so the output's first and
// last rows and columns give the window's edges.
func TestRandomResizedCropWindows(t *testing.T) {
	const h, w, size, minScale = 60, 90, 30, 0.3
	img := ramp(h, w, 2)
	var areas []float64
	for seed := uint64(0); seed < 200; seed++ {
		out, err := RandomResizedCrop(size, size, minScale)(img, rand.New(rand.NewPCG(seed, 3)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Shape, []int{size, size, 2}) {
			t.Fatalf("shape %v", out.Shape)
		}
		// Output pixel i samples the window at (i+0.5)*s-0.5 (s = side/size):
		// pixels 0 and size-1 sit s*(size-1) apart.
		at := func(y, x, k int) float64 { return float64(out.Data[(y*size+x)*2+k]) }
		ch := (at(size-1, 0, 0) - at(0, 0, 0)) * size / (size - 1)
		cw := (at(0, size-1, 1) - at(0, 0, 1)) * size / (size - 1)
		top := at(0, 0, 0) - (ch/size/2 - 0.5)
		left := at(0, 0, 1) - (cw/size/2 - 0.5)
		if top < -0.01 || left < -0.01 || top+ch > h+0.01 || left+cw > w+0.01 {
			t.Fatalf("seed %d: window %.2fx%.2f at (%.2f, %.2f) leaves the %dx%d image", seed, ch, cw, top, left, h, w)
		}
		ratio, area := cw/ch, ch*cw/(h*w)
		if ratio < 0.75*0.97 || ratio > 4.0/3*1.03 || area < minScale*0.95 || area > 1.0001 {
			t.Fatalf("seed %d: window %.2fx%.2f: ratio %.3f, %.3f of the area", seed, ch, cw, ratio, area)
		}
		areas = append(areas, area)
	}
	slices.Sort(areas)
	// A 60x90 image holds windows of ratio at most 4/3 up to 60x80, 0.89 of it.
	if areas[0] > minScale+0.1 || areas[len(areas)-1] < 0.8 {
		t.Errorf("areas from %.3f to %.3f: not spread over [%g, 0.89]", areas[0], areas[len(areas)-1], minScale)
	}
}

// A window that never fits falls back to the largest central one of an
// allowed ratio, as torchvision's does.
func TestRandomResizedCropFallback(t *testing.T) {
	img := ramp(10, 40, 2) // ratio 4: every window of at least half the area is too wide or too tall
	out, err := RandomResizedCrop(10, 13, 1)(img, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// The fallback is 10 x round(10*4/3) = 10 x 13, left at (40-13)/2 = 13,
	// resized to its own size: the same pixels.
	for x := 0; x < 13; x++ {
		if got := out.Data[x*2+1]; got != float32(13+x) {
			t.Fatalf("column %d holds %g, want %d", x, got, 13+x)
		}
	}
}

func TestNormalize(t *testing.T) {
	img := ramp(2, 3, 3)
	keep := img.Clone()
	mean, std := []float32{0.5, 0.25, 0}, []float32{2, 0.5, 1}
	out, err := Normalize(mean, std)(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range img.Data {
		k := i % 3
		if want := (v/255 - mean[k]) / std[k]; out.Data[i] != want {
			t.Fatalf("element %d: %g, want %g", i, out.Data[i], want)
		}
	}
	if !slices.Equal(img.Data, keep.Data) {
		t.Error("Normalize changed its input")
	}
	one, err := Normalize([]float32{0.5}, []float32{0.25})(img, nil)
	if err != nil || one.Data[4] != (img.Data[4]/255-0.5)/0.25 {
		t.Errorf("one mean and std for all channels: %v %v", one, err)
	}
}

func TestAugmentErrors(t *testing.T) {
	img := ramp(4, 4, 3)
	flat := tensor.New(4, 4)
	tests := []struct {
		name string
		a    Augment
		img  *tensor.Tensor
		want string
	}{
		{"pad crop flat", PadCrop(1), flat, "pad 1 and crop: want an (H, W, C) image, got shape [4 4]"},
		{"pad crop negative", PadCrop(-1), img, "padding must be at least 0"},
		{"flip nil", Flip(), nil, "flip: want an (H, W, C) image"},
		{"crop size", RandomResizedCrop(0, 8, 0.5), img, "random resized crop to 0x8"},
		{"crop scale", RandomResizedCrop(8, 8, 0), img, "scale from 0"},
		{"crop scale NaN", RandomResizedCrop(8, 8, math.NaN()), img, "scale in (0, 1]"},
		{"normalize channels", Normalize([]float32{1, 2}, []float32{1, 2}), img, "2 means and 2 standard deviations for 3 channels"},
		{"normalize empty", Normalize(nil, []float32{1}), img, "0 means"},
		{"normalize zero std", Normalize([]float32{0}, []float32{1, 0, 1}), img, "standard deviation 0"},
		{"normalize flat", Normalize([]float32{0}, []float32{1}), flat, "normalize: want an (H, W, C) image"},
	}
	for _, tt := range tests {
		out, err := tt.a(tt.img, rand.New(rand.NewPCG(1, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, %v; want an error with %q", tt.name, out, err, tt.want)
		}
	}
}

func TestLoaderReportsAugmentErrors(t *testing.T) {
	m := &Memory{H: 2, W: 2, C: 3, Pixels: make([]byte, 4*12), Labels: []int{0, 1, 0, 1}, Names: []string{"a", "b"}}
	l := &Loader{Data: m, Batch: 2, Augment: []Augment{Flip(), Normalize([]float32{0, 0}, []float32{1, 1})}}
	it := l.Epoch(0)
	defer it.Close()
	_, err := it.Next()
	if err == nil || !strings.Contains(err.Error(), "augment example 0: normalize") {
		t.Errorf("got %v, want the example and the augmentation named", err)
	}
}

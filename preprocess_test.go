package resnet

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

func TestPreprocessModes(t *testing.T) {
	tests := []struct {
		mode Mode
		want []float32
	}{
		{Caffe, []float32{30 - 103.939, 20 - 116.779, 10 - 123.68}}, // RGB (10,20,30) -> BGR minus mean
		{TF, []float32{10/127.5 - 1, 20/127.5 - 1, 30/127.5 - 1}},
		{TorchMode, []float32{(10.0/255 - 0.485) / 0.229, (20.0/255 - 0.456) / 0.224, (30.0/255 - 0.406) / 0.225}},
		{Unit, []float32{10.0 / 255, 20.0 / 255, 30.0 / 255}},
		{Raw, []float32{10, 20, 30}},
	}
	for _, tt := range tests {
		x, _ := tensor.FromData([]float32{10, 20, 30}, 1, 1, 3)
		if err := Preprocess(x, tt.mode); err != nil {
			t.Fatal(err)
		}
		for i := range tt.want {
			if math.Abs(float64(x.Data[i]-tt.want[i])) > 1e-5 {
				t.Errorf("%s: %v, want %v", tt.mode, x.Data, tt.want)
				break
			}
		}
	}
	if err := Preprocess(tensor.New(2, 2, 4), Caffe); err == nil {
		t.Error("4 channels accepted")
	}
	if _, err := ParseMode("bgr"); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestImageNetClasses(t *testing.T) {
	cs := ImageNetClasses()
	if len(cs) != 1000 {
		t.Fatalf("%d classes", len(cs))
	}
	for i, want := range map[int]Class{0: {"n01440764", "tench"}, 285: {"n02124075", "Egyptian_cat"}, 967: {"n07920052", "espresso"}, 999: {"n15075141", "toilet_tissue"}} {
		if cs[i] != want {
			t.Errorf("class %d = %v, want %v", i, cs[i], want)
		}
	}
	for i := 1; i < len(cs); i++ {
		if cs[i-1].WNID >= cs[i].WNID {
			t.Fatalf("classes are not in WordNet ID order at %d", i)
		}
	}
}

func TestDecodePredictions(t *testing.T) {
	p := tensor.New(2, 1000)
	p.Data[285], p.Data[281] = 0.7, 0.2
	p.Data[1000+967] = 0.9
	got, err := DecodePredictions(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0].Name != "Egyptian_cat" || got[0][1].Name != "tabby" || got[1][0].Name != "espresso" || len(got[1]) != 2 {
		t.Errorf("decoded %+v", got)
	}
	if _, err := DecodePredictions(tensor.New(1, 999), 5); err == nil || !strings.Contains(err.Error(), "(N, 1000)") {
		t.Errorf("(1, 999): %v", err)
	}
	if _, err := DecodePredictions(p, 0); err == nil {
		t.Error("top 0 accepted")
	}
}

func TestLoadImagesErrors(t *testing.T) {
	if _, err := LoadImages([]string{"testdata/chelsea.png"}, ImageConfig{Height: 32, Width: 32, Channels: 1, Mode: Caffe}); err == nil {
		t.Error("caffe mode accepted for grey images")
	}
	if _, err := LoadImages([]string{"testdata/none.png"}, ImageConfig{Height: 32, Width: 32, Channels: 3, Mode: TF}); err == nil {
		t.Error("missing file accepted")
	}
	x, err := LoadImages([]string{"testdata/chelsea.png"}, ImageConfig{Height: 28, Width: 28, Channels: 1, Mode: Unit, Resize: Crop})
	if err != nil || !x.SameShape(tensor.New(1, 28, 28, 1)) {
		t.Errorf("grey crop: %v %v", x, err)
	}
}

// The images are shared out between the cores but land in order, and an
// error names the first image that failed, whichever core met it.
func TestLoadImagesInOrder(t *testing.T) {
	cfg := ImageConfig{Height: 40, Width: 48, Channels: 3, Mode: TorchMode, Resize: Crop}
	paths := []string{"testdata/chelsea.png", "testdata/coffee.png", "testdata/chelsea_small.webp", "testdata/coffee.png", "testdata/chelsea.png"}
	all, err := LoadImages(paths, cfg)
	if err != nil {
		t.Fatal(err)
	}
	per := cfg.Height * cfg.Width * cfg.Channels
	for i, p := range paths {
		one, err := LoadImages([]string{p}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(all.Data[i*per:(i+1)*per], one.Data) {
			t.Errorf("image %d (%s) differs from its batch of one", i, p)
		}
	}
	_, err = LoadImages([]string{"testdata/chelsea.png", "testdata/missing1.png", "testdata/coffee.png", "testdata/missing2.png"}, cfg)
	if err == nil || !strings.Contains(err.Error(), "missing1.png") {
		t.Errorf("error %v, want one naming missing1.png", err)
	}
}

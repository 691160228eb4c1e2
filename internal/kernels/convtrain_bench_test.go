package kernels

import (
	"math/rand/v2"
	"testing"
)

// ResNet-20's training convolutions at batch 128, their inputs cycling
// through copies so that each comes from memory as in a training step.
var r20Convs = []struct {
	name string
	p    Conv2DParams
}{
	{"32x32x16", Conv2DParams{N: 128, H: 32, W: 32, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
	{"16x16x32", Conv2DParams{N: 128, H: 16, W: 16, C: 32, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}},
}

func BenchmarkConvTrainR20(b *testing.B) {
	const copies = 6
	for _, tc := range r20Convs {
		p := withOut(tc.p)
		r := rand.New(rand.NewPCG(1, 1))
		var ins, dys [copies][]float32
		for i := range ins {
			ins[i] = randSlice(r, p.N*p.H*p.W*p.C)
			dys[i] = randSlice(r, p.N*p.OH*p.OW*p.F)
		}
		k := randSlice(r, 9*p.C*p.F)
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

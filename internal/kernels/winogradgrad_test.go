package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The assembly transforms of dy's tiles (AVX-512, AVX2) give the portable
// one's bits.
func TestWinogradGradTransformAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const f, pix, es = 48, 48, 50
	row := 5 * f
	src := randSlice(r, 4*row)
	want := make([]float32, 36*es)
	winoGrad4Go(f, src, row, pix, want, es)
	for _, isa := range kernelISAs(t) {
		isa.use()
		got := make([]float32, 36*es)
		winoGrad4(f, src, row, pix, got, es)
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s: transforms differ at %d: %g, %g", isa.name, i, got[i], want[i])
		}
	}
}

// One tile's kernel gradient through the transforms, G'(AgA' . B'xB)G,
// is the correlation of its 6x6 input window x with its 4x4 dy tile g.
func TestWinogradGradOneTile(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	x, g := randSlice(r, 36), randSlice(r, 16)
	v, m := make([]float32, 36), make([]float32, 36)
	winoInput4Go(1, x, 6, 1, v, 1)
	winoGrad4Go(1, g, 4, 1, m, 1)
	s := make([]float32, 36)
	for e := range s {
		s[e] = v[e] * m[e]
	}
	dk := make([]float32, 9)
	gradFromSums(s, 1, 1, dk)
	for ky := 0; ky < 3; ky++ {
		for kx := 0; kx < 3; kx++ {
			var want float64
			for i := 0; i < 4; i++ {
				for j := 0; j < 4; j++ {
					want += float64(x[(i+ky)*6+j+kx]) * float64(g[i*4+j])
				}
			}
			if got := float64(dk[3*ky+kx]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("dW[%d][%d] = %v, want %v", ky, kx, got, want)
			}
		}
	}
}

// The kernel gradient by Winograd matches the direct one, also where the
// tiles' blocks, rounded up to whole rounds of workers, leave the last
// block empty (364 images of 16x16).
func TestWinogradKernelGradMatchesDirect(t *testing.T) {
	if !useAVX512 && !useAVX2 {
		t.Skip("the Winograd kernel gradient runs with the AVX-512 or AVX2 transforms")
	}
	r := rand.New(rand.NewPCG(25, 26))
	for _, p := range []Conv2DParams{
		{N: 364, H: 16, W: 16, C: 32, F: 32},
		{N: 48, H: 8, W: 8, C: 64, F: 96},
		{N: 4, H: 30, W: 30, C: 64, F: 64}, // 4x4 tiles overhanging the output
	} {
		p.KH, p.KW, p.SH, p.SW, p.DH, p.DW, p.PadT, p.PadL, p.Groups = 3, 3, 1, 1, 1, 1, 1, 1, 1
		p = withOut(p)
		if !winogradKernelGrads(p) {
			t.Fatalf("%+v: kernel gradient not by Winograd", p)
		}
		in, dy := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, p.N*p.OH*p.OW*p.F)
		got, want := make([]float32, 9*p.C*p.F), make([]float32, 9*p.C*p.F)
		convBackwardKernelWinograd(p, in, dy, got)
		convBackwardKernel(p, in, dy, want)
		scale := 0.0
		for _, v := range want {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 2e-5*scale {
				t.Fatalf("%+v: dk[%d] = %v, want %v (scale %v)", p, i, got[i], want[i], scale)
			}
		}
	}
}

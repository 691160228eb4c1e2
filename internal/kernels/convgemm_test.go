package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var convCases = []Conv2DParams{
	{N: 2, H: 7, W: 6, C: 3, KH: 3, KW: 3, F: 5, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 1, H: 9, W: 9, C: 4, KH: 3, KW: 3, F: 8, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 0, PadL: 0, Groups: 2},
	{N: 3, H: 5, W: 5, C: 6, KH: 1, KW: 1, F: 4, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1},
	{N: 2, H: 8, W: 8, C: 6, KH: 1, KW: 1, F: 6, SH: 2, SW: 2, DH: 1, DW: 1, Groups: 3},
	{N: 2, H: 7, W: 5, C: 3, KH: 1, KW: 1, F: 10, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}, // wider output: X packed
	{N: 1, H: 11, W: 10, C: 2, KH: 3, KW: 3, F: 3, SH: 1, SW: 2, DH: 2, DW: 2, PadT: 2, PadL: 1, Groups: 1},
	{N: 2, H: 12, W: 12, C: 3, KH: 7, KW: 7, F: 4, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 3, PadL: 3, Groups: 1},
}

// finished returns relu(conv + bias + res): the fused epilogue's result
// for the reference convolution's output conv.
func finished(conv, bias, res []float32) []float32 {
	out := make([]float32, len(conv))
	for j, v := range conv {
		out[j] = max(v+bias[j%len(bias)]+res[j], 0)
	}
	return out
}

// largestError returns the largest |got - want| and the largest |want|.
func largestError(got, want []float32) (worst, scale float64) {
	for j, w := range want {
		worst = math.Max(worst, math.Abs(float64(got[j]-w)))
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	return worst, scale
}

func withOut(p Conv2DParams) Conv2DParams {
	p.OH = (p.H+2*p.PadT-p.DH*(p.KH-1)-1)/p.SH + 1
	p.OW = (p.W+2*p.PadL-p.DW*(p.KW-1)-1)/p.SW + 1
	return p
}

func TestConvForwardMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i, p := range append(append([]Conv2DParams(nil), convCases...), transposeCases...) {
		p = withOut(p)
		in := randSlice(r, p.N*p.H*p.W*p.C)
		k := randSlice(r, p.KH*p.KW*p.C/p.Groups*p.F)
		bias := randSlice(r, p.F)
		want := make([]float32, p.N*p.OH*p.OW*p.F)
		got := make([]float32, len(want))
		Conv2D(p, in, k, bias, want)
		// Rounding grows with the sums' terms, and Winograd's with the
		// whole output's scale (F(4x4): 3e-6 of it here), not each value's.
		tol := 1e-4 + 1e-5*float64(slices.Max(want)-slices.Min(want))
		for _, fn := range []struct {
			name string
			conv func(p Conv2DParams, in, kernel, bias, out []float32)
		}{{"ConvForward", ConvForward}, {"ConvForwardTrain", ConvForwardTrain}} {
			fn.conv(p, in, k, bias, got)
			for j := range want {
				if math.Abs(float64(got[j]-want[j])) > tol {
					t.Fatalf("case %d, %s: out[%d] = %v, want %v", i, fn.name, j, got[j], want[j])
				}
			}
		}
	}
	for _, p := range transposeCases[len(transposeCases)-3:] {
		if (useAVX512 || useAVX2) && !winogradTrains(withOut(p)) {
			t.Errorf("%+v does not go by Winograd in training", p)
		}
	}
}

// naiveBackward scatters dy through every kernel tap, in float64.
func naiveBackward(p Conv2DParams, in, k, dy []float32) (dx, dk, db []float64) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	dx, dk, db = make([]float64, len(in)), make([]float64, len(k)), make([]float64, p.F)
	for n := 0; n < p.N; n++ {
		for oy := 0; oy < p.OH; oy++ {
			for ox := 0; ox < p.OW; ox++ {
				for f := 0; f < p.F; f++ {
					g := float64(dy[((n*p.OH+oy)*p.OW+ox)*p.F+f])
					db[f] += g
					grp := f / fg
					for ky := 0; ky < p.KH; ky++ {
						for kx := 0; kx < p.KW; kx++ {
							iy, ix := oy*p.SH+ky*p.DH-p.PadT, ox*p.SW+kx*p.DW-p.PadL
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							for c := 0; c < cg; c++ {
								xi := ((n*p.H+iy)*p.W+ix)*p.C + grp*cg + c
								ki := ((ky*p.KW+kx)*cg+c)*p.F + f
								dx[xi] += g * float64(k[ki])
								dk[ki] += g * float64(in[xi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dk, db
}

// Backward cases whose input gradient is a window convolution of dy.
var transposeCases = []Conv2DParams{
	{N: 1, H: 30, W: 29, C: 5, KH: 3, KW: 3, F: 12, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 8, H: 8, W: 8, C: 16, KH: 3, KW: 3, F: 24, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 1, H: 32, W: 33, C: 3, KH: 3, KW: 3, F: 4, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 0, PadL: 0, Groups: 1},
	{N: 1, H: 34, W: 34, C: 2, KH: 5, KW: 5, F: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 2, PadL: 2, Groups: 1},
	// By Winograd in training, where it pays (with AVX-512): F(2x2) and F(4x4).
	{N: 16, H: 14, W: 14, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 4, H: 28, W: 28, C: 64, KH: 3, KW: 3, F: 80, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 12, H: 16, W: 16, C: 32, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}, // narrow: F(4x4) only
}

// The gradients match a float64 scatter through every tap, by im2col and
// col2im and, where it applies, by a window convolution of dy.
func TestConvBackwardMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := append(append([]Conv2DParams(nil), convCases...), transposeCases...)
	cases = append(cases, windowCases[1], windowCases[3]) // stride 2 7x7; dilated rows
	// Grouped: input gradients of stride 1 as a grouped convolution of dy
	// (groups merged, of 300 channels, of 32 filters), of stride 2 by
	// phases, dilated by im2col; kernel gradients by windows where the
	// (merged) groups fill panels (not 40 filters), of stride 2 too.
	grouped := []Conv2DParams{mergedCases[0], groupedCases[0], groupedCases[2],
		{N: 2, H: 7, W: 6, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 2},
		mergedCases[1], groupedCases[1]}
	for i, p := range grouped {
		p = withOut(p)
		if want := i < 4 && i != 2; convTransposeByWindows(p) != want {
			t.Fatalf("grouped case %d: input gradient by a convolution of dy %v, want %v", i, !want, want)
		}
		if want := i >= 4; convTransposeByPhases(p) != want {
			t.Fatalf("grouped case %d: input gradient by phases %v, want %v", i, !want, want)
		}
		if want := i != 2; windowKernelGrad(p) != want {
			t.Fatalf("grouped case %d: kernel gradient by windows %v, want %v", i, !want, want)
		}
	}
	cases = append(cases, grouped...)
	// Groups of 32 over 1024 channels: the input gradient a grouped
	// convolution of dy whose rows spread their pixels (pixelStride).
	if !convTransposeByWindows(withOut(groupedCases[3])) {
		t.Fatalf("%+v: input gradient not a convolution of dy", groupedCases[3])
	}
	cases = append(cases, groupedCases[3])
	// Blocks of output rows for the kernel's gradient that span images,
	// whole and in part.
	cases = append(cases,
		Conv2DParams{N: 3, H: 5, W: 5, C: 16, KH: 3, KW: 3, F: 20, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		Conv2DParams{N: 3, H: 20, W: 21, C: 8, KH: 3, KW: 3, F: 33, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		// dy read in place for the kernel's gradient: 16 filters (12x16
		// tiles) and 64 (two 12x32 panels, F floats apart).
		Conv2DParams{N: 3, H: 9, W: 10, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		Conv2DParams{N: 2, H: 6, W: 7, C: 4, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1})
	// Kernel gradients by Winograd (with AVX-512 or AVX2): the narrow case of
	// transposeCases, and 4x4 tiles overhanging a 7x7 output.
	winoGrad := Conv2DParams{N: 63, H: 7, W: 7, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1}
	for _, p := range []Conv2DParams{winoGrad, transposeCases[len(transposeCases)-1]} {
		if (useAVX512 || useAVX2) && !winogradKernelGrads(withOut(p)) {
			t.Fatalf("%+v: kernel gradient not by Winograd", p)
		}
	}
	cases = append(cases, winoGrad)
	// Input gradients by phases: a 1x1 at stride 2 (phases no tap
	// reaches), no padding before (Keras' "same" at stride 2), stride 3,
	// and strides that differ.
	phases := []Conv2DParams{
		{N: 2, H: 8, W: 7, C: 5, KH: 1, KW: 1, F: 6, SH: 2, SW: 2, DH: 1, DW: 1, Groups: 1},
		{N: 2, H: 10, W: 9, C: 4, KH: 3, KW: 3, F: 7, SH: 2, SW: 2, DH: 1, DW: 1, Groups: 1},
		{N: 1, H: 11, W: 13, C: 3, KH: 5, KW: 5, F: 4, SH: 3, SW: 3, DH: 1, DW: 1, PadT: 2, PadL: 2, Groups: 1},
		{N: 2, H: 9, W: 12, C: 6, KH: 3, KW: 3, F: 5, SH: 1, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	}
	for _, p := range phases {
		if !convTransposeByPhases(withOut(p)) {
			t.Fatalf("%+v: input gradient not by phases", p)
		}
	}
	cases = append(cases, phases...)
	// Both gradients by the direct grouped kernels, with AVX-512 (strided
	// input gradients by phases).
	cases = append(cases, smallGroupCases...)
	for i, p := range cases {
		p = withOut(p)
		if i >= len(convCases) && i < len(convCases)+len(transposeCases) && !convTransposeByWindows(p) {
			t.Fatalf("transpose case %d: not run by windows", i)
		}
		in := randSlice(r, p.N*p.H*p.W*p.C)
		k := randSlice(r, p.KH*p.KW*p.C/p.Groups*p.F)
		dy := randSlice(r, p.N*p.OH*p.OW*p.F)
		dx := randSlice(r, len(in)) // overwritten
		dk := make([]float32, len(k))
		db := make([]float32, p.F)
		ConvBackward(p, in, k, dy, dx, dk, db)
		wx, wk, wb := naiveBackward(p, in, k, dy)
		for _, c := range []struct {
			name string
			got  []float32
			want []float64
		}{{"dx", dx, wx}, {"dkernel", dk, wk}, {"dbias", db, wb}} {
			for j := range c.want {
				if math.Abs(float64(c.got[j])-c.want[j]) > 1e-3 {
					t.Fatalf("case %d: %s[%d] = %v, want %v", i, c.name, j, c.got[j], c.want[j])
				}
			}
		}
		// With another gradient of the input added in: the same sums.
		rr := rand.New(rand.NewPCG(uint64(i), 9)) // r's draws stay those of the cases above
		res := randSlice(rr, len(in))
		dxRes := randSlice(rr, len(in))
		ConvBackwardAdd(p, in, k, dy, dxRes, res, make([]float32, len(k)), nil)
		for j, v := range dxRes {
			if want := dx[j] + res[j]; v != want {
				t.Fatalf("case %d: dx[%d] + res = %v, want %v", i, j, v, want)
			}
		}
	}
}

func BenchmarkConvForward3x3(b *testing.B) {
	p := withOut(Conv2DParams{N: 16, H: 56, W: 56, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1})
	r := rand.New(rand.NewPCG(1, 1))
	in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, 9*p.C*p.F)
	out := make([]float32, p.N*p.OH*p.OW*p.F)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ConvForward(p, in, k, nil, out)
	}
	flops := 2 * float64(p.N*p.OH*p.OW*p.F*9*p.C)
	reportSpeed(b, flops, Workers())
}

// Window cases: output rows at least windowMinWidth wide.
var windowCases = []Conv2DParams{
	{N: 2, H: 30, W: 30, C: 5, KH: 3, KW: 3, F: 40, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 1, H: 61, W: 61, C: 3, KH: 7, KW: 7, F: 64, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 3, PadL: 3, Groups: 1},
	{N: 1, H: 57, W: 56, C: 300, KH: 3, KW: 3, F: 33, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 1, H: 34, W: 32, C: 4, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 2, DW: 1, PadT: 2, PadL: 1, Groups: 1},
	// Rows of 37 = 12+12+13 pixels: AVX-512's 13-row tile.
	{N: 1, H: 5, W: 37, C: 8, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
}

// Gathered cases: narrow outputs whose rows the product gathers block by
// block (gatheredRows), over several k blocks (blocks that straddle
// kernel taps too) and several blocks of rows.
var gatheredCases = []Conv2DParams{
	{N: 1, H: 7, W: 7, C: 200, KH: 3, KW: 3, F: 40, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 3, H: 9, W: 7, C: 96, KH: 3, KW: 3, F: 48, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 2, H: 14, W: 14, C: 64, KH: 3, KW: 3, F: 70, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	{N: 1, H: 20, W: 20, C: 40, KH: 3, KW: 3, F: 36, SH: 1, SW: 1, DH: 2, DW: 2, PadT: 2, PadL: 2, Groups: 1},
}

// A 1x1 convolution over more channels than a block of k (kc): its
// product adds up several blocks.
var deepPointwise = Conv2DParams{N: 1, H: 7, W: 7, C: 520, KH: 1, KW: 1, F: 40, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}

// Groups of fewer filters than a panel, which PackConvKernel packs
// together (ResNeXt's 3x3 convolutions, in small).
var mergedCases = []Conv2DParams{
	{N: 1, H: 9, W: 9, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 16},  // 4 filters a group: 2 of 8 merged
	{N: 2, H: 10, W: 10, C: 32, KH: 3, KW: 3, F: 64, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 8}, // 8 from 4 channels: 2 of 4
	{N: 1, H: 6, W: 5, C: 32, KH: 1, KW: 1, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 4},                     // all four as one
}

// Packing a plan's kernel, once and kept, takes no scratch from the pool:
// a pooled buffer the size of a large 1x1 kernel stays held for good
// (ResNet-50's batch-1 peak memory rose from 144 to 173 MB so).
func TestPackConvKernelHoldsNoScratch(t *testing.T) {
	p := withOut(Conv2DParams{N: 1, H: 7, W: 7, C: 1000, KH: 1, KW: 1, F: 1100, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1})
	before := scratch.held()
	PackConvKernel(p, make([]float32, p.C*p.F))
	if grew := scratch.held() - before; grew > 0 {
		t.Errorf("packing a %dx%d kernel left %d more floats in the scratch pool", p.C, p.F, grew)
	}
}

// Groups of a panel's filters or more, unmerged, by windows (a stretch of
// the group's channels a tap): channels past a block of k, stride 2,
// dilated rows and a short last panel (9 taps of 48 channels: blocks of 5
// and 4).
var groupedCases = []Conv2DParams{
	{N: 1, H: 6, W: 7, C: 600, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 2},
	{N: 2, H: 14, W: 13, C: 128, KH: 3, KW: 3, F: 128, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 4},
	{N: 1, H: 9, W: 11, C: 96, KH: 3, KW: 3, F: 80, SH: 1, SW: 1, DH: 2, DW: 1, PadT: 2, PadL: 1, Groups: 2},
	// Channels a multiple of 1024 (pixels 4 KB apart): the zero-bordered
	// rows spread a line further apart (pixelStride), groups of 32 and 64.
	{N: 2, H: 6, W: 5, C: 1024, KH: 3, KW: 3, F: 1024, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32},
	{N: 1, H: 9, W: 8, C: 2048, KH: 3, KW: 3, F: 1024, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32},
}

// The packed path (window convolution where it applies, rows gathered or
// im2col elsewhere) matches the reference convolution with every kernel
// the CPU has, and its fused epilogue matches relu(conv + bias + residual),
// as does ConvAccumulatePacked onto the residual.
func TestConvForwardPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, isa := range kernelISAs(t) {
		isa.use()
		for i, p := range slices.Concat(convCases, windowCases, gatheredCases, []Conv2DParams{deepPointwise}, mergedCases, groupedCases, smallGroupCases) {
			p = withOut(p)
			in := randSlice(r, p.N*p.H*p.W*p.C)
			k := randSlice(r, p.KH*p.KW*p.C/p.Groups*p.F)
			want := make([]float32, p.N*p.OH*p.OW*p.F)
			got := make([]float32, len(want))
			Conv2D(p, in, k, nil, want)
			packed := PackConvKernel(p, k)
			// The direct grouped kernels, with AVX-512, for the small
			// groups' cases (and the first merged one).
			firstSmall := len(convCases) + len(windowCases) + len(gatheredCases) + 1 + len(mergedCases) + len(groupedCases)
			small := useAVX512 && i >= firstSmall
			if g := smallGroupSize(p); g != packed[0].group || small && g == 0 {
				t.Fatalf("%s case %d: packed for groups of %d, want %d", isa.name, i, packed[0].group, g)
			}
			w := i >= len(convCases) && i < len(convCases)+len(windowCases)
			if p.Groups > 1 && p.KH*p.KW > 1 && exactTiles() {
				w = true // grouped: by windows where the kernels take every height
			}
			if i < firstSmall && packed[0].group == 0 && w != windowApplies(asPacked(p, packed), packed[0]) {
				t.Fatalf("case %d: run by windows %v, want %v", i, !w, w)
			}
			if spread := layoutOf(p).spread != nil; w && spread != (p.Groups > 1 && p.C%1024 == 0) {
				t.Fatalf("case %d: pixels spread %v, want %v", i, spread, !spread)
			}
			first := len(convCases) + len(windowCases) + len(gatheredCases) + 1
			if merged := i >= first && i < first+len(mergedCases); packed[0].group == 0 && i < firstSmall && merged != (len(packed) < p.Groups) {
				t.Fatalf("case %d: %d groups packed as %d", i, p.Groups, len(packed))
			}
			tol := 1e-5 * math.Sqrt(float64(p.KH*p.KW*p.C)) * 4
			ConvForwardPacked(p, in, packed, got, nil)
			for j := range want {
				if math.Abs(float64(got[j]-want[j])) > tol {
					t.Fatalf("%s case %d: packed out[%d] = %v, want %v", isa.name, i, j, got[j], want[j])
				}
			}
			// With the epilogue: relu(conv + bias + residual).
			bias := randSlice(r, p.F)
			res := randSlice(r, len(want))
			ConvForwardPacked(p, in, packed, got, &Epilogue{Bias: bias, Res: res, LdRes: p.F, Relu: true})
			onto := slices.Clone(res)
			ConvAccumulatePacked(p, in, packed, onto, &Epilogue{Bias: bias, Relu: true})
			fused := finished(want, bias, res)
			for _, c := range []struct {
				how string
				out []float32
			}{{"fused", got}, {"accumulated", onto}} {
				for j, w := range fused {
					if math.Abs(float64(c.out[j]-w)) > tol {
						t.Fatalf("%s case %d: %s out[%d] = %v, want %v", isa.name, i, c.how, j, c.out[j], w)
					}
				}
			}
		}
	}
}

// Grouped convolutions of random shapes (seeded: groups merged or not,
// of 1 to 40 channels and filters, kernels 1 to 5 wide, strides,
// dilations, padding on either side) match the reference by the packed
// path, its epilogue and accumulation, and by Winograd where it applies,
// with every kernel the CPU has.
func TestConvGroupedShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	pick := func(xs ...int) int { return xs[r.IntN(len(xs))] }
	var h OffHeap
	defer h.Free()
	var windows, wino int
	for range 60 {
		p := Conv2DParams{N: 1 + r.IntN(2), H: 3 + r.IntN(16), W: 3 + r.IntN(16), Groups: pick(2, 3, 4, 8, 16, 32),
			KH: pick(1, 2, 3, 3, 5), KW: pick(1, 3, 3, 5), SH: 1 + r.IntN(2), SW: 1 + r.IntN(2), DH: pick(1, 1, 2), DW: pick(1, 1, 1, 2)}
		cg, fg := pick(1, 2, 4, 8, 16, 24, 32, 40), pick(1, 4, 8, 16, 32, 40)
		p.C, p.F = cg*p.Groups, fg*p.Groups
		p.PadT, p.PadL = r.IntN(p.KH), r.IntN(p.KW)
		p = withOut(p)
		if r.IntN(3) == 0 { // padding past the end as well: one more output each way
			p.OH, p.OW = p.OH+1, p.OW+1
		}
		if p.OH < 1 || p.OW < 1 {
			continue
		}
		in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, p.KH*p.KW*cg*p.F)
		bias, res := randSlice(r, p.F), randSlice(r, p.N*p.OH*p.OW*p.F)
		conv := make([]float32, len(res))
		Conv2D(p, in, k, nil, conv)
		want := finished(conv, bias, res)
		check := func(isa, how string, got []float32, tol float64) {
			t.Helper()
			for j := range want {
				if d := math.Abs(float64(got[j] - want[j])); !(d <= tol) {
					t.Fatalf("%s %s %+v: out[%d] = %v, want %v", isa, how, p, j, got[j], want[j])
				}
			}
		}
		for _, isa := range kernelISAs(t) {
			isa.use()
			packed := PackConvKernel(p, k)
			if isa.name == "avx512" && packed[0].group == 0 && windowApplies(asPacked(p, packed), packed[0]) {
				windows++
			}
			tol := 1e-5 * math.Sqrt(float64(p.KH*p.KW*cg)) * 4
			got := make([]float32, len(want))
			ConvForwardPacked(p, in, packed, got, &Epilogue{Bias: bias, Res: res, LdRes: p.F, Relu: true})
			check(isa.name, "packed", got, tol)
			onto := slices.Clone(res)
			ConvAccumulatePacked(p, in, packed, onto, &Epilogue{Bias: bias, Relu: true})
			check(isa.name, "accumulated", onto, tol)
			if !WinogradApplies(p) {
				continue
			}
			wino++
			wk := WinogradKernelFromPacked(&h, packed, p.C, 2, p.SH, false)
			WinogradConv(p, in, wk, got, &Epilogue{Bias: bias, Res: res, LdRes: p.F, Relu: true})
			check(isa.name, "Winograd", got, 1e-4*math.Sqrt(float64(cg)))
		}
	}
	t.Logf("%d shapes by windows with AVX-512, %d runs by Winograd", windows, wino)
}

// Winograd matches the direct convolution within a bound that grows with
// the channels, with each kernel the CPU has: odd sizes (edge tiles),
// several images and blocks of tiles, channels in and out of 16-wide
// groups, and the fused bias, residual and ReLU.
func TestWinogradMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []Conv2DParams{
		{N: 2, H: 7, W: 6, C: 5, KH: 3, KW: 3, F: 9, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		{N: 1, H: 8, W: 8, C: 16, KH: 3, KW: 3, F: 16, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 0, PadL: 0, Groups: 1},
		{N: 3, H: 14, W: 13, C: 32, KH: 3, KW: 3, F: 20, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		{N: 2, H: 28, W: 28, C: 64, KH: 3, KW: 3, F: 48, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		// Edge tiles partly outside the output, channels the assembly takes.
		{N: 2, H: 14, W: 10, C: 32, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		{N: 1, H: 7, W: 7, C: 16, KH: 3, KW: 3, F: 48, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		// Many channels, as ResNet-50's 7x7 stage runs by F(4x4) from 16 images.
		{N: 2, H: 7, W: 7, C: 512, KH: 3, KW: 3, F: 32, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		// Stride 2: ResNet-50's shapes in small, odd outputs (a last tile
		// half outside), no padding, padding only past the input's end
		// (Keras' "same" on an even input).
		{N: 2, H: 16, W: 16, C: 32, KH: 3, KW: 3, F: 48, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		{N: 3, H: 14, W: 13, C: 16, KH: 3, KW: 3, F: 32, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
		{N: 1, H: 9, W: 11, C: 5, KH: 3, KW: 3, F: 9, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 0, PadL: 0, Groups: 1},
		{N: 2, H: 8, W: 8, C: 64, KH: 3, KW: 3, F: 32, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 0, PadL: 0, OH: 4, OW: 4, Groups: 1},
		{N: 1, H: 56, W: 56, C: 128, KH: 3, KW: 3, F: 32, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1},
	}
	for _, isa := range kernelISAs(t) {
		isa.use()
		for i, p := range cases {
			if p.OH == 0 {
				p = withOut(p)
			}
			if !WinogradApplies(p) {
				t.Fatalf("case %d: not applicable", i)
			}
			in := randSlice(r, p.N*p.H*p.W*p.C)
			k := randSlice(r, 9*p.C*p.F)
			bias, res := randSlice(r, p.F), randSlice(r, p.N*p.OH*p.OW*p.F)
			want := make([]float32, p.N*p.OH*p.OW*p.F)
			got := make([]float32, len(want))
			Conv2D(p, in, k, nil, want)
			tiles := []int{2, 4}
			if p.SH == 2 {
				tiles = []int{2}
			}
			for _, tile := range tiles {
				wk := NewWinogradKernelTile(k, p.C, p.F, tile, p.SH)
				for _, ep := range []*Epilogue{nil, {Bias: bias, Res: res, LdRes: p.F, Relu: true}} {
					WinogradConv(p, in, wk, got, ep)
					w := want
					if ep != nil {
						w = finished(want, bias, res)
					}
					worst, scale := largestError(got, w)
					t.Logf("%s case %d F(%dx%d,3x3) stride %d epilogue %v: largest error %.3g of %.3g (%.2g relative)", isa.name, i, tile, tile, p.SH, ep != nil, worst, scale, worst/scale)
					if worst > 1e-5*scale*math.Sqrt(float64(p.C)) {
						t.Errorf("%s case %d F(%dx%d,3x3): Winograd differs from direct by %g (scale %g)", isa.name, i, tile, tile, worst, scale)
					}
				}
				// The residual may be the output itself: the same bits.
				onto := slices.Clone(res)
				WinogradConv(p, in, wk, onto, &Epilogue{Bias: bias, Res: onto, LdRes: p.F, Relu: true})
				if j := firstDiff(onto, got); j >= 0 {
					t.Errorf("%s case %d F(%dx%d,3x3): onto the residual out[%d] = %v, want %v", isa.name, i, tile, tile, j, onto[j], got[j])
				}
			}
		}
	}
}

// A grouped convolution runs by Winograd with a product for each group as
// PackConvKernel packed them (merged or not): the same results as the
// reference, by each form, from the packed kernel and from its F(2x2)
// transform retiled, onto the residual to the bit.
func TestWinogradGrouped(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	cases := []Conv2DParams{
		// ResNeXt-50's first stage in small: 4 filters a group, 8 merged.
		{N: 1, H: 9, W: 10, C: 128, KH: 3, KW: 3, F: 128, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32},
		// 32 filters a group (ResNeXt-101's third stage), none merged.
		{N: 2, H: 7, W: 7, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 2},
		// Stride 2, 8 filters from 8 channels a group, 4 merged.
		{N: 2, H: 12, W: 11, C: 64, KH: 3, KW: 3, F: 64, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 8},
	}
	var h OffHeap
	defer h.Free()
	for _, isa := range kernelISAs(t) {
		isa.use()
		for i, p := range cases {
			p = withOut(p)
			in := randSlice(r, p.N*p.H*p.W*p.C)
			k := randSlice(r, 9*p.C/p.Groups*p.F)
			bias, res := randSlice(r, p.F), randSlice(r, p.N*p.OH*p.OW*p.F)
			conv := make([]float32, len(res))
			Conv2D(p, in, k, nil, conv)
			want := finished(conv, bias, res)
			packed := packGroups(p, k, nil) // as the products take them (not the direct kernels')
			kernels := map[string]*WinogradKernel{"F(2x2)": WinogradKernelFromPacked(&h, packed, p.C, 2, p.SH, false)}
			if p.SH == 1 {
				kernels["F(4x4)"] = WinogradKernelFromPacked(&h, packed, p.C, 4, 1, false)
				kernels["F(2x2) retiled to F(4x4)"] = WinogradKernelRetiled(&h, kernels["F(2x2)"], 4, false)
			}
			for name, wk := range kernels {
				got := make([]float32, len(want))
				WinogradConv(p, in, wk, got, &Epilogue{Bias: bias, Res: res, LdRes: p.F, Relu: true})
				if worst, scale := largestError(got, want); worst > 1e-5*scale*math.Sqrt(float64(p.C/p.Groups)) {
					t.Errorf("%s case %d %s: Winograd differs from direct by %g (scale %g)", isa.name, i, name, worst, scale)
				}
				onto := slices.Clone(res)
				WinogradConv(p, in, wk, onto, &Epilogue{Bias: bias, Res: onto, LdRes: p.F, Relu: true})
				if j := firstDiff(onto, got); j >= 0 {
					t.Errorf("%s case %d %s: onto the residual out[%d] = %v, want %v", isa.name, i, name, j, onto[j], got[j])
				}
			}
		}
	}
}

// WinogradTile takes F(4x4, 3x3) where it saves 1.5 times the
// multiplications of F(2x2, 3x3), on outputs from 28x28 or from 64 of its
// tiles, and where it saves less, from 128.
func TestWinogradTile(t *testing.T) {
	for _, isa := range vectorISAs(t) {
		isa.use()
		testWinogradTile(t, isa.name)
	}
}

func testWinogradTile(t *testing.T, isa string) {
	for _, c := range []struct{ n, size, c, want int }{
		{1, 56, 64, 4}, {1, 28, 128, 4}, // whole 4x4 tiles
		{1, 14, 256, 2}, {7, 14, 256, 2}, {8, 14, 256, 4}, {64, 14, 256, 4}, // 4x4 tiles save 1.36x: overhang, from 128 tiles
		{64, 14, 32, 2},                                 // not for narrow layers
		{1, 7, 512, 2}, {8, 7, 512, 2}, {16, 7, 512, 4}, // 16 2x2 tiles an image, 4 4x4 ones
		{15, 8, 64, 2}, {16, 8, 64, 4},
		{16, 7, 40, 2}, // channels the transforms do not take
	} {
		p := Conv2DParams{N: c.n, OH: c.size, OW: c.size, C: c.c, F: c.c, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}
		if got := WinogradTile(p); got != c.want {
			t.Errorf("%s: %d images of %dx%dx%d: tile %d, want %d", isa, c.n, c.size, c.size, c.c, got, c.want)
		}
	}
}

// Small images are copied whole for their Winograd tiles where the border
// tiles' windows would copy more, one block takes whole images and the
// copy fits in L2 beside the transforms; elsewhere windows are copied
// one by one.
func TestTileSourceWhole(t *testing.T) {
	for _, c := range []struct {
		size, c, m, stride, bt int
		want                   bool
	}{
		{16, 32, 4, 1, 32, true},   // ResNet-20's 16x16x32 at batch 128: 12 of 16 windows in the padding
		{8, 64, 2, 1, 96, true},    // 8x8x64: all 16 windows reach the border
		{16, 32, 4, 1, 8, false},   // a block of half an image's tiles (batch 1)
		{14, 256, 4, 1, 32, false}, // ResNet-50's 14x14x256: 331 KB
		{56, 64, 4, 1, 72, false},  // 52 of 196 windows: fewer pixels than the image
		{32, 64, 2, 2, 96, false},  // stride 2, 32x32x64 in: a window of 5x5 every 4 pixels
	} {
		p := withOut(Conv2DParams{N: 1, H: c.size, W: c.size, C: c.c, F: c.c, KH: 3, KW: 3, SH: c.stride, SW: c.stride, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1})
		form := winoFormFor(c.m, c.stride)
		th, tw := (p.OH+c.m-1)/c.m, (p.OW+c.m-1)/c.m
		s := newTileSource(p, len(form.g), c.m*c.stride, th, tw, c.bt)
		if got := s.whole; got != c.want {
			t.Errorf("%dx%dx%d F(%dx%d) stride %d, blocks of %d tiles: whole image %v, want %v", c.size, c.size, c.c, c.m, c.m, c.stride, c.bt, got, c.want)
		}
		s.free()
	}
}

// Winograd pays from one image on for large outputs, from the batch
// whose tiles are enough for small ones, and for narrow layers only by
// F(4x4), which WinogradTile then takes; of stride 2, for outputs from
// 14x14 (with AVX2 only, from two images).
func TestWinogradMinBatch(t *testing.T) {
	for _, isa := range vectorISAs(t) {
		isa.use()
		testWinogradMinBatch(t, isa.name)
	}
}

func testWinogradMinBatch(t *testing.T, isa string) {
	for _, c := range []struct{ size, c, want int }{
		{56, 64, 1}, {14, 256, 1}, {7, 512, 2}, {8, 64, 2},
		{32, 32, 1}, {16, 32, 4}, {8, 32, 16}, // narrow: 64 4x4 tiles
		{14, 32, 0}, // narrow, and F(4x4)'s tiles overhang
		{32, 16, 0}, {16, 48, 4}, {16, 40, 0},
	} {
		p := Conv2DParams{N: 1, OH: c.size, OW: c.size, C: c.c, F: c.c, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}
		got := WinogradMinBatch(p)
		if got != c.want {
			t.Errorf("%s: %dx%dx%d: from batch %d, want %d", isa, c.size, c.size, c.c, got, c.want)
		}
		if p.N = got; got > 0 && c.c < minWinogradChannels && WinogradTile(p) != 4 {
			t.Errorf("%dx%dx%d: %d images take tile %d, want 4", c.size, c.size, c.c, got, WinogradTile(p))
		}
	}
	// Stride 2: outputs from 14x14, by 2x2 tiles, never in training.
	for _, c := range []struct{ size, c, want int }{{28, 128, 1}, {14, 256, 1}, {7, 512, 0}, {28, 32, 0}} {
		p := Conv2DParams{N: 16, OH: c.size, OW: c.size, C: c.c, F: c.c, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, Groups: 1}
		if c.want == 1 && isa == "avx2" {
			c.want = 2
		}
		if got := WinogradMinBatch(p); got != c.want {
			t.Errorf("%s: stride 2, %dx%dx%d: from batch %d, want %d", isa, c.size, c.size, c.c, got, c.want)
		}
		if WinogradTile(p) != 2 || winogradTrains(p) {
			t.Errorf("stride 2, %dx%dx%d: tile %d, trains %v; want 2, false", c.size, c.size, c.c, WinogradTile(p), winogradTrains(p))
		}
	}
	// Grouped (32 groups): as ungrouped where groups are merged, else
	// never; never of stride 2, never in training; F(2x2) where F(4x4)'s
	// tiles overhang; never where the direct kernels take the groups
	// (AVX-512, groups of 4 to 16 channels).
	for _, c := range []struct{ size, c, stride, want, tile16 int }{
		{56, 128, 1, 1, 4}, {28, 256, 1, 1, 4}, {14, 512, 1, 1, 2}, {7, 256, 1, 2, 4}, // 4 to 16 filters a group
		{7, 1024, 1, 0, 0}, {14, 1024, 1, 0, 0}, {7, 2048, 1, 0, 0}, // 32 and 64
		{28, 512, 2, 0, 0}, {56, 256, 2, 0, 0},
	} {
		p := Conv2DParams{N: 1, OH: c.size, OW: c.size, C: c.c, F: c.c, KH: 3, KW: 3, SH: c.stride, SW: c.stride, DH: 1, DW: 1, Groups: 32}
		if smallGroupSize(p) > 0 {
			c.want = 0
		}
		if got := WinogradMinBatch(p); got != c.want {
			t.Errorf("%s: grouped %dx%dx%d stride %d: from batch %d, want %d", isa, c.size, c.size, c.c, c.stride, got, c.want)
		}
		p.N = 16
		if c.want > 0 && WinogradTile(p) != c.tile16 {
			t.Errorf("%s: grouped %dx%dx%d, 16 images: tile %d, want %d", isa, c.size, c.size, c.c, WinogradTile(p), c.tile16)
		}
		if winogradTrains(p) {
			t.Errorf("%s: grouped %dx%dx%d trains by Winograd", isa, c.size, c.size, c.c)
		}
	}
}

// The assembly transforms give the portable ones' bits, for both tile
// sizes and stride 2, with each part of the epilogue.
func TestWinogradTransformsAgree(t *testing.T) {
	type outputFn func(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool
	type outputGoFn func(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int)
	for _, tc := range []struct {
		form        *winoForm
		input, inGo func(int, []float32, int, int, []float32, int)
		output      outputFn
		outGo       outputGoFn
	}{
		{winoForms[2], winoInput, winoInputGo, winoOutputAsm, winoOutputGo},
		{winoForms[4], winoInput4, winoInput4Go, winoOutput4Asm, winoOutput4Go},
		{winoFormS2, winoInputS2, winoInputS2Go, winoOutputS2Asm, winoOutputS2Go},
	} {
		tile := tc.form.m
		r := rand.New(rand.NewPCG(13, uint64(tile*tc.form.stride)))
		n := len(tc.form.g)
		const c, pix, es = 48, 48, 50
		row := (n + 3) * c
		src := randSlice(r, n*row)
		bias, res := randSlice(r, c), randSlice(r, tile*row)
		for _, isa := range kernelISAs(t) {
			isa.use()
			var v [2][]float32
			for i, fn := range []func(int, []float32, int, int, []float32, int){tc.input, tc.inGo} {
				v[i] = make([]float32, n*n*es)
				fn(c, src, row, pix, v[i], es)
			}
			if i := firstDiff(v[0], v[1]); i >= 0 {
				t.Fatalf("%s F(%d) stride %d: input transforms differ at %d: %g, %g", isa.name, tile, tc.form.stride, i, v[0][i], v[1][i])
			}
			for _, ep := range []struct {
				bias, res []float32
				relu      bool
			}{{nil, nil, false}, {bias, nil, true}, {bias, res, true}, {nil, res, false}} {
				var y [2][]float32
				for i := range y {
					y[i] = make([]float32, tile*row)
				}
				if !tc.output(c, v[0], es, y[0], row, pix, ep.bias, ep.res, ep.relu) {
					continue
				}
				tc.outGo(c, v[0], es, y[1], row, pix, ep.bias, ep.res, ep.relu, tile, tile)
				if i := firstDiff(y[0], y[1]); i >= 0 {
					t.Fatalf("%s F(%d) stride %d bias=%v res=%v relu=%v: output transforms differ at %d: %g, %g",
						isa.name, tile, tc.form.stride, ep.bias != nil, ep.res != nil, ep.relu, i, y[0][i], y[1][i])
				}
				// A tile partly outside the output: the assembly through
				// the edge scratch, then the epilogue, as the Go transform.
				for _, size := range [][2]int{{tile - 1, tile}, {tile, 1}, {1, tile - 1}} {
					p := Conv2DParams{N: 1, OH: size[0], OW: size[1], F: c}
					var e *Epilogue // an Epilogue always has a bias
					if ep.bias != nil {
						e = &Epilogue{Bias: ep.bias, Res: ep.res, LdRes: c, Relu: ep.relu}
					}
					got, want := make([]float32, size[0]*size[1]*c), make([]float32, size[0]*size[1]*c)
					winoOutput(p, tc.form, v[0], es, got, 0, 0, 0, e, make([]float32, tile*tile*c))
					if e == nil {
						tc.outGo(c, v[0], es, want, size[1]*c, c, nil, nil, false, size[0], size[1])
					} else {
						tc.outGo(c, v[0], es, want, size[1]*c, c, e.Bias, e.Res, e.Relu, size[0], size[1])
					}
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s F(%d) stride %d %dx%d edge tile bias=%v res=%v relu=%v: differs at %d: %g, %g",
							isa.name, tile, tc.form.stride, size[0], size[1], ep.bias != nil, ep.res != nil, ep.relu, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkConvWinogradStride2 compares stride-2 Winograd with
// ConvForwardPacked on ResNet-50's 3x3 stride-2 layers (torchvision's
// layout) at batch 1 and 16, in direct-convolution GFLOP/s.
func BenchmarkConvWinogradStride2(b *testing.B) {
	for _, s := range [][3]int{{1, 56, 128}, {1, 28, 256}, {1, 14, 512}, {16, 56, 128}, {16, 28, 256}, {16, 14, 512}} {
		p := withOut(Conv2DParams{N: s[0], H: s[1], W: s[1], C: s[2], KH: 3, KW: 3, F: s[2], SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1})
		r := rand.New(rand.NewPCG(1, 1))
		in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, 9*p.C*p.F)
		out := make([]float32, p.N*p.OH*p.OW*p.F)
		wk := NewWinogradKernelTile(k, p.C, p.F, 2, 2)
		pk := PackConvKernel(p, k)
		flops := 2 * float64(p.N*p.OH*p.OW*p.F*9*p.C)
		name := fmt.Sprintf("%dx%dx%dx%d", s[0], s[1], s[1], s[2])
		benchConv(b, name+"/winograd", flops, func() { WinogradConv(p, in, wk, out, nil) })
		benchConv(b, name+"/packed", flops, func() { ConvForwardPacked(p, in, pk, out, nil) })
	}
}

// benchConv times run as a convolution of flops (direct) FLOPs.
func benchConv(b *testing.B, name string, flops float64, run func()) {
	b.Run(name, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run()
		}
		reportSpeed(b, flops, Workers())
	})
}

// BenchmarkConvWinograd3x3 compares Winograd with ConvForwardPacked on
// ResNet-50's 3x3 stride-1 shapes at batch 1, in direct-convolution
// GFLOP/s (so Winograd can pass the machine's peak).
func BenchmarkConvWinograd3x3(b *testing.B) {
	for _, s := range [][2]int{{56, 64}, {28, 128}, {14, 256}, {7, 512}} {
		p := withOut(Conv2DParams{N: 1, H: s[0], W: s[0], C: s[1], KH: 3, KW: 3, F: s[1], SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 1})
		r := rand.New(rand.NewPCG(1, 1))
		in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, 9*p.C*p.F)
		out := make([]float32, p.N*p.OH*p.OW*p.F)
		wk := NewWinogradKernel(k, p.C, p.F)
		wk4 := NewWinogradKernelTile(k, p.C, p.F, 4, 1)
		pk := PackConvKernel(p, k)
		flops := 2 * float64(p.N*p.OH*p.OW*p.F*9*p.C)
		name := fmt.Sprintf("%dx%dx%d", s[0], s[0], s[1])
		benchConv(b, name+"/winograd", flops, func() { WinogradConv(p, in, wk, out, nil) })
		benchConv(b, name+"/winograd4", flops, func() { WinogradConv(p, in, wk4, out, nil) })
		benchConv(b, name+"/packed", flops, func() { ConvForwardPacked(p, in, pk, out, nil) })
	}
}

// BenchmarkConvGrouped compares the ways of the grouped 3x3 shapes
// (batch, input side, channels, stride; 32 groups) of ResNeXt-50 32x4d and
// ResNeXt-101 32x8d, each with the kernel packed as a plan keeps it:
// ConvForwardPacked as the library chooses ("packed": the direct kernels
// for groups of up to 16 channels with AVX-512), and the products of
// merged groups, by windows ("merged") or by Winograd.
func BenchmarkConvGrouped(b *testing.B) {
	var h OffHeap
	defer h.Free()
	for _, s := range [][4]int{
		{1, 56, 128, 1}, {1, 56, 256, 2}, {1, 28, 256, 1}, {1, 28, 512, 2}, {1, 14, 512, 1}, {1, 14, 1024, 2}, {1, 7, 1024, 1},
		{16, 56, 128, 1}, {16, 28, 256, 1}, {16, 14, 512, 1}, {16, 7, 1024, 1},
		{1, 14, 1024, 1}, {16, 14, 1024, 1}, {1, 7, 2048, 1}, {2, 7, 2048, 1}, {16, 7, 2048, 1}, {4, 7, 1024, 1},
		{1, 56, 256, 1}, {1, 56, 512, 2}, {1, 28, 512, 1}, {16, 28, 512, 1},
	} {
		p := withOut(Conv2DParams{N: s[0], H: s[1], W: s[1], C: s[2], KH: 3, KW: 3, F: s[2], SH: s[3], SW: s[3], DH: 1, DW: 1, PadT: 1, PadL: 1, Groups: 32})
		r := rand.New(rand.NewPCG(1, 1))
		in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, 9*p.C/p.Groups*p.F)
		out := make([]float32, p.N*p.OH*p.OW*p.F)
		ep := &Epilogue{Bias: randSlice(r, p.F), Relu: true}
		pk, merged := PackConvKernel(p, k), packGroups(p, k, nil)
		flops := 2 * float64(p.N*p.OH*p.OW*p.F*9*p.C/p.Groups)
		name := fmt.Sprintf("%dx%dx%dx%ds%d", s[0], s[1], s[1], s[2], s[3])
		tiles := []int{2, 4}
		if p.SH == 2 {
			tiles = []int{2}
		}
		for _, m := range tiles {
			wk := WinogradKernelFromPacked(&h, merged, p.C, m, p.SH, false)
			benchConv(b, fmt.Sprintf("%s/winograd%d", name, m), flops, func() { WinogradConv(p, in, wk, out, ep) })
		}
		benchConv(b, name+"/packed", flops, func() { ConvForwardPacked(p, in, pk, out, ep) })
		if pk[0].group > 0 {
			benchConv(b, name+"/merged", flops, func() { convPacked(p, in, merged, out, false, ep) })
		}
	}
}

// BenchmarkConvResNet50 times ConvForwardPacked (window or im2col, as it
// chooses) on ResNet-50's convolution shapes at batch 1.
func BenchmarkConvResNet50(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Conv2DParams
	}{
		{"stem7x7s2", Conv2DParams{H: 224, W: 224, C: 3, KH: 7, KW: 7, F: 64, SH: 2, SW: 2, PadT: 3, PadL: 3}},
		{"56x56x64_3x3", Conv2DParams{H: 56, W: 56, C: 64, KH: 3, KW: 3, F: 64, SH: 1, SW: 1, PadT: 1, PadL: 1}},
		{"56x56x128_3x3s2", Conv2DParams{H: 56, W: 56, C: 128, KH: 3, KW: 3, F: 128, SH: 2, SW: 2, PadT: 1, PadL: 1}},
		{"28x28x128_3x3", Conv2DParams{H: 28, W: 28, C: 128, KH: 3, KW: 3, F: 128, SH: 1, SW: 1, PadT: 1, PadL: 1}},
		{"14x14x256_3x3", Conv2DParams{H: 14, W: 14, C: 256, KH: 3, KW: 3, F: 256, SH: 1, SW: 1, PadT: 1, PadL: 1}},
		{"7x7x512_3x3", Conv2DParams{H: 7, W: 7, C: 512, KH: 3, KW: 3, F: 512, SH: 1, SW: 1, PadT: 1, PadL: 1}},
		{"56x56x256_1x1s2", Conv2DParams{H: 56, W: 56, C: 256, KH: 1, KW: 1, F: 512, SH: 2, SW: 2}},
	} {
		p := c.p
		p.N, p.DH, p.DW, p.Groups = 1, 1, 1, 1
		p = withOut(p)
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			in, k := randSlice(r, p.N*p.H*p.W*p.C), randSlice(r, p.KH*p.KW*p.C*p.F)
			out := make([]float32, p.N*p.OH*p.OW*p.F)
			pk := PackConvKernel(p, k)
			for i := 0; i < b.N; i++ {
				ConvForwardPacked(p, in, pk, out, nil)
			}
			flops := 2 * float64(p.N*p.OH*p.OW*p.F*p.KH*p.KW*p.C)
			reportSpeed(b, flops, Workers())
		})
	}
}

// A convolution and a projection shortcut in one pass match the two
// reference convolutions summed, then biased and rectified: stride 1 and
// 2, rows short of a panel, two-part products of several k blocks.
func TestConvPairForward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ n, h, c1, c2, f, stride int }{
		{1, 7, 16, 24, 40, 1},
		{2, 9, 300, 40, 64, 2},
		{1, 14, 64, 520, 96, 2},
		{2, 32, 40, 72, 48, 2},
	} {
		oh := (tc.h-1)/tc.stride + 1
		p1 := Conv2DParams{N: tc.n, H: oh, W: oh, C: tc.c1, KH: 1, KW: 1, F: tc.f, SH: 1, SW: 1, DH: 1, DW: 1, OH: oh, OW: oh, Groups: 1}
		p2 := Conv2DParams{N: tc.n, H: tc.h, W: tc.h, C: tc.c2, KH: 1, KW: 1, F: tc.f, SH: tc.stride, SW: tc.stride, DH: 1, DW: 1, OH: oh, OW: oh, Groups: 1}
		in1, in2 := randSlice(r, tc.n*oh*oh*tc.c1), randSlice(r, tc.n*tc.h*tc.h*tc.c2)
		k1, k2 := randSlice(r, tc.c1*tc.f), randSlice(r, tc.c2*tc.f)
		bias := randSlice(r, tc.f)
		want, part := make([]float32, tc.n*oh*oh*tc.f), make([]float32, tc.n*oh*oh*tc.f)
		Conv2D(p1, in1, k1, bias, want)
		Conv2D(p2, in2, k2, nil, part)
		for i := range want {
			want[i] = max(want[i]+part[i], 0)
		}
		got := make([]float32, len(want))
		b := PackBPair(PackB(Mat{Data: k1, Stride: tc.f}, tc.c1, tc.f), PackB(Mat{Data: k2, Stride: tc.f}, tc.c2, tc.f))
		ConvPairForward(p1, in1, p2, in2, b, got, &Epilogue{Bias: bias, Relu: true})
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Sqrt(float64(tc.c1+tc.c2)) {
				t.Fatalf("%+v: out[%d] = %v, want %v", tc, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkConvPairForward times ResNet-50's projection blocks' last
// convolution and shortcut in one pass (torchvision's layout: the
// shortcut of stride 2) at batch 1 and 16, operands rotated through 128
// MB as a network meets them, against the same product from one matrix.
func BenchmarkConvPairForward(b *testing.B) {
	type operands struct {
		in1, in2, out []float32
		b             *PackedB
	}
	for _, s := range [][4]int{{1, 28, 128, 256}, {1, 14, 256, 512}, {1, 7, 512, 1024}, {16, 28, 128, 256}, {16, 14, 256, 512}, {16, 7, 512, 1024}} {
		n, oh, c1, c2 := s[0], s[1], s[2], s[3]
		f := 4 * c1
		p1 := Conv2DParams{N: n, H: oh, W: oh, C: c1, KH: 1, KW: 1, F: f, SH: 1, SW: 1, DH: 1, DW: 1, OH: oh, OW: oh, Groups: 1}
		p2 := Conv2DParams{N: n, H: 2 * oh, W: 2 * oh, C: c2, KH: 1, KW: 1, F: f, SH: 2, SW: 2, DH: 1, DW: 1, OH: oh, OW: oh, Groups: 1}
		r := rand.New(rand.NewPCG(1, 2))
		size := n*oh*oh*(c1+f) + n*4*oh*oh*c2 + (c1+c2)*f
		sets := make([]operands, max(1, (128<<20)/(4*size)))
		for i := range sets {
			sets[i] = operands{randSlice(r, n*oh*oh*c1), randSlice(r, n*4*oh*oh*c2), make([]float32, n*oh*oh*f),
				PackBPair(PackB(Mat{Data: randSlice(r, c1*f), Stride: f}, c1, f), PackB(Mat{Data: randSlice(r, c2*f), Stride: f}, c2, f))}
		}
		bias := randSlice(r, f)
		flops := 2 * float64(n*oh*oh*f*(c1+c2))
		b.Run(fmt.Sprintf("%dx%dx%dx%d+%d", n, oh, oh, c1, c2), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s := sets[i%len(sets)]
				ConvPairForward(p1, s.in1, p2, s.in2, s.b, s.out, &Epilogue{Bias: bias, Relu: true})
			}
			reportSpeed(b, flops, Workers())
		})
	}
}

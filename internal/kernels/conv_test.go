package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGlobalPool(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ n, hw, c int }{
		{1, 1, 1}, {3, 1, 5}, {2, 7, 300}, {2, 49, 2048}, {5, 64, 16}, {1, 3, 513},
	} {
		in := randSlice(r, tc.n*tc.hw*tc.c)
		for _, isMax := range []bool{false, true} {
			got := make([]float32, tc.n*tc.c)
			GlobalPool(tc.n, tc.hw, tc.c, in, got, isMax)
			for b := 0; b < tc.n; b++ {
				for ch := 0; ch < tc.c; ch++ {
					sum, hi := 0.0, math.Inf(-1)
					for p := 0; p < tc.hw; p++ {
						v := float64(in[(b*tc.hw+p)*tc.c+ch])
						sum, hi = sum+v, math.Max(hi, v)
					}
					want := float32(sum / float64(tc.hw))
					if isMax {
						want = float32(hi)
					}
					if g := got[b*tc.c+ch]; g != want {
						t.Fatalf("%+v max=%v: image %d channel %d = %v, want %v", tc, isMax, b, ch, g, want)
					}
				}
			}
		}
	}
}

// MaxPool gives each window's maximum, padding ignored, for strides,
// paddings and windows that stick out or hold no pixel at all (their
// output stays as it was).
func TestMaxPoolMatchesPixelWise(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, p := range []PoolParams{
		{N: 2, H: 112, W: 112, C: 64, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadL: 1, OH: 56, OW: 56},
		{N: 1, H: 7, W: 9, C: 3, KH: 2, KW: 2, SH: 2, SW: 2, OH: 4, OW: 5},
		{N: 3, H: 5, W: 6, C: 17, KH: 3, KW: 2, SH: 1, SW: 3, PadT: 2, PadL: 1, OH: 7, OW: 3},
		{N: 1, H: 2, W: 2, C: 4, KH: 1, KW: 1, SH: 1, SW: 1, PadT: 2, PadL: 2, OH: 6, OW: 6},
		// Whole groups of 16 channels: windows all inside, or none.
		{N: 2, H: 6, W: 9, C: 32, KH: 2, KW: 2, SH: 1, SW: 1, OH: 5, OW: 8},
		{N: 1, H: 3, W: 2, C: 16, KH: 3, KW: 4, SH: 1, SW: 1, PadL: 1, OH: 1, OW: 2},
	} {
		in := randSlice(r, p.N*p.H*p.W*p.C)
		got, want := randSlice(r, p.N*p.OH*p.OW*p.C), make([]float32, p.N*p.OH*p.OW*p.C)
		copy(want, got)
		MaxPool(p, in, got)
		maxPoolPixels(p, in, want)
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%+v: [%d] = %v, want %v", p, i, got[i], want[i])
		}
	}
}

// The assembly's window maxima are the portable loop's bits, NaNs too.
func TestMaxWindowsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, tc := range []struct{ c, n, kw, step int }{{16, 5, 3, 32}, {64, 3, 2, 64}, {48, 4, 1, 96}, {32, 1, 5, 0}} {
			src := randSlice(r, (tc.n-1)*tc.step+tc.kw*tc.c)
			for i := 0; i < len(src); i += 7 {
				src[i] = float32(math.NaN())
			}
			got, want := make([]float32, tc.n*tc.c), make([]float32, tc.n*tc.c)
			maxWindows(got, src, tc.c, tc.n, tc.kw, tc.step)
			maxWindowsGo(want, src, tc.c, tc.n, tc.kw, tc.step)
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s %+v: [%d] = %v, want %v", isa.name, tc, i, got[i], want[i])
			}
		}
	}
}

// wholeWindows finds the outputs whose windows no padding cuts.
func TestWholeWindows(t *testing.T) {
	for _, tc := range []struct{ ow, w, kw, sw, pad, a, b int }{
		{56, 112, 3, 2, 1, 1, 56}, // ResNet's stem pooling: only the first window starts outside, at -1
		{8, 9, 2, 1, 0, 0, 8},
		{2, 2, 4, 1, 1, 1, 1}, // windows wider than the row
		{3, 6, 2, 3, 1, 1, 2},
	} {
		if a, b := wholeWindows(tc.ow, tc.w, tc.kw, tc.sw, tc.pad); a != tc.a || b != tc.b {
			t.Errorf("%+v: [%d, %d), want [%d, %d)", tc, a, b, tc.a, tc.b)
		}
	}
}

// maxPoolPixels is max pooling by definition, pixel by pixel and value by
// value.
func maxPoolPixels(p PoolParams, in, out []float32) {
	for n := 0; n < p.N; n++ {
		for oy := 0; oy < p.OH; oy++ {
			for ox := 0; ox < p.OW; ox++ {
				for c := 0; c < p.C; c++ {
					v, seen := float32(0), false
					for ky := 0; ky < p.KH; ky++ {
						for kx := 0; kx < p.KW; kx++ {
							iy, ix := oy*p.SH+ky-p.PadT, ox*p.SW+kx-p.PadL
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							x := in[((n*p.H+iy)*p.W+ix)*p.C+c]
							if !seen || x > v {
								v, seen = x, true
							}
						}
					}
					if seen {
						out[((n*p.OH+oy)*p.OW+ox)*p.C+c] = v
					}
				}
			}
		}
	}
}

func BenchmarkMaxPool(b *testing.B) {
	p := PoolParams{N: 16, H: 112, W: 112, C: 64, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadL: 1, OH: 56, OW: 56}
	r := rand.New(rand.NewPCG(1, 1))
	in, out := randSlice(r, p.N*p.H*p.W*p.C), make([]float32, p.N*p.OH*p.OW*p.C)
	b.SetBytes(int64(4 * (len(in) + len(out))))
	for i := 0; i < b.N; i++ {
		MaxPool(p, in, out)
	}
}

// Add's assembly gives the portable loop's sums, in place or not, at
// lengths around its 16-float groups.
func TestAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, n := range []int{0, 1, 15, 16, 17, 100, 40000} {
			a, b := randSlice(r, n), randSlice(r, n)
			want := make([]float32, n)
			addGo(a, b, want)
			got := make([]float32, n)
			Add(got, a, b)
			AddTo(a, b)
			for i := range want {
				if got[i] != want[i] || a[i] != want[i] {
					t.Fatalf("%s n=%d: [%d] Add %v, AddTo %v, want %v", isa.name, n, i, got[i], a[i], want[i])
				}
			}
		}
	}
}

// Affine and AffineRelu give x*a + b (and its ReLU) per channel, each
// product and sum rounded as Go rounds them, with every ISA, in place too,
// for more channels than the shared row of ones as well.
func TestAffine(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range []int{5, 16, 48, 2048, 3000} {
		x, a, b := randSlice(r, 37*c), randSlice(r, c), randSlice(r, c)
		want, rectified := make([]float32, len(x)), make([]float32, len(x))
		for i, v := range x {
			want[i] = float32(v*a[i%c]) + b[i%c] // the conversion rounds the product: no fused multiply-add
			rectified[i] = max(want[i], 0)
		}
		for _, isa := range kernelISAs(t) {
			isa.use()
			got := make([]float32, len(x))
			Affine(x, got, c, a, b)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s Affine, c=%d: [%d] = %v, want %v", isa.name, c, i, got[i], want[i])
			}
			copy(got, x)
			AffineRelu(got, got, c, a, b)
			if i := firstDiff(got, rectified); i >= 0 {
				t.Fatalf("%s AffineRelu in place, c=%d: [%d] = %v, want %v", isa.name, c, i, got[i], rectified[i])
			}
		}
	}
}

// NormalizeRelu and NormalizeAddRelu give the bits of Normalize, Add and
// Relu run one after another by the portable loops, with and without each
// ISA's channel groups, over more rows than one of their cache-sized
// steps; so does Normalize itself.
func TestNormalizeRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	isas := kernelISAs(t)
	for _, c := range []int{5, 16, 48, 4096, 5000} {
		for _, rows := range []int{37, 4096/c + 3} {
			x, res := randSlice(r, rows*c), randSlice(r, rows*c)
			scale, shift, gamma, beta := randSlice(r, c), randSlice(r, c), randSlice(r, c), randSlice(r, c)
			isas[0].use() // the portable loops
			normalized := make([]float32, len(x))
			Normalize(x, normalized, c, scale, shift, gamma, beta)
			rectified, sum := make([]float32, len(x)), make([]float32, len(x))
			Relu(normalized, rectified)
			Add(sum, normalized, res)
			Relu(sum, sum)
			for _, isa := range isas {
				isa.use()
				testNormalizeRelu(t, isa.name, x, res, c, scale, shift, gamma, beta, normalized, rectified, sum)
			}
		}
	}
}

func testNormalizeRelu(t *testing.T, isa string, x, res []float32, c int, scale, shift, gamma, beta, normalized, rectified, sum []float32) {
	rows := len(x) / c
	got := make([]float32, len(x))
	Normalize(x, got, c, scale, shift, gamma, beta)
	if i := firstDiff(got, normalized); i >= 0 {
		t.Fatalf("%s Normalize, c=%d, %d rows: [%d] = %v, want %v", isa, c, rows, i, got[i], normalized[i])
	}
	for _, tc := range []struct {
		name string
		run  func(out []float32)
		want []float32
	}{
		{"NormalizeRelu", func(out []float32) { NormalizeRelu(x, out, c, scale, shift, gamma, beta) }, rectified},
		{"NormalizeAddRelu", func(out []float32) { NormalizeAddRelu(x, res, out, c, scale, shift, gamma, beta) }, sum},
	} {
		got := make([]float32, len(x))
		tc.run(got)
		if i := firstDiff(got, tc.want); i >= 0 {
			t.Fatalf("%s %s, c=%d, %d rows: [%d] = %v, want %v", isa, tc.name, c, rows, i, got[i], tc.want[i])
		}
	}
}

// A window layout is made once per shape, whatever the batch, and agrees
// with one cut afresh; the layouts kept stay bounded.
func TestWindowLayouts(t *testing.T) {
	p := Conv2DParams{N: 1, H: 14, W: 14, C: 256, KH: 3, KW: 3, F: 256, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 1, PadL: 1, OH: 14, OW: 14, Groups: 1}
	q := p
	q.N = 16
	l := layoutOf(p)
	if layoutOf(q) != l {
		t.Error("batch 16 made a layout of its own")
	}
	if !slices.Equal(l.blocks, cutWindowBlocks(p)) {
		t.Errorf("layout blocks %v, cut afresh %v", l.blocks, cutWindowBlocks(p))
	}
	_, length := windowStretches(p)
	row := windowWidth(p) * p.C
	for i, b := range l.blocks {
		if want := (b.t0+b.taps-1)*length + b.c0 + b.kk; l.ends[i] != want {
			t.Errorf("block %d ends at %d, want %d", i, l.ends[i], want)
		}
		if len(l.offs[i]) != b.taps || l.offs[i][0] != stretchAt(p, b.t0, row, p.C)+b.c0 {
			t.Errorf("block %d offsets %v", i, l.offs[i])
		}
	}
	for w := range maxWindowLayouts + 10 {
		r := p
		r.W, r.OW = 20+w, 20+w
		layoutOf(r)
	}
	windowLayouts.mu.Lock()
	n := len(windowLayouts.m)
	windowLayouts.mu.Unlock()
	if n > maxWindowLayouts {
		t.Errorf("%d layouts kept, want at most %d", n, maxWindowLayouts)
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// naive is the textbook triple loop, in float64.
func naive(m, n, k int, a, b Mat, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			if acc {
				s = float64(c[i*ldc+j])
			}
			for p := 0; p < k; p++ {
				s += float64(a.at(i, p)) * float64(b.at(p, j))
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

func TestGemmMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := [][3]int{{1, 1, 1}, {6, 16, 1}, {12, 32, 5}, {7, 17, 3}, {13, 5, 300}, {100, 33, 257}, {97, 130, 513}, {2, 40, 0}, {96, 32, 600}, {144, 16, 1100}, {25, 70, 2100}, {30, 100, 1021}} // k+3 = 1024: rows 4 KB apart, in narrow tiles
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, s := range sizes {
			gemmCase(t, r, isa.name, s)
		}
	}
}

func gemmCase(t *testing.T, r *rand.Rand, name string, s [3]int) {
	{
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					lda, ldb, ldc := k+3, n+2, n+5
					if ta {
						lda = m + 1
					}
					if tb {
						ldb = k + 4
					}
					a := Mat{randSlice(r, max(m, k)*lda+8), lda, ta}
					b := Mat{randSlice(r, max(n, k)*ldb+8), ldb, tb}
					c := randSlice(r, m*ldc)
					want := append([]float32(nil), c...)
					Gemm(m, n, k, a, b, c, ldc, acc)
					naive(m, n, k, a, b, want, ldc, acc)
					for i := 0; i < m; i++ {
						for j := 0; j < ldc; j++ {
							g, w := c[i*ldc+j], want[i*ldc+j]
							if j >= n && g != w {
								t.Fatalf("%s %v ta=%v tb=%v: wrote outside C at (%d,%d)", name, s, ta, tb, i, j)
							}
							if math.Abs(float64(g-w)) > 1e-4*math.Sqrt(float64(k)+1)*4 {
								t.Fatalf("%s %v ta=%v tb=%v acc=%v: C[%d][%d] = %v, want %v", name, s, ta, tb, acc, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
}

// Each assembly kernel the CPU has agrees with the portable one to the
// last bit on values whose products and sums are exact: A packed, read in
// place (row-major) or in stretches (a convolution's kernel rows), full
// and short tiles written straight into C with and without accumulation,
// with each epilogue, and through the tile buffer.
func TestMicroKernelsAgree(t *testing.T) {
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, kk := range []int{1, 2, 7, 256} {
			for _, a := range testPanels(kk, mr) {
				b := testB(kk * len(a.taps))
				var y [mr * nr]float32
				microKernelGo(kk, a, b, &y)
				for _, rows := range []int{mr, smallRows, 3} {
					var x [mr * nr]float32
					microKernel(rows, kk, a, b, &x)
					if !slices.Equal(x[:rows*nr], y[:rows*nr]) {
						t.Fatalf("%s k=%d rs=%d taps=%d rows=%d: kernels differ", isa.name, kk, a.rs, len(a.taps), rows)
					}
				}
				for _, ep := range testEpilogues() {
					for _, acc := range []bool{false, true} {
						for rows := smallRows; rows <= mr; rows++ {
							checkTileInC(t, isa.name, rows, nr, kk, a, b, y[:], acc, ep)
						}
						for _, rows := range []int{mr, midRows, smallRows} {
							checkTileInC(t, isa.name, rows, nr/2, kk, a, b, y[:], acc, ep)
						}
					}
				}
			}
		}
	}
}

// The AVX-512 tile of mr+1 rows (32 columns) gives the portable kernel's
// tiles for its first mr rows and its last, to the bit, A's rows in place
// (a packed panel holds mr), with every epilogue, added or not.
func TestTallTileAgrees(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	const rows = mr + 1
	for _, kk := range []int{1, 7, 256} {
		// A's rows in place (a packed panel holds mr), as many as the
		// portable kernel reads from row mr on.
		for _, a := range testPanels(kk, 2*mr)[1:] {
			b := testB(kk * len(a.taps))
			var top, last [mr * nr]float32
			microKernelGo(kk, a, b, &top)
			microKernelGo(kk, a.shift(mr*a.rs), b, &last)
			y := append(top[:], last[:nr]...) // rows x nr
			if !microKernelC(rows, nr, kk, a, b, make([]float32, rows*nr), nr, false, nil, 0, 0) {
				t.Fatal("no kernel of 13 rows")
			}
			for _, ep := range testEpilogues() {
				for _, acc := range []bool{false, true} {
					checkTileInC(t, "avx512", rows, nr, kk, a, b, y, acc, ep)
				}
			}
		}
	}
}

// testB returns a panel of B of exact values for kt steps.
func testB(kt int) []float32 {
	b := make([]float32, kt*nr)
	for i := range b {
		b[i] = float32(i%5 - 2)
	}
	return b
}

// testPanels returns A panels of exact values for kk steps and the given
// rows: packed, a row-major matrix in place, and three stretches of a
// convolution input.
func testPanels(kk, rows int) []panelA {
	layouts := []panelA{
		{rs: 1, ks: mr, taps: oneTap},
		{rs: kk + 3, ks: 1, taps: oneTap},
		{rs: 2 * kk, ks: 1, taps: []int{0, 5 * kk, 3}},
	}
	for i, a := range layouts {
		a.data = make([]float32, a.last(rows, kk)+1)
		for j := range a.data {
			a.data[j] = float32(j%7 - 3)
		}
		layouts[i] = a
	}
	return layouts
}

// testEpilogues returns no epilogue, bias only, and bias + residual +
// ReLU, on exact values for a 2mr x 2nr matrix (residual row stride
// 2nr+1).
func testEpilogues() []*Epilogue {
	bias := make([]float32, 2*nr)
	for i := range bias {
		bias[i] = float32(i%9 - 4)
	}
	const ld = 2*nr + 1
	res := make([]float32, 2*mr*ld)
	for i := range res {
		res[i] = float32(i%11 - 5)
	}
	return []*Epilogue{nil, {Bias: bias}, {Bias: bias, Res: res, LdRes: ld, Relu: true}}
}

// checkTileInC runs microKernelC into a wider C holding values, as the
// tile at row i0 = 2mr - max(rows, mr), column nr of ep's matrix (mr for
// up to mr rows), and compares with the portable tile y (rows x nr) added
// (acc) or copied, then finished by the Go epilogue; nothing beyond the
// tile may change.
func checkTileInC(t *testing.T, name string, rows, cols, kk int, a panelA, b []float32, y []float32, acc bool, ep *Epilogue) {
	t.Helper()
	const ldc = nr + 5
	i0 := 2*mr - max(rows, mr)
	c := make([]float32, max(rows, mr)*ldc)
	for i := range c {
		c[i] = float32(i % 3)
	}
	want := append([]float32(nil), c...)
	if !microKernelC(rows, cols, kk, a, b, c, ldc, acc, ep, i0, nr) {
		return
	}
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			if acc {
				want[r*ldc+j] += y[r*nr+j]
			} else {
				want[r*ldc+j] = y[r*nr+j]
			}
		}
	}
	if ep != nil {
		ep.apply(want, ldc, i0, nr, rows, cols)
	}
	if !slices.Equal(c, want) {
		t.Fatalf("%s rows=%d cols=%d k=%d rs=%d taps=%d acc=%v epilogue=%v: tile in C differs", name, rows, cols, kk, a.rs, len(a.taps), acc, ep != nil)
	}
}

// The pair kernels (16 columns, B in pairs of rows) give the 16-column
// kernels' tiles, to the bit on exact values: each height, taps, several
// tiles one below the other and apart, every epilogue; A's rows in place.
func TestPairKernelsAgree(t *testing.T) {
	if !useAVX512 {
		t.Skip("the pair kernels run with AVX-512 only")
	}
	const cols, ldc = nr / 2, nr/2 + 3
	eps := testEpilogues()
	for _, ep := range eps[1:] {
		ep.Bias = ep.Bias[:cols]
	}
	eps[2].Res = make([]float32, 3*mr*eps[2].LdRes) // 2 tiles 15 rows apart
	for i := range eps[2].Res {
		eps[2].Res[i] = float32(i%11 - 5)
	}
	for _, kk := range []int{2, 48, 256} {
		for _, a := range testPanels(kk, mr) {
			if a.ks != 1 {
				continue // pairs of A's values lie together only along k
			}
			ktot := kk * len(a.taps)
			bm := make([]float32, ktot*cols)
			for i := range bm {
				bm[i] = float32(i%7 - 3)
			}
			panel, pairs := make([]float32, ktot*nr), make([]float32, ktot*nr)
			packB(Mat{Data: bm, Stride: cols}, 0, ktot, cols, panel)
			packPairs(Mat{Data: bm, Stride: cols}, 0, ktot, pairs)
			for _, rows := range []int{mr, midRows, smallRows} {
				for _, n := range []int{1, 2} {
					for _, crows := range []int{rows, rows + 3} {
						for _, ep := range eps {
							for _, acc := range []bool{false, true} {
								span := (n-1)*crows + rows
								got := make([]float32, (span+1)*ldc)
								for i := range got {
									got[i] = float32(i % 3)
								}
								want := slices.Clone(got)
								astep := 0 // the same A for each tile
								if !tilesC(n, rows, cols, kk, a, astep, crows, panel, want, ldc, acc, ep, 1, 0) {
									for i := 0; i < n; i++ {
										microKernelC(rows, cols, kk, a, panel, want[i*crows*ldc:], ldc, acc, ep, 1+i*crows, 0)
									}
								}
								pairTiles(n, rows, kk, a, astep, crows, pairs, got, ldc, acc, ep, 1)
								if i := firstDiff(got, want); i >= 0 {
									t.Fatalf("k=%d taps=%d rows=%d n=%d crows=%d acc=%v epilogue=%v: C[%d] = %g, want %g", kk, len(a.taps), rows, n, crows, acc, ep != nil, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// kernelD24x16 (tilesDup) gives the sums of the portable product, exactly
// on exact values: A's rows in place in pairs, one and three stretches
// (taps), one and two tiles, C accumulated into.
func TestDupKernelAgrees(t *testing.T) {
	if !useAVX512 {
		t.Skip("kernelD24x16 runs with AVX-512 only")
	}
	const cols, ldb, ldc = nr / 2, nr/2 + 5, nr/2 + 3
	for _, kk := range []int{1, 7, 32} {
		for _, taps := range [][]int{{0}, {0, 61, 7}} {
			for _, n := range []int{1, 2} {
				const ks = 37 // A(r, k) at taps[t] + r + k*ks
				a := panelA{rs: 1, ks: ks, taps: taps}
				astep := dupRows + 1
				a.data = make([]float32, (n-1)*astep+a.last(dupRows, kk)+1)
				for i := range a.data {
					a.data[i] = float32(i%9 - 4)
				}
				b := make([]float32, kk*len(taps)*ldb)
				for i := range b {
					b[i] = float32(i%5 - 2)
				}
				got := make([]float32, n*dupRows*ldc)
				for i := range got {
					got[i] = float32(i % 3)
				}
				want := slices.Clone(got)
				if !tilesDup(n, kk, a, astep, b, ldb, got, ldc) {
					t.Fatal("tilesDup did not run")
				}
				for tile := 0; tile < n; tile++ {
					for r := 0; r < dupRows; r++ {
						for j := 0; j < cols; j++ {
							var s float32
							for ti, off := range taps {
								for k := 0; k < kk; k++ {
									s += a.data[tile*astep+off+r+k*ks] * b[(ti*kk+k)*ldb+j]
								}
							}
							want[(tile*dupRows+r)*ldc+j] += s
						}
					}
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("k=%d taps=%d tiles=%d: C[%d] = %g, want %g", kk, len(taps), n, i, got[i], want[i])
				}
			}
		}
	}
}

// isa names a kernel choice that tests can switch to.
type isa struct {
	name string
	use  func()
}

// kernelISAs lists the kernels this CPU can run, restoring the default
// choice when the test ends.
func kernelISAs(t *testing.T) []isa {
	a512, a2 := useAVX512, useAVX2
	t.Cleanup(func() { useAVX512, useAVX2 = a512, a2 })
	list := []isa{{"go", func() { useAVX512, useAVX2 = false, false }}}
	if a2 {
		list = append(list, isa{"avx2", func() { useAVX512, useAVX2 = false, true }})
	}
	if a512 {
		list = append(list, isa{"avx512", func() { useAVX512, useAVX2 = true, a2 }})
	}
	return list
}

// vectorISAs is kernelISAs without the portable kernels: the ISAs whose
// assembly the choices of algorithm are made for.
func vectorISAs(t *testing.T) []isa {
	list := kernelISAs(t)[1:]
	if len(list) == 0 {
		t.Skip("no vector kernels on this CPU")
	}
	return list
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range []int{256, 1024, 2048} {
		b.Run(fmt.Sprintf("%d", s), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := Mat{randSlice(r, s*s), s, false}
			y := Mat{randSlice(r, s*s), s, false}
			c := make([]float32, s*s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Gemm(s, s, s, x, y, c, s, false)
			}
			reportSpeed(b, 2*float64(s)*float64(s)*float64(s), Workers())
		})
	}
}

// BenchmarkMicroKernel times each assembly tile shape on operands in L1
// (kc steps, C written straight), against the FMA peak.
func BenchmarkMicroKernel(b *testing.B) {
	for _, s := range [][2]int{{mr + 1, nr}, {mr, nr}, {mr, nr / 2}, {midRows, nr}, {midRows, nr / 2}, {7, nr}, {6, nr}, {5, nr}, {smallRows, nr}, {smallRows, nr / 2}} {
		rows, cols := s[0], s[1]
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			ks := max(rows, mr) // A k-major, a packed panel's layout
			a := make([]float32, kc*ks)
			bb := make([]float32, kc*nr)
			c := make([]float32, ks*nr)
			if !microKernelC(rows, cols, kc, panelA{data: a, rs: 1, ks: ks, taps: oneTap}, bb, c, nr, false, nil, 0, 0) {
				b.Skip("no assembly kernel for this shape here")
			}
			for i := 0; i < b.N; i++ {
				microKernelC(rows, cols, kc, panelA{data: a, rs: 1, ks: ks, taps: oneTap}, bb, c, nr, false, nil, 0, 0)
			}
			reportSpeed(b, 2*float64(rows*cols*kc), 1)
		})
	}
}

// peakPerCore is one core's FMA peak, measured once per test binary.
var peakPerCore = sync.OnceValue(func() float64 { return PeakGFLOPS(200 * time.Millisecond) })

// reportSpeed reports b's GFLOP/s for flops per operation, and their share
// of the FMA peak of the cores it ran on (Winograd, counted in the FLOPs of
// the direct convolution, can pass it).
func reportSpeed(b *testing.B, flops float64, cores int) {
	b.StopTimer()
	g := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(g, "GFLOP/s")
	if peak := peakPerCore() * float64(cores); peak > 0 {
		b.ReportMetric(100*g/peak, "%peak")
	}
}

func BenchmarkFMAPeak(b *testing.B) {
	var g float64
	for i := 0; i < b.N; i++ {
		g = PeakGFLOPS(50 * time.Millisecond)
	}
	b.ReportMetric(g, "GFLOP/s")
}

// BenchmarkGemmResNet50 times the products of ResNet-50's convolutions at
// batch 1 (m output pixels, k = taps x input channels, n filters), B packed
// as the plan packs weights.
func BenchmarkGemmResNet50(b *testing.B) {
	for _, s := range [][3]int{{12544, 147, 64}, {3136, 576, 64}, {3136, 64, 256}, {3136, 256, 64}, {784, 1152, 128}, {196, 2304, 256}, {196, 256, 1024}, {49, 4608, 512}, {49, 512, 2048}} {
		m, k, n := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := Mat{randSlice(r, m*k), k, false}
			w := PackB(Mat{randSlice(r, k*n), n, false}, k, n)
			c := make([]float32, m*n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				GemmPacked(m, x, w, c, n, false)
			}
			reportSpeed(b, 2*float64(m*n*k), Workers())
		})
	}
}

// BenchmarkGemmResNet50Cold times ResNet-50's 1x1 products as a network
// meets them, at batch 1 and 16: operands rotated through 128 MB, so that
// each product starts from memory, and a bias and ReLU epilogue, or a
// residual too (res).
func BenchmarkGemmResNet50Cold(b *testing.B) {
	type operands struct {
		x      Mat
		w      *PackedB
		c, res []float32
	}
	for _, s := range [][3]int{{196, 1024, 256}, {196, 256, 1024}, {49, 2048, 512}, {784, 128, 512}, {3136, 1024, 256}, {784, 2048, 512}, {50176, 256, 64}} {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(1, 2))
		sets := make([]operands, max(1, (128<<20)/(4*(m*k+k*n+2*m*n))))
		for i := range sets {
			sets[i] = operands{Mat{randSlice(r, m*k), k, false}, PackB(Mat{randSlice(r, k*n), n, false}, k, n), randSlice(r, m*n), randSlice(r, m*n)}
		}
		bias := randSlice(r, n)
		for _, res := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dx%dx%d/res=%v", m, k, n, res), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					s := sets[i%len(sets)]
					ep := &Epilogue{Bias: bias, Relu: true}
					if res {
						ep.Res, ep.LdRes = s.res, n
					}
					GemmPackedEpilogue(m, s.x, s.w, s.c, n, ep)
				}
				reportSpeed(b, 2*float64(m*n*k), Workers())
			})
		}
	}
}

// firstDiff returns the first index where a and b differ, NaN matching
// NaN, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// The vector max keeps Go's max semantics, NaN from either side included.
func TestMaxIntoAgrees(t *testing.T) {
	nan := float32(math.NaN())
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, n := range []int{0, 5, 16, 37} {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i], b[i] = float32(i%7-3), float32(i%5-2)
				switch i % 11 {
				case 3:
					a[i] = nan
				case 7:
					b[i] = nan
				}
			}
			got, want := slices.Clone(a), slices.Clone(a)
			maxInto(got, b)
			maxIntoGo(want, b)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s n=%d: [%d] = %v, want %v", isa.name, n, i, got[i], want[i])
			}
		}
	}
}

// The vector ReLU and its gradient match the portable ones, NaN included.
func TestReluAgrees(t *testing.T) {
	nan := float32(math.NaN())
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, n := range []int{0, 7, 16, 53} {
			x, g := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], g[i] = float32(i%7-3), float32(i+1)
				if i%13 == 5 {
					x[i] = nan
				}
			}
			var outs, grads [2][]float32
			for i, f := range []func(x, out []float32){relu, reluGo} {
				outs[i] = make([]float32, n)
				f(x, outs[i])
			}
			for i, f := range []func(y, g, d []float32){reluGrad, reluGradGo} {
				grads[i] = make([]float32, n)
				f(x, g, grads[i])
			}
			if i := firstDiff(outs[0], outs[1]); i >= 0 {
				t.Fatalf("%s n=%d: relu[%d] = %v, want %v", isa.name, n, i, outs[0][i], outs[1][i])
			}
			if !slices.Equal(grads[0], grads[1]) {
				t.Fatalf("%s n=%d: relu gradients differ", isa.name, n)
			}
		}
	}
}

// The fused BatchNorm + ReLU backward kernels: CombineMasked's assembly gives
// the portable bits; the channel sums (float32 over a few rows, then
// float64) stay within 1e-6 of float64 sums. Unmasked, masked by a ReLU's
// output (with NaN, -0 and 0 in it), and masked by the BatchNorm's output
// recomputed from its input, which must mask exactly as NormalizeRelu's
// output does (values normalized to exactly 0 and NaN among them).
func TestMaskedBatchNormKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const c, rows = 48, 37
	g, h := randSlice(r, rows*c), randSlice(r, rows*c)
	y := randSlice(r, rows*c)
	y[3], y[5], y[7] = float32(math.NaN()), float32(math.Copysign(0, -1)), 0
	a, b, k := randSlice(r, c), randSlice(r, c), randSlice(r, c)
	scale, shift, gamma, beta := randSlice(r, c), randSlice(r, c), randSlice(r, c), randSlice(r, c)
	scale[1], shift[1], beta[1] = 2, -1, 0
	h[c+1], h[2*c+1], h[4] = 0.5, float32(math.Nextafter32(0.5, 1)), float32(math.NaN()) // 0, just above
	for _, isa := range kernelISAs(t) {
		isa.use()
		rectified := make([]float32, rows*c)
		NormalizeRelu(h, rectified, c, scale, shift, gamma, beta)
		affine := ReluMask{Scale: scale, Shift: shift, Gamma: gamma, Beta: beta}
		for _, mc := range []struct {
			name string
			mask ReluMask
			y    []float32 // what the mask keeps: y > 0
		}{{"none", ReluMask{}, nil}, {"y", ReluMask{Y: y}, y}, {"affine", affine, rectified}} {
			var outs [2][]float32
			for i := range outs {
				outs[i] = make([]float32, rows*c)
			}
			CombineMasked(g, mc.mask, h, outs[0], c, a, b, k)
			for row := 0; row < rows; row++ {
				for i := 0; i < c; i++ {
					v := g[row*c+i]
					if mc.y != nil {
						v = masked(v, mc.y[row*c+i])
					}
					outs[1][row*c+i] = v*a[i] + h[row*c+i]*b[i] + k[i]
				}
			}
			if i := firstDiff(outs[0], outs[1]); i >= 0 {
				t.Fatalf("%s mask %s: CombineMasked differs from the portable loop at %d: %g, want %g", isa.name, mc.name, i, outs[0][i], outs[1][i])
			}
			sumG, sumGH := make([]float64, c), make([]float64, c)
			for k := range sumG {
				sumG[k], sumGH[k] = 7, 7 // overwritten, not added to
			}
			DotChannelsMasked(g, mc.mask, h, c, sumG, sumGH)
			for i := 0; i < c; i++ {
				var ws, wq float64
				for row := 0; row < rows; row++ {
					v := g[row*c+i]
					if mc.y != nil && !(mc.y[row*c+i] > 0) {
						v = 0
					}
					ws += float64(v)
					wq += float64(v) * float64(h[row*c+i])
				}
				if math.Abs(sumG[i]-ws) > 1e-6*(1+math.Abs(ws)) || math.Abs(sumGH[i]-wq) > 1e-6*(1+math.Abs(wq)) {
					t.Fatalf("%s mask %s: channel %d sums %v %v, want %v %v", isa.name, mc.name, i, sumG[i], sumGH[i], ws, wq)
				}
			}
		}
	}
}

// BatchNorm's forward kernels: Normalize's assembly gives the portable
// bits; ChannelSums stays within 1e-6 of float64 sums, with and without
// the deviations, on data far from zero mean.
func TestBatchNormForwardKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, c := range []int{16, 32, 48} {
		batchNormForwardCase(t, r, c, 53)
	}
}

func batchNormForwardCase(t *testing.T, r *rand.Rand, c, rows int) {
	x := randSlice(r, rows*c)
	for i := range x {
		x[i] = 3 + 0.5*x[i]
	}
	scale, shift, gamma, beta := randSlice(r, c), randSlice(r, c), randSlice(r, c), randSlice(r, c)
	for _, isa := range kernelISAs(t) {
		isa.use()
		got, want := make([]float32, rows*c), make([]float32, rows*c)
		Normalize(x, got, c, scale, shift, gamma, beta)
		for i, v := range x {
			k := i % c
			want[i] = (v*scale[k]+shift[k])*gamma[k] + beta[k]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: Normalize differs from the portable loop", isa.name)
		}
		sum, sq := make([]float64, c), make([]float64, c)
		for k := range sum {
			sum[k], sq[k] = 7, 7 // overwritten, not added to
		}
		ChannelSums(x, c, nil, sum, nil)
		mean := make([]float64, c)
		for k := range mean {
			mean[k] = sum[k] / float64(rows)
		}
		ChannelSums(x, c, mean, make([]float64, c), sq)
		// The assembly adds as the portable loop does: the same bits.
		m32 := make([]float32, c)
		for k := range m32 {
			m32[k] = float32(mean[k])
		}
		s1, q1 := make([]float64, c), make([]float64, c)
		if channelSumsAsm(x, c, m32, s1, q1) {
			s2, q2 := make([]float64, c), make([]float64, c)
			for row := 0; row < rows; row++ {
				for k := 0; k < c; k++ {
					v := x[row*c+k]
					s2[k] += float64(v)
					d := float64(v - m32[k])
					q2[k] += d * d
				}
			}
			if !slices.Equal(s1, s2) || !slices.Equal(q1, q2) {
				t.Fatalf("%s: channel sums differ from the portable loop's bits", isa.name)
			}
		}
		for k := 0; k < c; k++ {
			var ws, wq float64
			for row := 0; row < rows; row++ {
				ws += float64(x[row*c+k])
			}
			mean[k] = ws / float64(rows) // as ChannelSums' caller
			for row := 0; row < rows; row++ {
				d := float64(x[row*c+k] - float32(mean[k]))
				wq += d * d
			}
			if math.Abs(sum[k]-ws) > 1e-6*math.Abs(ws) || math.Abs(sq[k]-wq) > 1e-6*wq {
				t.Fatalf("%s: channel %d sums %v %v, want %v %v", isa.name, k, sum[k], sq[k], ws, wq)
			}
		}
	}
}

// A packed matrix gives back its rows, and takes them, with kc blocks,
// with a window convolution's blocks, and with columns short of a panel.
// Tiles made in one call (tilesC) are the tiles made one call each, to
// the bit: A stepping by panels or by rows read in place, C and the
// residual moving down, every epilogue, each tile shape.
func TestTilesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, kk, ldc = 3, 37, nr + 3
	rows := n * mr
	a := panelA{data: randSlice(r, rows*kk+8), rs: kk, ks: 1, taps: oneTap} // rows in place
	b := randSlice(r, kk*nr)
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, shape := range [][2]int{{mr, nr}, {mr, nr / 2}, {11, nr}, {midRows, nr}, {midRows, nr / 2}, {7, nr}, {6, nr}, {5, nr}, {smallRows, nr}, {smallRows, nr / 2}} {
			h, cols := shape[0], shape[1]
			for _, ep := range []*Epilogue{nil, {Bias: randSlice(r, nr+8), Res: randSlice(r, (rows+20)*ldc), LdRes: ldc, Relu: true}} {
				for _, acc := range []bool{false, true} {
					// Tiles one below the other, and apart (a convolution's
					// same pixels of successive output rows).
					for _, crows := range []int{h, h + 3} {
						c0 := randSlice(r, n*(mr+3)*ldc)
						got, want := slices.Clone(c0), slices.Clone(c0)
						if !tilesC(n, h, cols, kk, a, h*kk, crows, b, got, ldc, acc, ep, 2, 3) {
							continue
						}
						for i := 0; i < n; i++ {
							microKernelC(h, cols, kk, a.shift(i*h*kk), b, want[i*crows*ldc:], ldc, acc, ep, 2+i*crows, 3)
						}
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("%s %dx%d acc=%v epilogue=%v crows=%d: C[%d] = %v, want %v", isa.name, h, cols, acc, ep != nil, crows, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// Packed products take their blocks in two orders (each block of rows
// through all of k while B is small or A streams, k block by k block
// otherwise) and prefetch the next rows of a large A: all give Gemm's
// bits, epilogue included.
func TestGemmPackedOrders(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{
		{4*mc + mr + 5, 2*kc + 40, 70},  // B small: rows outer, three k blocks, a short panel
		{4*mc + mr + 5, 2*kc + 40, 600}, // B large: k outer
		{2100, kc, 40},                  // A of 2 MB: the next rows prefetched
		{2100, kc, 1100},                // ... with B large
		{1100, 3 * kc, 700},             // A of 3 MB, B of 2 MB: rows outer, the next rows prefetched
		{16, 1024, 256},                 // rows 4 KB apart (narrow tiles), in bands of 12 and 4
	} {
		m, k, n := s[0], s[1], s[2]
		a := Mat{randSlice(r, m*k), k, false}
		b := Mat{randSlice(r, k*n), n, false}
		ep := &Epilogue{Bias: randSlice(r, n), Res: randSlice(r, m*n), LdRes: n, Relu: true}
		want := make([]float32, m*n)
		Gemm(m, n, k, a, b, want, n, false)
		ep.apply(want, n, 0, 0, m, n)
		got := make([]float32, m*n)
		GemmPackedEpilogue(m, a, PackB(b, k, n), got, n, ep)
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%v: C[%d] = %v, want %v", s, i, got[i], want[i])
		}
	}
}

func TestPackedBRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		k, n int
		p    *Conv2DParams
	}{
		{1, 1, nil}, {300, 40, nil}, {513, 97, nil},
		{9 * 512, 512, &Conv2DParams{C: 512, F: 512, KH: 3, KW: 3}},
		{9 * 16, 20, &Conv2DParams{C: 16, F: 20, KH: 3, KW: 3}},
	} {
		b := randSlice(r, tc.k*tc.n)
		pb := PackB(Mat{Data: b, Stride: tc.n}, tc.k, tc.n)
		if tc.p != nil {
			pb = packWindowKernel(*tc.p, b)
		}
		got := make([]float32, tc.k*tc.n)
		for k := 0; k < tc.k; k++ {
			pb.row(k, got[k*tc.n:(k+1)*tc.n])
		}
		if i := firstDiff(got, b); i >= 0 {
			t.Errorf("%d x %d (window %v): row gives [%d] = %v, want %v", tc.k, tc.n, tc.p != nil, i, got[i], b[i])
		}
		again := &PackedB{K: pb.K, N: pb.N, data: make([]float32, len(pb.data)), ends: pb.ends}
		for k := 0; k < tc.k; k++ {
			again.setRow(k, b[k*tc.n:(k+1)*tc.n])
		}
		if i := firstDiff(again.data, pb.data); i >= 0 {
			t.Errorf("%d x %d (window %v): setRow puts [%d] = %v, want %v", tc.k, tc.n, tc.p != nil, i, again.data[i], pb.data[i])
		}
	}
}

// The Winograd kernel made from a packed convolution kernel, off the heap,
// on one core or all, is the one made from the kernel itself, to the bit.
func TestWinogradKernelFromPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var h OffHeap
	defer h.Free()
	for _, tc := range [][4]int{{16, 20, 2, 1}, {64, 48, 4, 1}, {512, 512, 2, 1}, {32, 40, 2, 2}} {
		c, f, m, stride := tc[0], tc[1], tc[2], tc[3]
		kernel := randSlice(r, 9*c*f)
		want := NewWinogradKernelTile(kernel, c, f, m, stride)
		for _, parallel := range []bool{false, true} {
			got := WinogradKernelFromPacked(&h, PackConvKernel(Conv2DParams{C: c, F: f, KH: 3, KW: 3, Groups: 1}, kernel), c, m, stride, parallel)
			for e := range want.u {
				if i := firstDiff(got.u[e].data, want.u[e].data); i >= 0 {
					t.Fatalf("c=%d f=%d F(%dx%d) stride %d parallel %v: matrix %d [%d] = %v, want %v",
						c, f, m, m, stride, parallel, e, i, got.u[e].data[i], want.u[e].data[i])
				}
			}
		}
	}
}

// A kernel read back from its F(2x2) transform and made again for F(4x4)
// is F(4x4)'s own, but for a rounding or two.
func TestWinogradKernelRetiled(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	var h OffHeap
	defer h.Free()
	const c, f = 24, 40
	kernel := randSlice(r, 9*c*f)
	want := NewWinogradKernelTile(kernel, c, f, 4, 1)
	got := WinogradKernelRetiled(&h, NewWinogradKernel(kernel, c, f), 4, false)
	if got.Tile() != 4 {
		t.Fatalf("tile %d, want 4", got.Tile())
	}
	all := WinogradKernelRetiled(&h, NewWinogradKernel(kernel, c, f), 4, true) // on all cores: the same bits
	for e := range want.u {
		if worst, scale := largestError(got.u[e].data, want.u[e].data); worst > 1e-6*scale {
			t.Fatalf("matrix %d: off by %g (scale %g)", e, worst, scale)
		}
		if i := firstDiff(all.u[e].data, got.u[e].data); i >= 0 {
			t.Fatalf("matrix %d made on all cores: [%d] = %v, one core's %v", e, i, all.u[e].data[i], got.u[e].data[i])
		}
	}
}

// The stride-2 form keeps one transformed kernel for the points that
// share it (w1's twice on each axis: 16 of 25), and each is G g G'.
func TestWinogradStride2KernelShared(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const c, f = 3, 5
	kernel := randSlice(r, 9*c*f)
	wk := NewWinogradKernelTile(kernel, c, f, 2, 2)
	distinct := map[*PackedB]bool{}
	for e, u := range wk.u {
		distinct[u] = true
		i, j := e/5, e%5
		for ci := 0; ci < c; ci++ {
			got := make([]float32, f)
			u.row(ci, got)
			for fi := range got {
				var want float64
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						want += winoS2G[i][ky] * winoS2G[j][kx] * float64(kernel[(3*ky+kx)*c*f+ci*f+fi])
					}
				}
				if math.Abs(float64(got[fi])-want) > 1e-6 {
					t.Fatalf("point %d, channel %d, filter %d: %v, want %v", e, ci, fi, got[fi], want)
				}
			}
		}
	}
	if len(distinct) != 16 {
		t.Errorf("%d distinct transformed kernels, want 16", len(distinct))
	}
}

// The last panel of a k block prefetches where this core's columns of the
// next block start, and after the last block the next product's B, if
// any.
func TestNextBlock(t *testing.T) {
	const k, n = 600, 100
	pb := PackB(Mat{Data: make([]float32, k*n), Stride: n}, k, n)
	np := (n + nr - 1) / nr
	for _, j0 := range []int{0, nr, 2 * nr} {
		s := bSource{packed: pb}.sub(j0)
		for k0 := kc; k0 < k; k0 += kc {
			kk := pb.blockLen(k0)
			want := uintptr(unsafe.Pointer(&pb.data[k0*np*nr+j0/nr*nr*kk]))
			if got := s.nextBlock(k0); got != want {
				t.Errorf("columns from %d, block at row %d: prefetch at %#x, want %#x", j0, k0, got, want)
			}
		}
		if got := s.nextBlock(k); got != 0 {
			t.Errorf("columns from %d: prefetch %#x past the last block, want none", j0, got)
		}
		s.after = uintptr(unsafe.Pointer(&pb.data[1]))
		if got := s.sub(0).nextBlock(k); got != s.after {
			t.Errorf("columns from %d: prefetch %#x past the last block, want the next product's %#x", j0, got, s.after)
		}
	}
}

// InstructionSet names the kernels each switch selects.
func TestInstructionSet(t *testing.T) {
	for _, isa := range kernelISAs(t) {
		isa.use()
		if got := InstructionSet(); got != isa.name {
			t.Errorf("with %s on: InstructionSet() = %q", isa.name, got)
		}
	}
}

// One core's product cuts A's rows into blocks of mc: counts of rows
// around those edges, read as aliased rows or not, B packed or packed on the
// fly.
func TestGemmSerialBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	k, n := 1024, 40
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, m := range []int{3, 13, 25, 49, 95, 96, 97, 101, 102, 103, 109, 197, 2*mc + minTail} {
			a := Mat{randSlice(r, m*k), k, false}
			b := Mat{randSlice(r, k*n), n, false}
			want := make([]float32, m*n)
			naive(m, n, k, a, b, want, n, false)
			for _, aliased := range []bool{false, true} {
				for _, packed := range []bool{false, true} {
					src := bSource{mat: b}
					if packed {
						src = bSource{packed: PackB(b, k, n)}
					}
					got := make([]float32, m*n)
					gemmSerial(m, n, k, oneMat(a), src, got, n, false, epAt{}, aliased)
					for i := range want {
						if math.Abs(float64(got[i]-want[i])) > 1e-4*math.Sqrt(float64(k)) {
							t.Fatalf("%s m=%d aliased=%v packed=%v: C[%d] = %v, want %v", isa.name, m, aliased, packed, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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
	sizes := [][3]int{{1, 1, 1}, {6, 16, 1}, {12, 32, 5}, {7, 17, 3}, {13, 5, 300}, {100, 33, 257}, {97, 130, 513}, {2, 40, 0}, {96, 32, 600}, {144, 16, 1100}, {25, 70, 2100}}
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
// last bit on values whose products and sums are exact: A packed or read in
// place (row-major), written straight into C with and without accumulation,
// with each epilogue, and through the tile buffer.
func TestMicroKernelsAgree(t *testing.T) {
	for _, isa := range kernelISAs(t) {
		isa.use()
		for _, kk := range []int{1, 2, 7, 256} {
			for _, layout := range [][2]int{{1, mr}, {kk + 3, 1}} {
				rs, ks := layout[0], layout[1]
				a := make([]float32, (mr-1)*rs+(kk-1)*ks+1)
				for i := range a {
					a[i] = float32(i%7 - 3)
				}
				b := make([]float32, kk*nr)
				for i := range b {
					b[i] = float32(i%5 - 2)
				}
				var x, y [mr * nr]float32
				microKernel(kk, a, rs, ks, b, &x)
				microKernelGo(kk, a, rs, ks, b, &y)
				if x != y {
					t.Fatalf("%s k=%d rs=%d: kernels differ", isa.name, kk, rs)
				}
				for _, ep := range testEpilogues() {
					for _, acc := range []bool{false, true} {
						checkTileInC(t, isa.name, kk, a, rs, ks, b, &y, acc, ep)
					}
				}
			}
		}
	}
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
// tile at row mr, column nr of ep's matrix, and compares with the portable
// tile y added (acc) or copied, then finished by the Go epilogue.
func checkTileInC(t *testing.T, name string, kk int, a []float32, rs, ks int, b []float32, y *[mr * nr]float32, acc bool, ep *Epilogue) {
	t.Helper()
	const ldc = nr + 5
	c := make([]float32, mr*ldc)
	for i := range c {
		c[i] = float32(i % 3)
	}
	want := append([]float32(nil), c...)
	if !microKernelC(kk, a, rs, ks, b, c, ldc, acc, ep, mr, nr) {
		return
	}
	for r := 0; r < mr; r++ {
		for j := 0; j < nr; j++ {
			if acc {
				want[r*ldc+j] += y[r*nr+j]
			} else {
				want[r*ldc+j] = y[r*nr+j]
			}
		}
	}
	if ep != nil {
		ep.apply(want, ldc, mr, nr, mr, nr)
	}
	if !slices.Equal(c, want) {
		t.Fatalf("%s k=%d rs=%d acc=%v epilogue=%+v: tile in C differs", name, kk, rs, acc, ep != nil)
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
			b.ReportMetric(2*float64(s)*float64(s)*float64(s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkMicroKernel(b *testing.B) {
	a := make([]float32, kc*mr)
	bb := make([]float32, kc*nr)
	var tile [mr * nr]float32
	for i := 0; i < b.N; i++ {
		microKernel(kc, a, 1, mr, bb, &tile)
	}
	b.ReportMetric(2*mr*nr*kc*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkFMAPeak(b *testing.B) {
	var g float64
	for i := 0; i < b.N; i++ {
		g = PeakGFLOPS(50 * time.Millisecond)
	}
	b.ReportMetric(g, "GFLOP/s")
}

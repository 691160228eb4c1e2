package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
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
	sizes := [][3]int{{1, 1, 1}, {6, 16, 1}, {7, 17, 3}, {13, 5, 300}, {100, 33, 257}, {97, 130, 513}, {2, 40, 0}, {96, 32, 600}, {144, 16, 1100}}
	for _, s := range sizes {
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
								t.Fatalf("%v ta=%v tb=%v: wrote outside C at (%d,%d)", s, ta, tb, i, j)
							}
							if math.Abs(float64(g-w)) > 1e-4*math.Sqrt(float64(k)+1)*4 {
								t.Fatalf("%v ta=%v tb=%v acc=%v: C[%d][%d] = %v, want %v", s, ta, tb, acc, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
}

// The assembly kernel and the portable one agree to the last bit on
// values whose products and sums are exact.
func TestMicroKernelsAgree(t *testing.T) {
	for _, kk := range []int{1, 2, 7, 256} {
		a := make([]float32, kk*mr)
		b := make([]float32, kk*nr)
		for i := range a {
			a[i] = float32(i%7 - 3)
		}
		for i := range b {
			b[i] = float32(i%5 - 2)
		}
		var x, y [mr * nr]float32
		microKernel(kk, a, mr, b, &x)
		microKernelGo(kk, a, mr, b, &y)
		if x != y {
			t.Fatalf("k=%d: kernels differ", kk)
		}
	}
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
		microKernel(kc, a, mr, bb, &tile)
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

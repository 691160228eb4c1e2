package kernels

import (
	"time"

	"golang.org/x/sys/cpu"
)

// useAVX2 selects the assembly kernel on CPUs with AVX2 and FMA.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16c is implemented in gemm_amd64.s: a full tile written into C.
//
//go:noescape
func kernel6x16c(k int, a, b, c *float32, lda, ldb, ldc int, acc bool)

// microKernelC computes a full 6x16 tile straight into c (row stride ldc),
// adding to it with acc. It reports false where there is no assembly
// kernel; the caller then goes through a tile buffer.
func microKernelC(kk int, a []float32, lda int, b []float32, c []float32, ldc int, acc bool) bool {
	if !useAVX2 || kk == 0 {
		return false
	}
	_ = a[(kk-1)*lda+mr-1]
	_ = b[kk*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x16c(kk, &a[0], &b[0], &c[0], 4*lda, 4*nr, 4*ldc, acc)
	return true
}

// microKernel computes a 6x16 tile from an A panel whose k-th column of 6
// values starts at a[k*lda] and a B panel whose k-th row of 16 starts at
// b[k*nr].
func microKernel(kk int, a []float32, lda int, b []float32, tile *[mr * nr]float32) {
	if useAVX2 && kk > 0 {
		_ = a[(kk-1)*lda+mr-1]
		_ = b[kk*nr-1]
		kernel6x16c(kk, &a[0], &b[0], &tile[0], 4*lda, 4*nr, 4*nr, false)
		return
	}
	microKernelGo(kk, a, lda, b, tile)
}

// fmaLoop is implemented in gemm_amd64.s.
//
//go:noescape
func fmaLoop(n int)

// PeakGFLOPS measures the FMA peak of one core over about d of work, or
// returns 0 where there is no AVX2/FMA kernel.
func PeakGFLOPS(d time.Duration) float64 {
	if !useAVX2 {
		return 0
	}
	n := 1 << 16
	for {
		start := time.Now()
		fmaLoop(n)
		el := time.Since(start)
		if el >= d {
			return float64(n) * 192 / el.Seconds() / 1e9
		}
		n *= 2
	}
}

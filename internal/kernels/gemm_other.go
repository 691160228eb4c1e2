//go:build !amd64

package kernels

import "time"

func microKernel(kk int, a []float32, lda int, b []float32, tile *[mr * nr]float32) {
	microKernelGo(kk, a, lda, b, tile)
}

// PeakGFLOPS is 0 where there is no assembly FMA kernel.
func PeakGFLOPS(d time.Duration) float64 { return 0 }

func microKernelC(kk int, a []float32, lda int, b []float32, c []float32, ldc int, acc bool) bool {
	return false
}

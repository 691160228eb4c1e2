//go:build !amd64

package kernels

func microKernel(kk int, a []float32, lda int, b []float32, tile *[mr * nr]float32) {
	microKernelGo(kk, a, lda, b, tile)
}

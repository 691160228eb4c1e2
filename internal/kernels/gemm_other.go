//go:build !amd64

package kernels

func microKernel(kk int, a, b []float32, tile *[mr * nr]float32) {
	microKernelGo(kk, a, b, tile)
}

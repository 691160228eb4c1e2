package kernels

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernel on CPUs with AVX2 and FMA.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16 is implemented in gemm_amd64.s: tile = A panel * B panel.
//
//go:noescape
func kernel6x16(k int, a, b *float32, tile *[mr * nr]float32)

func microKernel(kk int, a, b []float32, tile *[mr * nr]float32) {
	if useAVX2 && kk > 0 {
		_ = a[kk*mr-1]
		_ = b[kk*nr-1]
		kernel6x16(kk, &a[0], &b[0], tile)
		return
	}
	microKernelGo(kk, a, b, tile)
}

//go:build !amd64

package kernels

import "time"

func microKernel(rows, kk int, a panelA, b []float32, tile *[mr * nr]float32) {
	microKernelGo(kk, a, b, tile)
}

// PeakGFLOPS is 0 where there is no assembly FMA kernel.
func PeakGFLOPS(d time.Duration) float64 { return 0 }

func microKernelC(rows, cols, kk int, a panelA, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i, j int) bool {
	return false
}

func tilesC(n, rows, cols, kk int, a panelA, astep, crows int, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i, j int) bool {
	return false
}

func exactTiles() bool { return false }

func tilesStrided(n, cols, kk int, a panelA, astep int, b []float32, ldb int, c []float32, ldc int) bool {
	return false
}

func stridedB(cols int) bool { return false }

func tilesDup(n, kk int, a panelA, astep int, b []float32, ldb int, c []float32, ldc int) bool {
	return false
}

// pairTiles is not called: pairsApply needs AVX-512.
func pairTiles(n, rows, kk int, a panelA, astep, crows int, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i int) {
	panic("kernels: the pair kernels need AVX-512")
}

// Without assembly, both kernel choices stay off; tests may still set them.
var useAVX512, useAVX2 = false, false

func winoInput(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	winoInputGo(c, src, rowStride, pixStride, dst, eStride)
}

func winoGrad4(f int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	winoGrad4Go(f, src, rowStride, pixStride, dst, eStride)
}

func winoInput4(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	winoInput4Go(c, src, rowStride, pixStride, dst, eStride)
}

func winoOutput4Asm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	return false
}

func winoInputS2(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	winoInputS2Go(c, src, rowStride, pixStride, dst, eStride)
}

func winoOutputS2Asm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	return false
}

func winoOutputAsm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	return false
}

func maxInto(dst, src []float32) { maxIntoGo(dst, src) }

func maxWindows(dst, src []float32, c, n, kw, step int) { maxWindowsGo(dst, src, c, n, kw, step) }

func relu(x, out []float32) { reluGo(x, out) }

func add(a, b, out []float32) { addGo(a, b, out) }

func reluGrad(y, g, d []float32) { reluGradGo(y, g, d) }

func combineMaskedAsm(g []float32, m ReluMask, r0 int, h, out []float32, c int, a, b, k []float32) bool {
	return false
}

func dotMaskedAsm(g []float32, m ReluMask, r0 int, h []float32, c int, s, q []float64) bool {
	return false
}

func normalizeAsm(x, out []float32, c int, scale, shift, gamma, beta []float32) bool { return false }

func channelSumsAsm(x []float32, c int, m []float32, s, sq []float64) bool { return false }

func sumRowsAsm(x []float32, rows, c, stride int, s []float64) bool { return false }

func groupBlockAsm(a *groupBlockArgs) bool { return false }

func groupGradAsm(a *groupBlockArgs) bool { return false }

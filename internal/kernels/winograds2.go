package kernels

// Winograd for 3x3 convolutions of stride 2, F(2x2, 3x3) on 5x5 input
// tiles taken 4 pixels apart. Along one axis, two outputs of stride 2,
//
//	y0 = x0 w0 + x1 w1 + x2 w2,  y1 = x2 w0 + x3 w1 + x4 w2,
//
// split into the even inputs, a 2-tap correlation of (x0, x2, x4) with
// (w0, w2), which F(2, 2) takes in three products,
//
//	(x0 - x2) w0,  x2 (w0 + w2),  (x4 - x2) w2,
//
// and the odd ones, x1 w1 and x3 w1. Five products for two outputs instead
// of six; a tile of 2x2 outputs takes 25 for each channel pair instead of
// 36. The transforms add and subtract without scaling: a transformed
// input is rounded at most twice, an output four times. The kernel's
// transform repeats w1 (its
// points 3 and 4): a tile's products at those points share a transformed
// kernel, kept once.

// winoS2G is G of U = GgG': the rows give w0, w0 + w2, w2, w1, w1.
var winoS2G = [][3]float64{{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 1, 0}}

// winoS2In applies B' to five values (the order of the assembly).
func winoS2In(d [5]float32) [5]float32 {
	return [5]float32{d[0] - d[2], d[2], d[4] - d[2], d[1], d[3]}
}

// winoS2Out applies A' to five values (the order of the assembly).
func winoS2Out(m [5]float32) [2]float32 {
	return [2]float32{(m[0] + m[1]) + m[3], (m[1] + m[2]) + m[4]}
}

// winoS2Alias maps each of the 25 points to the first one with its
// transformed kernel: point 4 repeats point 3 on both axes.
func winoS2Alias(e int) int {
	i, j := min(e/5, 3), min(e%5, 3)
	return 5*i + j
}

// winoInputS2Go is the portable stride-2 input transform: V = B'dB for
// one 5x5 tile, d[i][j] = src[i*rowStride+j*pixStride:][:c], V[e] =
// dst[e*eStride:][:c].
func winoInputS2Go(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	separableInput(5, 5, c, func(x, y []float32) { r := winoS2In([5]float32(x)); copy(y, r[:]) }, src, rowStride, pixStride, dst, eStride)
}

// winoOutputS2Go is the portable stride-2 output transform: Y = A'MA for
// one tile from M[e] = m[e*eStride:][:f], plus bias, plus the residual
// (res laid out as dst), then ReLU, into the rows x cols outputs that lie
// in the image.
func winoOutputS2Go(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int) {
	separableOutput(5, 2, f, func(x, y []float32) { r := winoS2Out([5]float32(x)); copy(y, r[:]) }, m, eStride, dst, rowStride, pixStride, bias, res, relu, rows, cols)
}

// winogradS2MinBatch is WinogradMinBatch for a stride-2 convolution: any
// batch for outputs from 14x14 (ResNet-50's layers of torchvision's
// layout, BenchmarkConvWinogradStride2: 56x56x128 0.54 ms against 0.68 by
// matrix products at batch 1, 9.1 against 10.8 at batch 16; 28x28x256
// 0.54 against 0.83, 7.8-8.4 against 10.5), none for smaller: 7x7
// outputs take 16 tiles of 2x2 for 49 pixels, and their 14x14x512 layer
// lost at batch 1 (0.86-1.1 ms against 0.77) and only drew level at 16.
// With AVX2 only, from two images: in the network (GODEBUG=cpu.avx512f=off
// bench --layers) the 56x56x128 and 28x28x256 layers went 1.47 -> 1.42 and
// 1.54 -> 1.62 ms at batch 1, 2.98 -> 2.54 and 3.25 -> 2.60 at 2, 22.5 ->
// 17.3 and 25.0 -> 17.2 at 16.
func winogradS2MinBatch(p Conv2DParams) int {
	if p.C < minWinogradChannels || p.F < minWinogradChannels || p.OH < 14 || p.OW < 14 {
		return 0
	}
	if !useAVX512 {
		return 2
	}
	return 1
}

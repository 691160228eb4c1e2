package kernels

// Winograd's F(4x4, 3x3): 6x6 input tiles giving 4x4 outputs, 36
// multiplications per tile and channel pair instead of 144 (4 times fewer,
// against F(2x2, 3x3)'s 2.25). The transforms' constants are powers of two
// (the 5s of B' are written 4x + x), so every step is one rounding and the
// assembly gives the portable code's bits.

// winoInput4Go is the portable F(4x4, 3x3) input transform: V = B'dB for
// one tile, d[i][j] = src[i*rowStride+j*pixStride:][:c], V[e] =
// dst[e*eStride:][:c].
func winoInput4Go(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	separableInput(6, 6, c, func(x, y []float32) { r := wino4In([6]float32(x)); copy(y, r[:]) }, src, rowStride, pixStride, dst, eStride)
}

// wino4In applies B' to six values, in the assembly's order.
func wino4In(d [6]float32) [6]float32 {
	c := d[4] - d[2]
	a := d[4] - 4*d[2]
	b := d[3] - 4*d[1]
	e := 2 * (d[3] - d[1])
	return [6]float32{
		4*(d[0]-d[2]) + c,
		a + b,
		a - b,
		c + e,
		c - e,
		4*(d[1]-d[3]) + (d[5] - d[3]),
	}
}

// wino4Out applies A' to six values, in the assembly's order.
func wino4Out(m [6]float32) [4]float32 {
	p, q := m[1]+m[2], m[1]-m[2]
	r, s := m[3]+m[4], m[3]-m[4]
	return [4]float32{(m[0] + p) + r, q + 2*s, p + 4*r, (q + 8*s) + m[5]}
}

// winoOutput4Go is the portable F(4x4, 3x3) output transform: Y = A'MA
// for one tile from M[e] = m[e*eStride:][:f], plus bias, plus the residual
// (res laid out as dst), then ReLU, into the rows x cols outputs that lie
// in the image.
func winoOutput4Go(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int) {
	separableOutput(6, 4, f, func(x, y []float32) { r := wino4Out([6]float32(x)); copy(y, r[:]) }, m, eStride, dst, rowStride, pixStride, bias, res, relu, rows, cols)
}

// winoGrad4Go is the portable transform of a 4x4 tile of an output's
// gradient for F(4x4, 3x3)'s kernel gradient: M = AgA' (A the 6x4 matrix
// whose transpose is the output transform), g[i][j] =
// src[i*rowStride+j*pixStride:][:f], M[e] = dst[e*eStride:][:f].
func winoGrad4Go(f int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	separableInput(4, 6, f, func(x, y []float32) { r := wino4Grad([4]float32(x)); copy(y, r[:]) }, src, rowStride, pixStride, dst, eStride)
}

// wino4Grad applies A to four values, in the assembly's order.
func wino4Grad(x [4]float32) [6]float32 {
	p, q := x[0]+x[2], x[1]+x[3]
	r := x[0] + 4*x[2]
	t := 2 * (x[1] + 4*x[3])
	return [6]float32{x[0], p + q, p - q, r + t, r - t, x[3]}
}

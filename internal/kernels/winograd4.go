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
	for k := 0; k < c; k++ {
		var s [6][6]float32
		for j := 0; j < 6; j++ { // B'd: combine rows
			var d [6]float32
			for i := range d {
				d[i] = src[i*rowStride+j*pixStride+k]
			}
			t := wino4In(d)
			for i := range t {
				s[i][j] = t[i]
			}
		}
		for i := 0; i < 6; i++ { // (B'd)B: combine columns
			v := wino4In(s[i])
			for j, x := range v {
				dst[(6*i+j)*eStride+k] = x
			}
		}
	}
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
	for k := 0; k < f; k++ {
		var s [4][6]float32
		for j := 0; j < 6; j++ { // A'M: combine rows
			var col [6]float32
			for i := range col {
				col[i] = m[(6*i+j)*eStride+k]
			}
			r := wino4Out(col)
			for i := range r {
				s[i][j] = r[i]
			}
		}
		for i := 0; i < rows; i++ { // (A'M)A: combine columns
			y := wino4Out(s[i])
			for j := 0; j < cols; j++ {
				o := i*rowStride + j*pixStride + k
				dst[o] = winoFinish(y[j], bias, res, k, o, relu)
			}
		}
	}
}

// winoGrad4Go is the portable transform of a 4x4 tile of an output's
// gradient for F(4x4, 3x3)'s kernel gradient: M = AgA' (A the 6x4 matrix
// whose transpose is the output transform), g[i][j] =
// src[i*rowStride+j*pixStride:][:f], M[e] = dst[e*eStride:][:f].
func winoGrad4Go(f int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	for k := 0; k < f; k++ {
		var s [6][4]float32
		for j := 0; j < 4; j++ { // Ag: combine rows
			var g [4]float32
			for i := range g {
				g[i] = src[i*rowStride+j*pixStride+k]
			}
			t := wino4Grad(g)
			for a := range t {
				s[a][j] = t[a]
			}
		}
		for a := 0; a < 6; a++ { // (Ag)A': combine columns
			for b, x := range wino4Grad(s[a]) {
				dst[(6*a+b)*eStride+k] = x
			}
		}
	}
}

// wino4Grad applies A to four values, in the assembly's order.
func wino4Grad(x [4]float32) [6]float32 {
	p, q := x[0]+x[2], x[1]+x[3]
	r := x[0] + 4*x[2]
	t := 2 * (x[1] + 4*x[3])
	return [6]float32{x[0], p + q, p - q, r + t, r - t, x[3]}
}

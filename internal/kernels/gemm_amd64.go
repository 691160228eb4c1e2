package kernels

import (
	"time"

	"golang.org/x/sys/cpu"
)

// The assembly kernels in use, chosen once from the CPU's features: the
// AVX-512 tile kernels, or the AVX2/FMA ones of up to 6x16 (tilesY). Tests
// turn them off in turn to compare each with the portable kernel.
var (
	useAVX512 = cpu.X86.HasAVX512F
	useAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// microKernelC computes a full tile of rows x cols straight into c (row
// stride ldc), adding to it with acc, then finishes it with ep (nil: none)
// as the tile at row i, column j of ep's matrix. Tiles are smallRows to mr
// rows by nr, or mr, midRows or smallRows by nr/2 (a layer of 16 filters:
// half the work of a padded tile; an 8-row one went through the buffer as
// a full 12x32 tile, 3 times the work). It reports false where no assembly
// kernel computes such a tile; the caller then goes through a tile buffer.
func microKernelC(rows, cols, kk int, a panelA, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i, j int) bool {
	return tilesC(1, rows, cols, kk, a, 0, rows, b, c, ldc, acc, ep, i, j)
}

// tilesC is microKernelC for n tiles sharing B's panel: tile t's A starts
// astep floats after tile 0's, its C t*crows rows down (row i + t*crows of
// ep's matrix; crows = rows: one below the other). One call into the
// assembly makes them all: a tile of a few k steps costs little more than
// the call.
func tilesC(n, rows, cols, kk int, a panelA, astep, crows int, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i, j int) bool {
	switch {
	case kk == 0 || !(useAVX512 || useAVX2):
		return false
	case cols != nr && cols != nr/2, rows < smallRows || rows > mr && !(rows == mr+1 && tallTiles(cols)):
		return false
	case cols < nr && rows != mr && rows != midRows && rows != smallRows:
		return false
	}
	_ = a.data[(n-1)*astep+a.last(rows, kk)]
	_ = b[(kk*len(a.taps)-1)*nr+cols-1]
	span := (n-1)*crows + rows // rows of C from the first tile's to the last's end
	_ = c[(span-1)*ldc+cols-1]
	if !useAVX512 {
		tilesY(n, rows, cols, kk, a, astep, crows, b, nr, c, ldc, acc, ep, i, j)
		return true
	}
	flags, bias, res, ldres := ep.asmArgs(acc, i, j, span, cols)
	tileKernel(rows, cols, kk, &a.data[0], &b[0], &c[0], 4*a.rs, 4*a.ks, 4*nr, 4*ldc, flags, bias, res, ldres, &a.taps[0], len(a.taps), a.pf, n, 4*astep, crows)
	return true
}

// tilesStrided is tilesC for full-height tiles accumulating into C, with
// no epilogue, from a B read where it lies, its rows ldb floats apart,
// instead of from a packed panel: a kernel's gradient reads dy so. It
// reports false where no assembly kernel takes such a tile; stridedB says
// beforehand where one does.
func tilesStrided(n, cols, kk int, a panelA, astep int, b []float32, ldb int, c []float32, ldc int) bool {
	if !stridedB(cols) || kk == 0 {
		return false
	}
	_ = a.data[(n-1)*astep+a.last(mr, kk)]
	_ = b[(kk*len(a.taps)-1)*ldb+cols-1]
	_ = c[(n*mr-1)*ldc+cols-1]
	if !useAVX512 {
		tilesY(n, mr, cols, kk, a, astep, mr, b, ldb, c, ldc, true, nil, 0, 0)
		return true
	}
	flags, bias, res, ldres := (*Epilogue)(nil).asmArgs(true, 0, 0, n*mr, cols)
	tileKernel(mr, cols, kk, &a.data[0], &b[0], &c[0], 4*a.rs, 4*a.ks, 4*ldb, 4*ldc, flags, bias, res, ldres, &a.taps[0], len(a.taps), a.pf, n, 4*astep, mr)
	return true
}

// pairTiles is tilesC for B's 16 columns packed in pairs of rows
// (packPairs; kk per tap even) and A's values along k together (ks 1): n
// tiles of rows 12, 8 or 4 (pairsApply checks), by the pair kernels, at
// row i of ep's matrix.
func pairTiles(n, rows, kk int, a panelA, astep, crows int, b []float32, c []float32, ldc int, acc bool, ep *Epilogue, i int) {
	const cols = nr / 2
	if a.ks != 1 || kk%2 != 0 {
		panic("kernels: pair tiles read pairs of A's values along k")
	}
	_ = a.data[(n-1)*astep+a.last(rows, kk)]
	_ = b[kk*len(a.taps)/2*nr-1]
	span := (n-1)*crows + rows
	_ = c[(span-1)*ldc+cols-1]
	flags, bias, res, ldres := ep.asmArgs(acc, i, 0, span, cols)
	pairKernel(rows, kk/2, &a.data[0], &b[0], &c[0], 4*a.rs, 8*a.ks, 4*nr, 4*ldc, flags, bias, res, ldres, &a.taps[0], len(a.taps), a.pf, n, 4*astep, crows)
}

// kernelD24x16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func kernelD24x16(k int, a, b, c *float32, aks, ldb, ldc int, taps *int, ntaps, ntiles, astep int)

// tilesDup is tilesStrided for 16 columns (a kernel gradient of 16
// filters) by kernelD24x16: n tiles of dupRows rows, A's rows read in
// pairs, so rows r and r+1 must lie together (rs 1). It reports false
// where it cannot run.
func tilesDup(n, kk int, a panelA, astep int, b []float32, ldb int, c []float32, ldc int) bool {
	const cols = nr / 2
	if !useAVX512 || a.rs != 1 || kk == 0 || n == 0 {
		return false
	}
	_ = a.data[(n-1)*astep+a.last(dupRows, kk)]
	_ = b[(kk*len(a.taps)-1)*ldb+cols-1]
	_ = c[(n*dupRows-1)*ldc+cols-1]
	kernelD24x16(kk, &a.data[0], &b[0], &c[0], 4*a.ks, 4*ldb, 4*ldc, &a.taps[0], len(a.taps), n, 4*astep)
	return true
}

// stridedB reports whether tilesStrided takes tiles of cols columns.
func stridedB(cols int) bool { return (useAVX512 || useAVX2) && (cols == nr || cols == nr/2) }

// exactTiles reports whether a kernel computes tiles of every height from
// smallRows to mr straight into C.
func exactTiles() bool { return useAVX512 || useAVX2 }

// tilesY is tilesC by the AVX2 kernels, B's rows ldb floats apart: each
// tile's rows in one or two bands of at most 6 (7 rows: 4 and 3), each
// band by its 16-column halves, every call making the band's part of all
// n tiles.
func tilesY(n, rows, cols, kk int, a panelA, astep, crows int, b []float32, ldb int, c []float32, ldc int, acc bool, ep *Epilogue, i, j int) {
	const hc = nr / 2
	h0 := rows
	if rows > 6 {
		h0 = (rows + 1) / 2
	}
	for r0, h := 0, h0; r0 < rows; r0, h = r0+h, rows-h0 {
		for q := 0; q < cols; q += hc {
			flags, bias, res, ldres := ep.asmArgs(acc, i+r0, j+q, (n-1)*crows+h, hc)
			tileKernelY(h, kk, &a.data[r0*a.rs], &b[q], &c[r0*ldc+q], 4*a.rs, 4*a.ks, 4*ldb, 4*ldc, flags, bias, res, ldres, &a.taps[0], len(a.taps), 0, n, 4*astep, crows)
		}
	}
}

// microKernel computes the first rows of an mr x nr tile (all of them
// where no shorter kernel fits) from A's panel and B's.
func microKernel(rows, kk int, a panelA, b []float32, tile *[mr * nr]float32) {
	if microKernelC(max(rows, smallRows), nr, kk, a, b, tile[:], nr, false, nil, 0, 0) {
		return // a kernel of the rows' height (or the shortest), reading no further
	}
	if !microKernelC(mr, nr, kk, a, b, tile[:], nr, false, nil, 0, 0) {
		microKernelGo(kk, a, b, tile)
	}
}

// fmaLoop and fmaLoop512 are implemented in gemm_amd64.s.
//
//go:noescape
func fmaLoop(n int)

//go:noescape
func fmaLoop512(n int)

// PeakGFLOPS measures the FMA peak of one core over about d of work with
// the widest vectors in use, or returns 0 where there is no assembly.
func PeakGFLOPS(d time.Duration) float64 {
	loop, flops := fmaLoop, 192.0
	switch {
	case useAVX512:
		loop, flops = fmaLoop512, 384
	case !useAVX2:
		return 0
	}
	n := 1 << 16
	for {
		start := time.Now()
		loop(n)
		el := time.Since(start)
		if el >= d {
			return float64(n) * flops / el.Seconds() / 1e9
		}
		n *= 2
	}
}

// winoInput16Y, winoOutput16Y, winoInputS216Y and winoOutputS216Y are the
// AVX2 forms of winoInput16, winoOutput16, winoInputS216 and
// winoOutputS216 (the same arguments; each group of 16 channels taken as
// two vectors of 8).
//
//go:noescape
func winoInput16Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)

//go:noescape
func winoOutput16Y(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)

//go:noescape
func winoInputS216Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)

//go:noescape
func winoOutputS216Y(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)

// winoInput16 and winoOutput16 are generated into gemm_amd64.s by
// tools/gen_gemm_asm.py, which documents them: the Winograd transforms of
// one tile, 16 channels a step, strides in bytes.
//
//go:noescape
func winoInput16(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)

//go:noescape
func winoOutput16(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)

// winoInput is the input transform (winoInputGo's arguments), by AVX-512
// or AVX2 for whole groups of 16 channels.
func winoInput(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	inputBy16(4, winoInput16, winoInput16Y, winoInputGo, c, src, rowStride, pixStride, dst, eStride)
}

// winoOutputAsm is the output transform of a whole tile (winoOutputGo's
// arguments) by AVX-512 or AVX2; it reports false where it cannot run.
func winoOutputAsm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	return output2By16(16, winoOutput16, winoOutput16Y, f, m, eStride, dst, rowStride, pixStride, bias, res, relu)
}

// inputBy16 runs in16 (in16y, its AVX2 form, without AVX-512), the
// assembly input transform of a side x side tile 16 channels a step, for
// whole groups of 16 channels, else portable.
func inputBy16(side int, in16, in16y func(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int),
	portable func(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int),
	c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	if !vecGroups(c) {
		portable(c, src, rowStride, pixStride, dst, eStride)
		return
	}
	_ = src[(side-1)*(rowStride+pixStride)+c-1]
	_ = dst[(side*side-1)*eStride+c-1]
	if !useAVX512 {
		in16 = in16y
	}
	in16(c/16, &src[0], 4*rowStride, 4*pixStride, &dst[0], 4*eStride)
}

// output2By16 runs out16 (out16y, its AVX2 form, without AVX-512), the
// assembly transform of n products into a 2x2 output tile 16 channels a
// step, with the epilogue; it reports false where it cannot run.
func output2By16(n int, out16, out16y func(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32),
	f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	if !vecGroups(f) {
		return false
	}
	if !useAVX512 {
		out16 = out16y
	}
	_ = m[(n-1)*eStride+f-1]
	last := rowStride + pixStride + f - 1
	_ = dst[last]
	flags, bp, rp := winoFlags(f, last, bias, res, relu)
	out16(f/16, &m[0], 4*eStride, &dst[0], 4*rowStride, 4*pixStride, flags, bp, rp)
	return true
}

// winoInputS216 and winoOutputS216 are generated into gemm_amd64.s by
// tools/gen_gemm_asm.py: the stride-2 transforms of one tile, 16 channels
// a step, strides in bytes.
//
//go:noescape
func winoInputS216(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int)

//go:noescape
func winoOutputS216(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32)

// winoInputS2 is the stride-2 input transform (winoInputS2Go's
// arguments), by AVX-512 or AVX2 for whole groups of 16 channels.
func winoInputS2(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	inputBy16(5, winoInputS216, winoInputS216Y, winoInputS2Go, c, src, rowStride, pixStride, dst, eStride)
}

// winoOutputS2Asm is the stride-2 output transform of a whole tile
// (winoOutputS2Go's arguments) by AVX-512 or AVX2; it reports false where
// it cannot run.
func winoOutputS2Asm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	return output2By16(25, winoOutputS216, winoOutputS216Y, f, m, eStride, dst, rowStride, pixStride, bias, res, relu)
}

// winoInput4x16 and winoOutput4x16 are generated into gemm_amd64.s by
// tools/gen_gemm_asm.py: the F(4x4, 3x3) transforms of one tile, 16
// channels a step, strides in bytes, scratch 36 vectors of 16 floats.
//
//go:noescape
func winoInput4x16(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)

//go:noescape
func winoOutput4x16(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32, scratch *float32)

// winoGrad4x16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py:
// winoGrad4Go for 16 channels a step, strides in bytes, scratch 24 vectors
// of 16 floats.
//
//go:noescape
func winoGrad4x16(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)

// winoInput4x16Y, winoOutput4x16Y and winoGrad4x16Y are the AVX2 forms
// of winoInput4x16, winoOutput4x16 and winoGrad4x16 (the same arguments,
// each group of 16 channels taken as two vectors of 8, scratch in 32-byte
// slots).
//
//go:noescape
func winoInput4x16Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)

//go:noescape
func winoOutput4x16Y(groups int, m *float32, eStride int, dst *float32, rowStride, pixStride, flags int, bias, res *float32, scratch *float32)

//go:noescape
func winoGrad4x16Y(groups int, src *float32, rowStride, pixStride int, dst *float32, eStride int, scratch *float32)

// winoGrad4 is winoGrad4Go by AVX-512 or AVX2 for whole groups of 16
// channels.
func winoGrad4(f int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	if !vecGroups(f) {
		winoGrad4Go(f, src, rowStride, pixStride, dst, eStride)
		return
	}
	_ = src[3*rowStride+3*pixStride+f-1]
	_ = dst[35*eStride+f-1]
	var scratch [24 * 16]float32
	if !useAVX512 {
		winoGrad4x16Y(f/16, &src[0], 4*rowStride, 4*pixStride, &dst[0], 4*eStride, &scratch[0])
		return
	}
	winoGrad4x16(f/16, &src[0], 4*rowStride, 4*pixStride, &dst[0], 4*eStride, &scratch[0])
}

// winoInput4 is the F(4x4, 3x3) input transform (winoInput4Go's
// arguments), by AVX-512 or AVX2 for whole groups of 16 channels.
func winoInput4(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	if !vecGroups(c) {
		winoInput4Go(c, src, rowStride, pixStride, dst, eStride)
		return
	}
	_ = src[5*rowStride+5*pixStride+c-1]
	_ = dst[35*eStride+c-1]
	var scratch [36 * 16]float32
	if !useAVX512 {
		winoInput4x16Y(c/16, &src[0], 4*rowStride, 4*pixStride, &dst[0], 4*eStride, &scratch[0])
		return
	}
	winoInput4x16(c/16, &src[0], 4*rowStride, 4*pixStride, &dst[0], 4*eStride, &scratch[0])
}

// winoOutput4Asm is the F(4x4, 3x3) output transform of a whole tile
// (winoOutput4Go's arguments) by AVX-512 or AVX2; it reports false where
// it cannot run.
func winoOutput4Asm(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool {
	if !vecGroups(f) {
		return false
	}
	_ = m[35*eStride+f-1]
	last := 3*rowStride + 3*pixStride + f - 1
	_ = dst[last]
	flags, bp, rp := winoFlags(f, last, bias, res, relu)
	var scratch [24 * 16]float32
	if !useAVX512 {
		winoOutput4x16Y(f/16, &m[0], 4*eStride, &dst[0], 4*rowStride, 4*pixStride, flags, bp, rp, &scratch[0])
		return true
	}
	winoOutput4x16(f/16, &m[0], 4*eStride, &dst[0], 4*rowStride, 4*pixStride, flags, bp, rp, &scratch[0])
	return true
}

// winoFlags turns an output transform's epilogue into the assembly's
// flags and pointers, checking res reaches last.
func winoFlags(f, last int, bias, res []float32, relu bool) (flags int, bp, rp *float32) {
	if bias != nil {
		flags |= flagBias
		bp = &bias[:f][0]
	}
	if res != nil {
		flags |= flagRes
		rp = &res[:last+1][0]
	}
	if relu {
		flags |= flagRelu
	}
	return flags, bp, rp
}

// maxInto16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func maxInto16(dst, src *float32, groups int)

// maxWindows16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func maxWindows16(dst, src *float32, groups, n, kw, pix, step int)

// maxInto16Y and maxWindows16Y are the AVX2 forms of maxInto16 and
// maxWindows16 (the same arguments).
//
//go:noescape
func maxInto16Y(dst, src *float32, groups int)

//go:noescape
func maxWindows16Y(dst, src *float32, groups, n, kw, pix, step int)

// maxWindows is maxWindowsGo by AVX-512 or AVX2 where the pixels are whole
// groups of 16 floats: one call for a row's windows, not three a pixel.
func maxWindows(dst, src []float32, c, n, kw, step int) {
	if !vecGroups(c) || n == 0 || kw == 0 {
		maxWindowsGo(dst, src, c, n, kw, step)
		return
	}
	_ = dst[n*c-1]
	_ = src[(n-1)*step+kw*c-1]
	if !useAVX512 {
		maxWindows16Y(&dst[0], &src[0], c/16, n, kw, 4*c, 4*step)
		return
	}
	maxWindows16(&dst[0], &src[0], c/16, n, kw, 4*c, 4*step)
}

// byGroups runs an element-wise pass over n values: vec512 (AVX-512) or
// vec2 (AVX2) on the whole groups of 16, then tail on the values from the
// index it is given on (all of them without either). The callers check the
// slices' lengths first.
func byGroups(n int, vec512, vec2 func(groups int), tail func(from int)) {
	g := n / 16
	switch {
	case g == 0 || !vecGroups(16):
		tail(0)
		return
	case useAVX512:
		vec512(g)
	default:
		vec2(g)
	}
	tail(16 * g)
}

// maxInto sets dst[i] = max(dst[i], src[i]), as maxIntoGo, by AVX-512 or
// AVX2 for whole groups of 16.
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	byGroups(len(dst), func(g int) { maxInto16(&dst[0], &src[0], g) },
		func(g int) { maxInto16Y(&dst[0], &src[0], g) }, func(i int) { maxIntoGo(dst[i:], src[i:]) })
}

// relu16Y, reluGrad16Y, add16Y and normalize16Y are the AVX2 forms of
// relu16, reluGrad16, add16 and normalize16 (the same arguments).
//
//go:noescape
func relu16Y(x, out *float32, groups int)

//go:noescape
func reluGrad16Y(y, grad, d *float32, groups int)

//go:noescape
func add16Y(a, b, out *float32, groups int)

//go:noescape
func normalize16Y(x, out *float32, rows, groups int, scale, shift, gamma, beta *float32)

// relu16 and reluGrad16 are generated into gemm_amd64.s by
// tools/gen_gemm_asm.py.
//
//go:noescape
func relu16(x, out *float32, groups int)

//go:noescape
func reluGrad16(y, grad, d *float32, groups int)

// relu is reluGo by AVX-512 or AVX2 for whole groups of 16.
func relu(x, out []float32) {
	out = out[:len(x)]
	byGroups(len(x), func(g int) { relu16(&x[0], &out[0], g) },
		func(g int) { relu16Y(&x[0], &out[0], g) }, func(i int) { reluGo(x[i:], out[i:]) })
}

// add16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func add16(a, b, out *float32, groups int)

// add is addGo by AVX-512 or AVX2 for whole groups of 16.
func add(a, b, out []float32) {
	a, b = a[:len(out)], b[:len(out)]
	byGroups(len(out), func(g int) { add16(&a[0], &b[0], &out[0], g) },
		func(g int) { add16Y(&a[0], &b[0], &out[0], g) }, func(i int) { addGo(a[i:], b[i:], out[i:]) })
}

// reluGrad is reluGradGo by AVX-512 or AVX2 for whole groups of 16.
func reluGrad(y, g, d []float32) {
	g, d = g[:len(y)], d[:len(y)]
	byGroups(len(y), func(n int) { reluGrad16(&y[0], &g[0], &d[0], n) },
		func(n int) { reluGrad16Y(&y[0], &g[0], &d[0], n) }, func(i int) { reluGradGo(y[i:], g[i:], d[i:]) })
}

// combineMasked16 and dotMasked16 are generated into gemm_amd64.s by
// tools/gen_gemm_asm.py.
//
//go:noescape
func combineMasked16(grad, y, h, out *float32, rows, groups, ystride int, a, b, k *float32)

//go:noescape
func dotMasked16(grad, y, h *float32, rows, groups, ystride int, sum, sq *float64)

// combineReluOf16 and dotReluOf16 are the same with the mask recomputed
// from h (ReluMask's Scale, Shift, Gamma, Beta).
//
//go:noescape
func combineReluOf16(grad, h, out *float32, rows, groups int, a, b, k, scale, shift, gamma, beta *float32)

//go:noescape
func dotReluOf16(grad, h *float32, rows, groups int, sum, sq *float64, scale, shift, gamma, beta *float32)

// combineMasked16Y, dotMasked16Y, combineReluOf16Y and dotReluOf16Y are
// the AVX2 forms (the same arguments).
//
//go:noescape
func combineMasked16Y(grad, y, h, out *float32, rows, groups, ystride int, a, b, k *float32)

//go:noescape
func dotMasked16Y(grad, y, h *float32, rows, groups, ystride int, sum, sq *float64)

//go:noescape
func combineReluOf16Y(grad, h, out *float32, rows, groups int, a, b, k, scale, shift, gamma, beta *float32)

//go:noescape
func dotReluOf16Y(grad, h *float32, rows, groups int, sum, sq *float64, scale, shift, gamma, beta *float32)

// maskRows returns the mask rows from row r0 and their stride in bytes;
// with y nil, c ones (the mask that keeps everything), read as one row
// again and again (stride 0).
func maskRows(y []float32, r0, rows, c int) ([]float32, int) {
	if y == nil {
		return ones(c), 0
	}
	return y[r0*c : (r0+rows)*c], 4 * c
}

// combineMaskedAsm is CombineMasked's loop over rows [r0, r0+len(g)/c) by
// AVX-512 or AVX2; it reports false where it cannot run.
func combineMaskedAsm(g []float32, mask ReluMask, r0 int, h, out []float32, c int, a, b, k []float32) bool {
	rows := len(g) / max(c, 1)
	if !vecGroups(c) || rows == 0 {
		return false
	}
	h, out = h[:len(g)], out[:len(g)]
	a, b, k = a[:c], b[:c], k[:c]
	if mask.affine() {
		sc, sh, ga, be := mask.params(c)
		if !useAVX512 {
			combineReluOf16Y(&g[0], &h[0], &out[0], rows, c/16, &a[0], &b[0], &k[0], &sc[0], &sh[0], &ga[0], &be[0])
			return true
		}
		combineReluOf16(&g[0], &h[0], &out[0], rows, c/16, &a[0], &b[0], &k[0], &sc[0], &sh[0], &ga[0], &be[0])
		return true
	}
	m, ys := maskRows(mask.Y, r0, rows, c)
	if !useAVX512 {
		combineMasked16Y(&g[0], &m[0], &h[0], &out[0], rows, c/16, ys, &a[0], &b[0], &k[0])
		return true
	}
	combineMasked16(&g[0], &m[0], &h[0], &out[0], rows, c/16, ys, &a[0], &b[0], &k[0])
	return true
}

// params returns an affine mask's four vectors, checked to hold c values.
func (m ReluMask) params(c int) (scale, shift, gamma, beta []float32) {
	return m.Scale[:c], m.Shift[:c], m.Gamma[:c], m.Beta[:c]
}

// dotMaskedBlock is how many rows dotMasked16 sums in float32 before adding
// into float64: the rounding of a short float32 sum stays near 1e-7.
const dotMaskedBlock = 16

// dotMaskedAsm adds DotChannelsMasked's sums over rows [r0, r0+len(g)/c)
// into s and q by AVX-512 or AVX2; it reports false where it cannot run.
func dotMaskedAsm(g []float32, mask ReluMask, r0 int, h []float32, c int, s, q []float64) bool {
	rows := len(g) / max(c, 1)
	if !vecGroups(c) || rows == 0 {
		return false
	}
	h = h[:len(g)]
	s, q = s[:c], q[:c]
	for lo := 0; lo < rows; lo += dotMaskedBlock {
		n := min(dotMaskedBlock, rows-lo)
		if mask.affine() {
			sc, sh, ga, be := mask.params(c)
			if useAVX512 {
				dotReluOf16(&g[lo*c], &h[lo*c], n, c/16, &s[0], &q[0], &sc[0], &sh[0], &ga[0], &be[0])
			} else {
				dotReluOf16Y(&g[lo*c], &h[lo*c], n, c/16, &s[0], &q[0], &sc[0], &sh[0], &ga[0], &be[0])
			}
			continue
		}
		m, ys := maskRows(mask.Y, r0+lo, n, c)
		if useAVX512 {
			dotMasked16(&g[lo*c], &m[0], &h[lo*c], n, c/16, ys, &s[0], &q[0])
		} else {
			dotMasked16Y(&g[lo*c], &m[0], &h[lo*c], n, c/16, ys, &s[0], &q[0])
		}
	}
	return true
}

// normalize16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func normalize16(x, out *float32, rows, groups int, scale, shift, gamma, beta *float32)

// normalizeAsm is Normalize's loop (without xhat) over whole rows by
// AVX-512 or AVX2; it reports false where it cannot run.
func normalizeAsm(x, out []float32, c int, scale, shift, gamma, beta []float32) bool {
	rows := len(x) / max(c, 1)
	if !vecGroups(c) || rows == 0 {
		return false
	}
	out = out[:len(x)]
	scale, shift, gamma, beta = scale[:c], shift[:c], gamma[:c], beta[:c]
	if !useAVX512 {
		normalize16Y(&x[0], &out[0], rows, c/16, &scale[0], &shift[0], &gamma[0], &beta[0])
		return true
	}
	normalize16(&x[0], &out[0], rows, c/16, &scale[0], &shift[0], &gamma[0], &beta[0])
	return true
}

// channelSums16 is generated into gemm_amd64.s by tools/gen_gemm_asm.py.
//
//go:noescape
func channelSums16(x, m *float32, rows, groups, stride int, sum, sq *float64)

// channelSums16Y is channelSums16's AVX2 form (the same arguments and bits).
//
//go:noescape
func channelSums16Y(x, m *float32, rows, groups, stride int, sum, sq *float64)

// channelSumsAsm adds ChannelSums' sums over the rows of x into s (and sq
// when not nil) by AVX-512 or AVX2, with the portable loop's bits; it
// reports false where it cannot run.
func channelSumsAsm(x []float32, c int, m []float32, s, sq []float64) bool {
	rows := len(x) / max(c, 1)
	if !vecGroups(c) || rows == 0 {
		return false
	}
	m, s = m[:c], s[:c]
	var q *float64
	if sq != nil {
		q = &sq[:c][0]
	}
	channelSumsBy16(&x[0], &m[0], rows, c/16, 4*c, &s[0], q)
	return true
}

// channelSumsBy16 calls channelSums16 or, without AVX-512, channelSums16Y.
func channelSumsBy16(x, m *float32, rows, groups, stride int, sum, sq *float64) {
	if useAVX512 {
		channelSums16(x, m, rows, groups, stride, sum, sq)
		return
	}
	channelSums16Y(x, m, rows, groups, stride, sum, sq)
}

// sumRowsAsm adds the rows rows of x (c floats each, stride apart) into s
// in float64, row after row, by AVX-512 or AVX2; it reports false where it
// cannot run.
func sumRowsAsm(x []float32, rows, c, stride int, s []float64) bool {
	if !vecGroups(c) || rows == 0 || c == 0 {
		return false
	}
	_, s = x[(rows-1)*stride+c-1], s[:c]
	channelSumsBy16(&x[0], nil, rows, c/16, 4*stride, &s[0], nil)
	return true
}

// groupBlockAsm runs a's block by the AVX-512 kernels, or the AVX2 ones
// (blocks of 7), reporting false where none applies.
func groupBlockAsm(a *groupBlockArgs) bool {
	if a.s < 1 || a.s > 2 || !useAVX512 && !(useAVX2 && a.r == groupMaxBlock/2) {
		return false
	}
	var bias, res *float32
	if a.flags&flagBias != 0 {
		bias = &a.bias[0]
	}
	if a.flags&flagRes != 0 {
		res = &a.res[0]
	}
	if !useAVX512 {
		hin := 32 // the second half's input: the next group, or the same one of 16
		if a.g == 16 {
			hin = 0
		}
		groupBlockY(a.s, a.g == 4, &a.in[0], 4*a.off, 4*a.pix, 4*a.row, a.ndy, &a.w[0], hin, a.g/4,
			&a.mask[0], &a.out[0], 4*a.opix, a.flags, bias, res, 4*a.ldres, &a.omask[0], a.slices, 4*a.wslice)
		return true
	}
	groupBlock(a.r, a.s, &a.in[0], 4*a.off, 4*a.pix, 4*a.row, a.ndy, &a.w[0], groupPerm(a.g), a.g/4,
		&a.mask[0], &a.out[0], 4*a.opix, a.flags, bias, res, 4*a.ldres, &a.omask[0], a.slices, 4*a.wslice)
	return true
}

// groupGradAsm runs a's block's kernel gradient by the AVX-512 kernels,
// reporting false where none applies.
func groupGradAsm(a *groupBlockArgs) bool {
	if !useAVX512 || a.s < 1 || a.s > 2 {
		return false
	}
	groupGrad(a.r, a.s, &a.in[0], 4*a.off, 4*a.pix, 4*a.row, a.ndy, &a.w[0], groupPerm(a.g), a.g/4,
		&a.mask[0], &a.out[0], 4*a.opix, &a.omask[0], a.slices, 4*a.wslice)
	return true
}

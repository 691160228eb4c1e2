package kernels

import "sync"

// Convolution as matrix products. Output pixels are rows, kernel taps
// (ky, kx, input channel) are columns: out(P x F) = cols(P x K) * W(K x F),
// with W the HWIO kernel of one group seen as a K x F matrix. A 1x1
// stride-1 convolution needs no cols: the NHWC input is already P x C.

// maxCols bounds the floats of one im2col buffer; larger convolutions are
// cut into chunks of output rows.
const maxCols = 1 << 22

func (p Conv2DParams) pointwise() bool {
	return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PadT == 0 && p.PadL == 0 && p.OH == p.H && p.OW == p.W
}

// chunkRows returns how many output pixels (a multiple of whole output
// rows) an im2col chunk holds.
func (p Conv2DParams) chunkRows(k int) int {
	rows := max(1, maxCols/max(1, k*p.OW))
	return min(rows, p.N*p.OH) * p.OW
}

// im2col gathers, for output pixels [r0, r0+rows) (flattened over n, oy,
// ox), the input values of group g under each kernel tap.
func im2col(p Conv2DParams, in []float32, g, r0, rows int, cols []float32) {
	k := p.KH * p.KW * (p.C / p.Groups)
	w := gatheredRows{p: p, in: in, g: g, r0: r0}
	// Chunks of about 64 KB: 64 rows of a 3x3 window over 512 channels
	// would leave batch 1's 49 rows of 7x7 outputs to one core.
	im2colTasks.Run(rows, max(1, (16<<10)/k), im2colTask{w, k, cols})
}

// im2colTask is im2col's loop over output pixels.
type im2colTask struct {
	w    gatheredRows
	k    int
	cols []float32
}

var im2colTasks Tasks[im2colTask, *im2colTask]

func (t *im2colTask) Run(lo, hi int) { t.w.fill(lo, hi-lo, 0, t.k, t.cols[lo*t.k:]) }

// col2im adds cols (the gradient of im2col's output) back into the input
// gradient dx. Images are independent, so they are spread over the pool.
func col2im(p Conv2DParams, cols []float32, g, r0, rows int, dx []float32) {
	per := p.OH * p.OW
	first, last := r0/per, (r0+rows-1)/per
	col2imTasks.Run(last-first+1, 1, col2imTask{p, cols, g, r0, rows, dx})
}

// col2imTask is col2im's loop over images.
type col2imTask struct {
	p           Conv2DParams
	cols        []float32
	g, r0, rows int
	dx          []float32
}

var col2imTasks Tasks[col2imTask, *col2imTask]

func (t *col2imTask) Run(lo, hi int) {
	p, cols, dx, r0 := &t.p, t.cols, t.dx, t.r0
	cg := p.C / p.Groups
	k := p.KH * p.KW * cg
	per := p.OH * p.OW
	first := r0 / per
	for n := first + lo; n < first+hi; n++ {
		start, end := max(r0, n*per), min(r0+t.rows, (n+1)*per)
		for pix := start; pix < end; pix++ {
			rem := pix - n*per
			oy, ox := rem/p.OW, rem%p.OW
			src := cols[(pix-r0)*k:][:k]
			for ky := 0; ky < p.KH; ky++ {
				for kx := 0; kx < p.KW; kx++ {
					iy, ix, ok := p.inputAt(oy, ox, ky, kx)
					if !ok {
						continue
					}
					d := dx[((n*p.H+iy)*p.W+ix)*p.C+t.g*cg:][:cg]
					for c, v := range src[(ky*p.KW+kx)*cg:][:cg] {
						d[c] += v
					}
				}
			}
		}
	}
}

// ConvForward computes out = conv(in, kernel) + bias: by windows where
// they apply (the kernel packed on the fly), grouped convolutions as
// ConvForwardPacked runs them (their groups merged and packed on the fly),
// else with im2col and GEMM.
func ConvForward(p Conv2DParams, in, kernel, bias, out []float32) {
	var ep *Epilogue
	if bias != nil {
		ep = &Epilogue{Bias: bias}
	}
	switch {
	case windowShape(p) && p.DW == 1 && windowWorthIt(p):
		withWindowKernel(p, kernel, func(w []*PackedB) { convWindow(p, in, w, out, false, ep) })
		return
	case p.Groups > 1 && !p.pointwise():
		withGroupedKernel(p, kernel, func(packed []*PackedB) { convPacked(p, in, packed, out, false, ep) })
		return
	}
	fg := p.F / p.Groups
	convForward(p, in, out, func(g, _, rows int, a Mat, c []float32) {
		Gemm(rows, fg, a.width(p), a, Mat{Data: kernel[g*fg:], Stride: p.F}, c, p.F, false)
	})
	if bias != nil {
		AddBias(out, bias)
	}
}

// ConvForwardTrain is ConvForward for a training step: by Winograd where
// it pays, the kernel transformed anew (winogradTrains).
func ConvForwardTrain(p Conv2DParams, in, kernel, bias, out []float32) {
	if !winogradTrains(p) {
		ConvForward(p, in, kernel, bias, out)
		return
	}
	var ep *Epilogue
	if bias != nil {
		ep = &Epilogue{Bias: bias}
	}
	withWinogradKernel(p, kernel, func(wk *WinogradKernel) { WinogradConv(p, in, wk, out, ep) })
}

// PackConvKernel packs each group of an HWIO kernel for ConvForwardPacked;
// with AVX-512 or AVX2, a 3x3 kernel of groups of 4, 8 or 16 channels in and out,
// of stride 1 or 2 (p's strides and dilation must be set), is packed
// whole for the direct grouped kernels instead (packSmallGroupsInto).
// Otherwise groups of fewer filters than a panel of B's columns (nr) are packed
// together, as many as fill a panel, into one group whose kernel is zero
// between them (mergedGroups): a ResNeXt's 3x3 convolutions of 4 to 16
// filters a group made products of 4 to 16 columns, each a kernel tile
// mostly of padding, and ran at 3-9 GFLOP/s. The zeros multiply only the
// merged groups' inputs: a NaN or infinity in one group's input reaches
// the other groups merged with it, as it would in a convolution of one
// group. A group's kernel of several taps is packed in blocks of whole
// taps, for windows.
func PackConvKernel(p Conv2DParams, kernel []float32) []*PackedB {
	if smallGroupSize(p) > 0 {
		return []*PackedB{packSmallGroupsInto(new(PackedB), p, kernel, nil)}
	}
	if windowShape(p) {
		return []*PackedB{packWindowKernel(p, kernel)}
	}
	return packGroups(p, kernel, nil)
}

// packGroups packs p's groups as PackConvKernel does into buf, or into
// fresh memory where buf is nil; buf must hold groupsSize(p) floats.
func packGroups(p Conv2DParams, kernel, buf []float32) []*PackedB {
	packed := make([]*PackedB, p.Groups/mergedGroups(p))
	for g := range packed {
		packed[g] = new(PackedB)
	}
	packGroupsInto(p, kernel, buf, packed)
	return packed
}

// packGroupsInto is packGroups into the headers of packed, one for each
// group as merged.
func packGroupsInto(p Conv2DParams, kernel, buf []float32, packed []*PackedB) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	m := mergedGroups(p)
	taps, cm, fm := p.KH*p.KW, cg*m, fg*m
	var ends []int // blocks of whole taps, for windows
	if taps > 1 {
		merged := p
		merged.Groups /= m
		ends = windowEnds(merged)
	}
	// (tap, merged input channel) x merged filter: scratch for training's
	// small grouped kernels, packed every step; a plan's (1x1 kernels of
	// up to 8 MB, packed once) would stay in the scratch pool for good.
	var dense []float32
	if buf != nil {
		db := getBuf(taps * cm * fm)
		defer putBuf(db)
		dense = *db
	} else {
		dense = make([]float32, taps*cm*fm)
	}
	size := groupsSize(p) / len(packed)
	for g := range packed {
		clear(dense)
		for t := range taps {
			for s := range m { // the s-th group merged into g
				for ci := range cg {
					src := kernel[(t*cg+ci)*p.F+(g*m+s)*fg:][:fg]
					copy(dense[(t*cm+s*cg+ci)*fm+s*fg:][:fg], src)
				}
			}
		}
		var dst []float32
		if buf != nil {
			dst = buf[g*size : (g+1)*size]
		}
		packBBlocksInto(packed[g], Mat{Data: dense, Stride: fm}, taps*cm, fm, ends, dst, false)
	}
}

// groupsSize is the floats of p's kernel packed by groups.
func groupsSize(p Conv2DParams) int {
	m := mergedGroups(p)
	cols := (p.F/p.Groups*m + nr - 1) / nr * nr // a merged group's filters, in whole panels
	rows := p.KH * p.KW * p.C / p.Groups * m
	return p.Groups / m * cols * rows
}

// withGroupedKernel runs fn with p's grouped kernel packed into scratch
// memory, as PackConvKernel packs it (for the direct grouped kernels
// where they apply): training packs its changing weights every step.
func withGroupedKernel(p Conv2DParams, kernel []float32, fn func([]*PackedB)) {
	if smallGroupSize(p) > 0 {
		buf := getBuf(smallGroupsSize(p))
		defer putBuf(buf)
		sh := getShell(1)
		defer kernelShells.Put(sh)
		packSmallGroupsInto(sh.list[0], p, kernel, *buf)
		fn(sh.list)
		return
	}
	buf := getBuf(groupsSize(p))
	defer putBuf(buf)
	sh := getShell(p.Groups / mergedGroups(p))
	defer kernelShells.Put(sh)
	packGroupsInto(p, kernel, *buf, sh.list)
	fn(sh.list)
}

// mergedGroups is how many of p's groups PackConvKernel packs as one:
// enough to fill a panel of nr filters where a group has fewer.
func mergedGroups(p Conv2DParams) int {
	fg := p.F / p.Groups
	if p.Groups == 1 || fg >= nr || nr%fg != 0 || p.Groups%(nr/fg) != 0 {
		return 1
	}
	return nr / fg
}

// asPacked returns p with the groups its packed kernel has (fewer where
// PackConvKernel merged them).
func asPacked(p Conv2DParams, kernel []*PackedB) Conv2DParams {
	if len(kernel) < p.Groups {
		p.Groups = len(kernel)
	}
	return p
}

// ConvForwardPacked is ConvForward with the kernel packed in advance, as
// an inference plan keeps it, and the output finished by ep (bias per
// filter, a residual shaped like the output, ReLU) tile by tile: by
// windows where they apply (grouped ones too, a group at a time), else as
// a product on the input itself (1x1) or on rows gathered from it block by
// block (gatheredRows), a group at a time: where there are as many groups
// as cores or more, each core takes whole groups (ResNeXt-50's grouped
// layers at batch 1, 10.8-11.1 -> 10.2 ms in all; at 16, 168 -> 129-164
// ms), else all cores take each group.
func ConvForwardPacked(p Conv2DParams, in []float32, kernel []*PackedB, out []float32, ep *Epilogue) {
	convPacked(p, in, kernel, out, false, ep)
}

// ConvAccumulatePacked is ConvForwardPacked adding the convolution onto
// out's values before ep finishes it (ep's own residual, if any, on top):
// a residual block can add its convolution onto the shortcut's buffer
// where that is the shortcut's last use, which spares a buffer and the
// memory reads a fresh one costs (each line of it read before it is
// overwritten).
func ConvAccumulatePacked(p Conv2DParams, in []float32, kernel []*PackedB, out []float32, ep *Epilogue) {
	convPacked(p, in, kernel, out, true, ep)
}

// convPacked is ConvForwardPacked, or with accumulate
// ConvAccumulatePacked.
func convPacked(p Conv2DParams, in []float32, kernel []*PackedB, out []float32, accumulate bool, ep *Epilogue) {
	if DirectGroups(kernel) {
		convSmallGroups(convArgs{p, in, kernel, out, accumulate, ep})
		return
	}
	p = asPacked(p, kernel)
	if windowApplies(p, kernel[0]) {
		convWindow(p, in, kernel, out, accumulate, ep)
		return
	}
	fg, rows := p.F/p.Groups, p.N*p.OH*p.OW
	if !p.pointwise() { // rows gathered block by block, a group at a time
		if p.Groups < Workers() { // every core on each group
			for g := range p.Groups {
				w := getGathered(p, in, g)
				b := bSource{packed: kernel[g]}
				gemm(rows, fg, b.packed.K, gathered(w), b, out[g*fg:], p.F, accumulate, epAt{ep, 0, g * fg})
				putGathered(w)
			}
			return
		}
		// A core to each group in turn (ResNeXt-50's grouped layers at batch
		// 1, 10.8-11.1 -> 10.2 ms in all; at 16, 168 -> 129-164 ms).
		gatheredGroupsTasks.Run(p.Groups, 1, gatheredGroupsTask{convArgs{p, in, kernel, out, accumulate, ep}})
		return
	}
	convForward(p, in, out, func(g, r0, rows int, a Mat, c []float32) {
		gemm(rows, fg, kernel[g].K, oneMat(a), bSource{packed: kernel[g]}, c, p.F, accumulate, epAt{ep, r0, g * fg})
	})
}

// convArgs is a packed convolution's operands, as convPacked takes them.
type convArgs struct {
	p          Conv2DParams
	in         []float32
	kernel     []*PackedB
	out        []float32
	accumulate bool
	ep         *Epilogue
}

// gatheredGroupsTask is convPacked's loop over groups whose rows are
// gathered, each group on one core.
type gatheredGroupsTask struct{ convArgs }

var gatheredGroupsTasks Tasks[gatheredGroupsTask, *gatheredGroupsTask]

func (t *gatheredGroupsTask) Run(lo, hi int) {
	p := &t.p
	fg, rows := p.F/p.Groups, p.N*p.OH*p.OW
	for g := lo; g < hi; g++ {
		w, b := getGathered(*p, t.in, g), bSource{packed: t.kernel[g]}
		gemmSerial(rows, fg, b.packed.K, gathered(w), b, t.out[g*fg:], p.F, t.accumulate, epAt{t.ep, 0, g * fg}, false)
		putGathered(w)
	}
}

// ConvPairForward computes out = conv1(in1) + conv2(in2), finished by ep,
// in one pass: two 1x1 convolutions of one group with the same output
// size, the first of stride 1, the second of any stride (a bottleneck
// block's last convolution and its projection shortcut), b packed by
// PackBPair from their kernels (p1.C rows over p2.C). No sum of either
// alone goes to memory.
func ConvPairForward(p1 Conv2DParams, in1 []float32, p2 Conv2DParams, in2 []float32, b *PackedB, out []float32, ep *Epilogue) {
	rows := p1.N * p1.OH * p1.OW
	a := aMats{first: Mat{Data: in1, Stride: p1.C}, split: p1.C}
	if p2.pointwise() {
		a.second = Mat{Data: in2, Stride: p2.C}
	} else { // the strided pixels, gathered
		a.gather = getGathered(p2, in2, 0)
		defer putGathered(a.gather)
	}
	gemm(rows, b.N, b.K, a, bSource{packed: b}, out, b.N, false, epAt{e: ep})
}

// gatheredPool holds the gatheredRows of the products running on them
// (the kernels keep a pointer while they run, which would put each on the
// heap).
var gatheredPool = sync.Pool{New: func() any { return new(gatheredRows) }}

// getGathered returns group g's rows of p's input, from the pool.
func getGathered(p Conv2DParams, in []float32, g int) *gatheredRows {
	w := gatheredPool.Get().(*gatheredRows)
	*w = gatheredRows{p: p, in: in, g: g}
	return w
}

// putGathered returns w to the pool, holding no input.
func putGathered(w *gatheredRows) {
	*w = gatheredRows{}
	gatheredPool.Put(w)
}

// gatheredRows is the A of group g of a convolution (output pixels by
// kernel taps and the group's channels, im2col's matrix) from output pixel
// r0 on, gathered a block at a time by fill.
type gatheredRows struct {
	p     Conv2DParams
	in    []float32
	g, r0 int
}

// fill writes rows [i0, i0+rows) and columns [k0, k0+kk) of A into dst,
// kk apart.
func (w *gatheredRows) fill(i0, rows, k0, kk int, dst []float32) {
	p := &w.p
	cg := p.C / p.Groups
	tap0, c0 := k0/cg, k0%cg
	ky0, kx0 := tap0/p.KW, tap0%p.KW
	for r := 0; r < rows; r++ {
		pix := w.r0 + i0 + r
		n, rem := pix/(p.OH*p.OW), pix%(p.OH*p.OW)
		oy, ox := rem/p.OW, rem%p.OW
		d := dst[r*kk : (r+1)*kk]
		// Tap by tap (ky, kx), channels from c on: c0 in the first, 0 after.
		ky, kx, c := ky0, kx0, c0
		for at := 0; at < kk; {
			run := min(cg-c, kk-at)
			seg := d[at : at+run]
			iy, ix := oy*p.SH+ky*p.DH-p.PadT, ox*p.SW+kx*p.DW-p.PadL
			switch src := ((n*p.H+iy)*p.W+ix)*p.C + w.g*cg + c; {
			case iy < 0 || iy >= p.H || ix < 0 || ix >= p.W:
				clear(seg)
			case run < 16: // a few channels (an RGB stem): a call to copy costs more
				for i := range seg {
					seg[i] = w.in[src+i]
				}
			default:
				copy(seg, w.in[src:])
			}
			at, c = at+run, 0
			if kx++; kx == p.KW {
				ky, kx = ky+1, 0
			}
		}
	}
}

// width is the number of columns of an im2col matrix (its stride), or of
// a pointwise input group.
func (m Mat) width(p Conv2DParams) int {
	if p.pointwise() {
		return p.C / p.Groups
	}
	return m.Stride
}

// convForward runs gemm(g, r0, rows, A, C) for every group and chunk of
// output rows from r0, A being the input itself (1x1) or its im2col.
func convForward(p Conv2DParams, in, out []float32, gemm func(g, r0, rows int, a Mat, c []float32)) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	k := p.KH * p.KW * cg
	total := p.N * p.OH * p.OW
	for g := 0; g < p.Groups; g++ {
		if p.pointwise() {
			gemm(g, 0, total, Mat{Data: in[g*cg:], Stride: p.C}, out[g*fg:])
			continue
		}
		chunk := p.chunkRows(k)
		cols := getBuf(chunk * k)
		for r0 := 0; r0 < total; r0 += chunk {
			rows := min(chunk, total-r0)
			im2col(p, in, g, r0, rows, *cols)
			gemm(g, r0, rows, Mat{Data: *cols, Stride: k}, out[r0*p.F+g*fg:])
		}
		putBuf(cols)
	}
}

// AddBias adds bias to every row of x (rows of len(bias)).
func AddBias(x, bias []float32) {
	f := len(bias)
	ParallelFor(len(x)/f, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*f : (r+1)*f]
			for i, b := range bias {
				row[i] += b
			}
		}
	})
}

// ConvBackward computes the gradients of a convolution from dy, the
// gradient of its output: dx (may be nil, then skipped) is overwritten;
// dkernel and dbias (may be nil) are accumulated into.
func ConvBackward(p Conv2DParams, in, kernel, dy, dx, dkernel, dbias []float32) {
	ConvBackwardAdd(p, in, kernel, dy, dx, nil, dkernel, dbias)
}

// ConvBackwardAdd is ConvBackward with res (nil: none) added to dx: the
// gradient the input has from its other readers (a residual block's
// shortcut). By windows or Winograd the sum is made as dx is written, a
// pass over both saved; elsewhere res is added after.
func ConvBackwardAdd(p Conv2DParams, in, kernel, dy, dx, res, dkernel, dbias []float32) {
	if dx != nil && res != nil && !convTransposeByWindows(p) {
		defer Add(dx, dx, res)
		res = nil
	}
	cg, fg := p.C/p.Groups, p.F/p.Groups
	k := p.KH * p.KW * cg
	total := p.N * p.OH * p.OW
	switch {
	case dx != nil && convTransposeByWindows(p):
		convBackwardInput(p, kernel, dy, dx, res)
		dx = nil // done: what is left is the kernel's gradient
	case dx != nil && convTransposeByPhases(p):
		convBackwardInputPhases(p, kernel, dy, dx)
		dx = nil
	}
	directGrad := smallGroupSize(p) > 0 && useAVX512 // AVX2 has no such kernels
	if directGrad || windowKernelGrad(p) {
		switch {
		case directGrad:
			convBackwardKernelSmallGroups(p, in, dy, dkernel)
		case winogradKernelGrads(p):
			convBackwardKernelWinograd(p, in, dy, dkernel)
		default:
			convBackwardKernel(p, in, dy, dkernel)
		}
		if dx == nil {
			if dbias != nil {
				SumRows(dy, dbias)
			}
			return
		}
		dkernel = nil // done: im2col and col2im are left for dx
	}
	if dx != nil {
		clear(dx)
	}
	for g := 0; g < p.Groups; g++ {
		w := Mat{Data: kernel[g*fg:], Stride: p.F, T: true} // (fg x K) view of the kernel
		var dw []float32
		if dkernel != nil {
			dw = dkernel[g*fg:]
		}
		dyg := Mat{Data: dy[g*fg:], Stride: p.F}
		if p.pointwise() {
			if dw != nil {
				pointwiseKernelGrad(p, g, in, dy, dw, total)
			}
			if dx != nil {
				Gemm(total, cg, fg, dyg, w, dx[g*cg:], p.C, false)
			}
			continue
		}
		chunk := p.chunkRows(k)
		cols := getBuf(chunk * k)
		for r0 := 0; r0 < total; r0 += chunk {
			rows := min(chunk, total-r0)
			im2col(p, in, g, r0, rows, *cols)
			dyc := Mat{Data: dy[r0*p.F+g*fg:], Stride: p.F}
			if dw != nil {
				Gemm(k, fg, rows, Mat{Data: *cols, Stride: k, T: true}, dyc, dw, p.F, true)
			}
			if dx != nil {
				Gemm(rows, k, fg, dyc, w, *cols, k, false)
				col2im(p, *cols, g, r0, rows, dx)
			}
		}
		putBuf(cols)
	}
	if dbias != nil {
		SumRows(dy, dbias)
	}
}

// SumRows adds the sum of the rows of x (rows of len(acc)) into acc.
func SumRows(x, acc []float32) {
	f := len(acc)
	buf := scratch64.get(f)
	defer scratch64.put(buf)
	sum := *buf
	clear(sum)
	for r := 0; r < len(x)/f; r++ {
		for i, v := range x[r*f : (r+1)*f] {
			sum[i] += float64(v)
		}
	}
	for i := range acc {
		acc[i] += float32(sum[i])
	}
}

// convTransposeByWindows reports whether the input gradient of p is a
// window convolution of the output gradient: stride 1, no dilation; a
// grouped one runs as ConvForwardPacked runs grouped convolutions.
func convTransposeByWindows(p Conv2DParams) bool {
	if p.SH != 1 || p.SW != 1 || p.DH != 1 || p.DW != 1 {
		return false
	}
	if p.Groups > 1 {
		return !p.pointwise() // as ConvForwardPacked runs grouped convolutions
	}
	return windowShape(p) && windowWorthIt(transposedParams(p))
}

// transposedParams describes the convolution of dy that gives dx at
// stride 1: the kernel turned 180 degrees with inputs and outputs swapped,
// and the padding that makes every tap reach (K-1-pad).
func transposedParams(p Conv2DParams) Conv2DParams {
	return Conv2DParams{N: p.N, H: p.OH, W: p.OW, C: p.F, KH: p.KH, KW: p.KW, F: p.C,
		SH: 1, SW: 1, DH: 1, DW: 1, PadT: p.KH - 1 - p.PadT, PadL: p.KW - 1 - p.PadL,
		OH: p.H, OW: p.W, Groups: p.Groups}
}

// convBackwardInput overwrites dx with the gradient of p's input from dy,
// plus res unless nil.
func convBackwardInput(p Conv2DParams, kernel, dy, dx, res []float32) {
	q := transposedParams(p)
	buf := getBuf(len(kernel))
	defer putBuf(buf)
	flipped := *buf // every tap, turned 180 degrees
	var ep *Epilogue
	if res != nil {
		ep = residualEpilogues.Get().(*Epilogue)
		*ep = Epilogue{Bias: zeros(p.C), Res: res, LdRes: p.C}
		defer residualEpilogues.Put(ep)
	}
	var ys, xs [maxPhaseTaps]int
	transposedTaps(p, kernel, reversed(p.KH, ys[:0]), reversed(p.KW, xs[:0]), flipped)
	if p.Groups > 1 {
		withGroupedKernel(q, flipped, func(packed []*PackedB) { convPacked(q, dy, packed, dx, false, ep) })
		return
	}
	if winogradTrains(q) {
		withWinogradKernel(q, flipped, func(wk *WinogradKernel) { WinogradConv(q, dy, wk, dx, ep) })
		return
	}
	withWindowKernel(q, flipped, func(w []*PackedB) { convWindow(q, dy, w, dx, false, ep) })
}

// zeros returns n zeros, shared read-only: the bias of an epilogue that
// only adds a residual (adding zero changes no sum).
func zeros(n int) []float32 {
	if n <= len(zeroRow) {
		return zeroRow[:n]
	}
	return make([]float32, n)
}

var zeroRow = make([]float32, 2048)

// reversed appends n-1, ..., 1, 0 to buf.
func reversed(n int, buf []int) []int {
	for i := range n {
		buf = append(buf, n-1-i)
	}
	return buf
}

// residualEpilogues hold the epilogues that add a residual to an input
// gradient, one a training step's convolution (the kernels keep a
// pointer to it while they run, which would put each on the heap).
var residualEpilogues = sync.Pool{New: func() any { return new(Epilogue) }}

// pointwiseKernelGrad adds group g's kernel gradient of a 1x1 convolution,
// X' dY (cg x fg, row stride p.F), into dw. The product packs its second
// operand, a whole activation: the narrower of dY and X, computing
// (dY' X)' when X is narrower.
func pointwiseKernelGrad(p Conv2DParams, g int, in, dy, dw []float32, total int) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	x := Mat{Data: in[g*cg:], Stride: p.C}
	d := Mat{Data: dy[g*fg:], Stride: p.F}
	if fg <= cg {
		x.T = true
		Gemm(cg, fg, total, x, d, dw, p.F, true)
		return
	}
	buf := getBuf(fg * cg)
	defer putBuf(buf)
	d.T = true
	Gemm(fg, cg, total, d, x, *buf, cg, false)
	for f := 0; f < fg; f++ {
		for c, v := range (*buf)[f*cg : (f+1)*cg] {
			dw[c*p.F+f] += v
		}
	}
}

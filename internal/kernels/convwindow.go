package kernels

import "sync"

// Window convolution: the matrix product of im2col without im2col. In an
// NHWC image, one kernel row (ky) of the window under output pixel (oy, ox)
// is KW*C contiguous floats, and the same row under (oy, ox+1) starts
// SW*C floats later. So a panel of consecutive output pixels of one output
// row is an A panel the kernels read in place, with one stretch (tap) per
// kernel row, once the input has a zero border. A grouped convolution's
// group reads one stretch per tap instead: its channels of the pixel
// under the tap.

// windowMinWidth is the narrowest output for window convolution: narrower
// rows fill the 12-row tiles poorly, and their im2col is small anyway.
const windowMinWidth = 28

// windowShape reports whether p's kernel is packed for window
// convolution: one group, more than one tap.
func windowShape(p Conv2DParams) bool {
	return p.Groups == 1 && p.KH*p.KW > 1
}

// windowApplies reports whether ConvForwardPacked runs p (its groups as
// packed) by windows: its kernel packed so, no dilation across, rows
// worth it. For inference, also rows that the tiles cover whole: with
// tiles of 12, 8 and 4 rows only, a 14-wide row left 2 pixels to a 4-row
// tile, and im2col's 12-row panels ran ResNet-50's 14x14 layer at batch 16
// 20% faster; with a tile for every height (two of 7 rows) windows run it
// 5-8% faster than im2col. (Training keeps windows there: its im2col path
// costs a col2im too, and ResNet-20 on 28x28 ran 17% slower.)
//
// Grouped convolutions take windows at any width: their rows gathered a
// group at a time cost a copy of every group's windows, and ran ResNeXt's
// grouped layers 1.2-2.3 times slower (BenchmarkConvGrouped: ResNeXt-101's
// 14x14x1024 at batch 1 0.72 -> 0.41 ms, at 16 13.3 -> 5.7; ResNeXt-50's
// 7x7x1024 0.165 -> 0.135, 56x56x256 of stride 2 0.58-0.63 -> 0.41).
func windowApplies(p Conv2DParams, w *PackedB) bool {
	if p.Groups > 1 {
		return p.KH*p.KW > 1 && w.ends != nil && p.DW == 1 && exactTiles()
	}
	return windowShape(p) && w.ends != nil && p.DW == 1 && windowWorthIt(p) &&
		(p.OW >= windowMinWidth || p.OW%smallRows == 0 || exactTiles())
}

// windowWorthIt reports whether p's output rows suit window convolution:
// wide rows, or many rows at least 8 wide (a training batch), whose
// im2col would be large.
func windowWorthIt(p Conv2DParams) bool {
	return p.OW >= windowMinWidth || (p.OW >= 8 && p.N*p.OH >= 64)
}

// windowBlock is a block of the kernel's rows (K = KH x KW*C): taps kernel
// rows from t0, each the stretch [c0, c0+kk) of its KW*C values. A
// grouped kernel's rows (K = KH*KW x C/Groups, a group's) lie in a
// stretch a tap: its C/Groups channels.
type windowBlock struct{ t0, taps, c0, kk int }

// windowStretches is how many stretches of the zero-bordered input under
// an output pixel a window convolution reads (kernel rows, or taps where
// grouped) and how long each is.
func windowStretches(p Conv2DParams) (n, length int) {
	if p.Groups > 1 {
		return p.KH * p.KW, p.C / p.Groups
	}
	return p.KH, p.KW * p.C
}

// stretchAt is where stretch t lies in a zero-bordered input of row
// floats a row, its pixels cs floats apart.
func stretchAt(p Conv2DParams, t, row, cs int) int {
	if p.Groups > 1 {
		return (t/p.KW)*p.DH*row + (t%p.KW)*p.DW*cs
	}
	return t * p.DH * row
}

// stretchOffsets lists where block b's stretches lie in p's zero-bordered
// input whose pixels lie cs floats apart.
func stretchOffsets(p Conv2DParams, b windowBlock, cs int) []int {
	row := windowWidth(p) * cs
	offs := make([]int, 0, b.taps)
	for t := b.t0; t < b.t0+b.taps; t++ {
		offs = append(offs, stretchAt(p, t, row, cs)+b.c0)
	}
	return offs
}

// pixelStride is how far apart a grouped window convolution's
// zero-bordered rows hold their pixels: a line more than the channels
// where those are a multiple of 4 KB (ResNeXt's 1024 and 2048). A tile's
// rows are consecutive pixels, each reading its group's few channels: 4
// KB apart, all of a tile's stretches would fall in the same two sets of
// the L1 cache and evict each other. ResNeXt-101 32x8d's 14x14x1024
// layers (groups of 32) at batch 1, `-bench ConvGrouped`, binaries
// alternating four times: 338-378 -> 318-340 us, at batch 16 5.44-5.69
// -> 5.31-5.38 ms; in the network 0.40-0.45 -> 0.36-0.39 ms each, the
// whole pass 95.7-97.4 -> 93.7-95.6 ms. Groups of 64 (7x7x2048) level.
func pixelStride(p Conv2DParams) int {
	if p.Groups > 1 && p.C%1024 == 0 {
		return p.C + 16
	}
	return p.C
}

// windowGroupRows is the most rows of a group's kernel that a grouped
// window convolution takes as one block of K rather than blocks of kc: a
// ResNeXt's 3x3 groups of 32 or 64 channels (288 and 576 rows) in blocks
// of 8 taps left a block of one tap, its tiles loaded and stored again
// for a few steps (BenchmarkConvGrouped, ResNeXt-101's layers: 14x14x1024
// at batch 1 0.370 -> 0.355 ms, at 16 5.76-5.94 -> 5.38-5.56; 7x7x2048
// 0.385-0.41 -> 0.364-0.38).
const windowGroupRows = 640

// windowLayout is how a window convolution reads K: its blocks, each
// block's stretches' offsets in a zero-bordered input, and where each
// block ends in K.
type windowLayout struct {
	blocks []windowBlock
	offs   [][]int
	ends   []int
	// spread is offs in rows whose pixels lie pixelStride(p) floats apart,
	// where that differs from p.C.
	spread [][]int
}

// windowLayouts holds the layout of every shape convolved by windows so
// far, made once: a training step convolves hundreds of times, and each
// layout is a few small slices.
var windowLayouts struct {
	mu sync.Mutex
	m  map[Conv2DParams]*windowLayout
}

// maxWindowLayouts bounds the layouts kept: a ResNet-50 has a few dozen
// shapes for each input size.
const maxWindowLayouts = 4096

// layoutOf returns p's window layout, the same for every batch size; its
// slices are shared, read only.
func layoutOf(p Conv2DParams) *windowLayout {
	p.N = 0
	windowLayouts.mu.Lock()
	defer windowLayouts.mu.Unlock()
	if l, ok := windowLayouts.m[p]; ok {
		return l
	}
	l := &windowLayout{blocks: cutWindowBlocks(p)}
	_, length := windowStretches(p)
	for _, b := range l.blocks {
		l.offs = append(l.offs, stretchOffsets(p, b, p.C))
		l.ends = append(l.ends, (b.t0+b.taps-1)*length+b.c0+b.kk)
		if cs := pixelStride(p); cs != p.C {
			l.spread = append(l.spread, stretchOffsets(p, b, cs))
		}
	}
	if windowLayouts.m == nil || len(windowLayouts.m) >= maxWindowLayouts {
		// Images of ever new sizes would grow it without end: start over
		// (the layouts handed out stay valid).
		windowLayouts.m = map[Conv2DParams]*windowLayout{}
	}
	windowLayouts.m[p] = l
	return l
}

// windowBlocks returns p's blocks of K (layoutOf), shared.
func windowBlocks(p Conv2DParams) []windowBlock { return layoutOf(p).blocks }

// windowEnds lists where windowBlocks' blocks end in K, shared.
func windowEnds(p Conv2DParams) []int { return layoutOf(p).ends }

// cutWindowBlocks cuts K into blocks of at most kc rows (windowGroupRows for
// a group's kernel) that the kernels read as stretches: whole stretches
// grouped, or one stretch cut in parts.
func cutWindowBlocks(p Conv2DParams) []windowBlock {
	stretches, l := windowStretches(p)
	var bs []windowBlock
	if l <= kc {
		g := kc / l
		if p.Groups > 1 && stretches*l <= windowGroupRows {
			g = stretches // the group's kernel whole: no short last block
		}
		for t := 0; t < stretches; t += g {
			bs = append(bs, windowBlock{t0: t, taps: min(g, stretches-t), kk: l})
		}
		return bs
	}
	parts := (l + kc - 1) / kc
	for t := 0; t < stretches; t++ {
		for i := 0; i < parts; i++ {
			c0, c1 := i*l/parts, (i+1)*l/parts
			bs = append(bs, windowBlock{t0: t, taps: 1, c0: c0, kk: c1 - c0})
		}
	}
	return bs
}

// packWindowKernel packs an HWIO kernel (K x F) in the blocks of
// windowBlocks.
func packWindowKernel(p Conv2DParams, kernel []float32) *PackedB {
	return packBBlocks(Mat{Data: kernel, Stride: p.F}, p.KH*p.KW*p.C, p.F, windowEnds(p), nil, false)
}

// withWindowKernel runs fn with the kernel packed into scratch memory:
// training packs its changing weights every step (in pairs of rows where
// the pair kernels take p). fn gets it as the one group's kernel.
func withWindowKernel(p Conv2DParams, kernel []float32, fn func([]*PackedB)) {
	k := p.KH * p.KW * p.C
	buf := getBuf(((p.F + nr - 1) / nr) * nr * k)
	defer putBuf(buf)
	sh := getShell(1)
	defer kernelShells.Put(sh)
	packBBlocksInto(sh.list[0], Mat{Data: kernel, Stride: p.F}, k, p.F, windowEnds(p), *buf, pairsApply(p))
	fn(sh.list)
}

// kernelShell holds the headers of a training step's packed kernel (a
// group's each) and their list, reused from layer to layer.
type kernelShell struct {
	pbs  []PackedB
	list []*PackedB
}

var kernelShells sync.Pool

// getShell returns a shell from the pool whose list holds n headers.
func getShell(n int) *kernelShell {
	sh, _ := kernelShells.Get().(*kernelShell)
	if sh == nil {
		sh = new(kernelShell)
	}
	if cap(sh.pbs) < n {
		sh.pbs, sh.list = make([]PackedB, n), make([]*PackedB, n)
	}
	sh.pbs, sh.list = sh.pbs[:n], sh.list[:n]
	for i := range sh.list {
		sh.list[i] = &sh.pbs[i]
	}
	return sh
}

// pairsApply reports whether p's window convolution runs by the pair
// kernels: 16 filters (a 16-column tile takes a broadcast per FMA, its
// kernels at 70-78% of the FMA peak), every block of K an even length,
// and output rows that tiles of 12, 8 and 4 rows cover.
func pairsApply(p Conv2DParams) bool {
	if !useAVX512 || p.F != nr/2 {
		return false
	}
	for _, b := range windowBlocks(p) {
		if b.kk%2 != 0 {
			return false
		}
	}
	for ox := 0; ox < p.OW; {
		r := panelRows(p.OW-ox, nr/2)
		if r != mr && r != midRows && r != smallRows {
			return false
		}
		ox += r
	}
	return true
}

// rowCalls is how many tile positions an output row of width ow takes
// (panelRows' tiles of cols columns): the calls a chunk of output rows
// takes when each position goes down the rows in one call.
func rowCalls(ow, cols int) int {
	n := 0
	for ox := 0; ox < ow; ox += panelRows(ow-ox, cols) {
		n++
	}
	return n
}

// convWindow computes out = conv(in) * w (out +=, with accumulate)
// finished by ep (nil: none), w a kernel for each of p's groups: group g
// reads the stretches of its channels, C/Groups from g*C/Groups, and
// writes its filters' columns.
func convWindow(p Conv2DParams, in []float32, w []*PackedB, out []float32, accumulate bool, ep *Epilogue) {
	wp := windowWidth(p)
	layout := layoutOf(p)
	blocks, offs, cs := layout.blocks, layout.offs, pixelStride(p)
	if cs != p.C {
		offs = layout.spread
	}
	row := wp * cs
	cg, fg := p.C/p.Groups, p.F/p.Groups
	np := (fg + nr - 1) / nr
	// One stretch of rows per core: each stretch streams all of the
	// kernel, so fewer stretches read it fewer times. A stretch goes by
	// chunks of about 4*mc output pixels (in one image), all filters of a
	// chunk before the next: their windows stay in L2 while every panel
	// of B passes (the whole stretch would be streamed from memory once
	// per panel). Each chunk's input rows are copied with their zero
	// border into a buffer of the core's own, which stays in L2: no
	// padded copy of the whole input goes to memory and back.
	// Chunks overlap by the window's height less the stride: long enough
	// that the rows copied again add at most a sixteenth (a 3x3 window at
	// stride 1 takes 32 rows; with 8, a quarter, ResNet-20's 32x32x16
	// forward and input gradient took 4% longer), short enough to stay in
	// L2 (512 KB).
	halo := windowRows(p, 1) - p.SH
	chunk := max((4*mc+p.OW-1)/p.OW, (16*halo+p.SH-1)/p.SH)
	chunk = max(1, min(chunk, ((1<<17)/row-halo)/p.SH))
	slack := windowSlack(p, cs)
	windowTasks.Run(p.N*p.OH, (p.N*p.OH+Workers()-1)/Workers(), windowTask{p, in, w, out, accumulate, ep, blocks, offs, wp, row, cg, fg, np, chunk, slack, cs})
}

// windowTask is convWindow's loop over output rows, a stretch a core.
type windowTask struct {
	p                                 Conv2DParams
	in                                []float32
	w                                 []*PackedB
	out                               []float32
	accumulate                        bool
	ep                                *Epilogue
	blocks                            []windowBlock
	offs                              [][]int
	wp, row, cg, fg, np, chunk, slack int
	cs                                int // floats from pixel to pixel in the zero-bordered rows
}

var windowTasks Tasks[windowTask, *windowTask]

func (t *windowTask) Run(lo, hi int) {
	p, in, w, out, accumulate, ep := t.p, t.in, t.w, t.out, t.accumulate, t.ep
	blocks, offs, wp, row, cg, fg := t.blocks, t.offs, t.wp, t.row, t.cg, t.fg
	np, chunk, slack, cs := t.np, t.chunk, t.slack, t.cs
	var tile [mr * nr]float32
	buf := getBuf(windowRows(p, chunk)*row + slack)
	defer putBuf(buf)
	for c0, c1 := lo, lo; c0 < hi; c0 = c1 {
		n, oy0 := c0/p.OH, c0%p.OH
		c1 = min(hi, c0+chunk, (n+1)*p.OH)
		rows := windowRows(p, c1-c0)
		padded := (*buf)[:rows*row+slack]
		padRowsSpread(p, in, n, oy0*p.SH, rows, wp, cs, padded)
		clear(padded[rows*row:])
		ch := windowChunk{p: p, padded: padded, row: row, cs: cs, c0: c0, c1: c1, out: out, tile: &tile}
		for g, wg := range w {
			k0 := 0
			for bi, b := range blocks {
				kt := b.taps * b.kk
				acc, last := accumulate || bi > 0, ep
				if bi < len(blocks)-1 {
					last = nil
				}
				a := panelA{data: padded[g*cg:], rs: p.SW * cs, ks: 1, taps: offs[bi]}
				for j0 := g * fg; j0 < (g+1)*fg; j0 += nr {
					bpanel := wg.data[k0*np*nr+((j0-g*fg)/nr)*nr*kt:]
					ch.panel(a, b.kk, bpanel, wg.pairs, j0, min(nr, (g+1)*fg-j0), acc, last)
				}
				k0 += kt
			}
		}
	}
}

// windowChunk is a chunk of a window convolution's output rows, [c0, c1)
// of one image, and its input rows with their zero border in padded (row
// floats a row).
type windowChunk struct {
	p           Conv2DParams
	padded, out []float32
	row, c0, c1 int
	cs          int // floats from pixel to pixel
	tile        *[mr * nr]float32
}

// panel makes the chunk's tiles of cols filters from column j0: A's
// stretches at a (from the chunk's first row and pixel), kk long, B's
// panel bpanel (in pairs of rows if pairs).
func (ch *windowChunk) panel(a panelA, kk int, bpanel []float32, pairs bool, j0, cols int, acc bool, ep *Epilogue) {
	p, out := ch.p, ch.out
	// n tiles of rows from output pixel i, A at off, each next tile's
	// astep floats on and crows rows down.
	tiles := func(n, rows, i, off, astep, crows int) {
		a := a.shift(off)
		if pairs {
			pairTiles(n, rows, kk, a, astep, crows, bpanel, out[i*p.F:], p.F, acc, ep, i)
			return
		}
		tilesOf(n, rows, kk, a, astep, crows, bpanel, cols, out[i*p.F+j0:], p.F, acc, ep, i, j0, ch.tile)
	}
	if down := ch.c1 - ch.c0; down >= rowCalls(p.OW, cols) {
		// Each tile of an output row and the same one of the chunk's
		// other rows in one call: ResNet-20's 32-wide rows took two calls
		// a row (12+12 and 8 pixels), a fixed cost of as much as a sixth
		// of their work.
		for ox := 0; ox < p.OW; {
			rows := panelRows(p.OW-ox, cols)
			tiles(down, rows, ch.c0*p.OW+ox, ox*p.SW*ch.cs, p.SH*ch.row, p.OW)
			ox += rows
		}
		return
	}
	for orow := ch.c0; orow < ch.c1; orow++ {
		base := (orow - ch.c0) * p.SH * ch.row
		for ox := 0; ox < p.OW; {
			rows := panelRows(p.OW-ox, cols)
			n := 1
			if rows == mr {
				n = fullTiles(p.OW - ox)
			}
			tiles(n, rows, orow*p.OW+ox, base+ox*p.SW*ch.cs, mr*p.SW*ch.cs, mr)
			ox += n * rows
		}
	}
}

// windowWidth is the width of p's zero-bordered input as far as the
// windows reach.
func windowWidth(p Conv2DParams) int { return (p.OW-1)*p.SW + p.KW }

// windowRows is how many rows of the zero-bordered input lie under rows
// consecutive output rows.
func windowRows(p Conv2DParams, rows int) int { return (rows-1)*p.SH + (p.KH-1)*p.DH + 1 }

// windowSlack is the room kept after a zero-bordered input whose pixels
// lie cs floats apart: a short last panel is computed as a full one,
// reading on.
func windowSlack(p Conv2DParams, cs int) int { return mr*p.SW*cs + mr }

// padRowsSpread is padRows with the pixels cs floats apart (cs >= p.C);
// the floats between them are left as they were.
func padRowsSpread(p Conv2DParams, in []float32, n, y0, rows, wp, cs int, dst []float32) {
	if cs == p.C {
		padRows(p, in, n, y0, rows, wp, dst)
		return
	}
	row := wp * cs
	for r := 0; r < rows; r++ {
		d := dst[r*row : (r+1)*row]
		y := y0 + r - p.PadT
		for x := range wp {
			px := d[x*cs : x*cs+p.C]
			if ix := x - p.PadL; y < 0 || y >= p.H || ix < 0 || ix >= p.W {
				clear(px)
			} else {
				copy(px, in[((n*p.H+y)*p.W+ix)*p.C:][:p.C])
			}
		}
	}
}

// padRows writes rows rows of image n's zero-bordered input, from row y0,
// wp pixels wide, one after another into dst.
func padRows(p Conv2DParams, in []float32, n, y0, rows, wp int, dst []float32) {
	row := wp * p.C
	for r := 0; r < rows; r++ {
		padRow(p, in, n, y0+r, wp, dst[r*row:(r+1)*row])
	}
}

// padRow writes row y of image n's zero-bordered input (y counts the top
// border's rows), wp pixels wide, into d.
func padRow(p Conv2DParams, in []float32, n, y, wp int, d []float32) {
	y -= p.PadT
	if y < 0 || y >= p.H {
		clear(d)
		return
	}
	x0 := min(wp, p.PadL)
	x1 := max(x0, min(wp, p.PadL+p.W))
	clear(d[:x0*p.C])
	src := in[((n*p.H+y)*p.W+x0-p.PadL)*p.C:]
	copy(d[x0*p.C:x1*p.C], src[:(x1-x0)*p.C])
	clear(d[x1*p.C:])
}

// windowKernelGrad reports whether convBackwardKernel computes p's kernel
// gradient: no dilation across; one group, or groups whose filters, as
// PackConvKernel merges them, fill whole panels.
func windowKernelGrad(p Conv2DParams) bool {
	grouped := p.Groups > 1 && !p.pointwise() && p.F/p.Groups*mergedGroups(p)%nr == 0
	return (windowShape(p) || grouped) && p.DW == 1
}

// convBackwardKernel adds the gradient of p's kernel (HWIO) from its input
// and dy, without im2col. For kernel row ky, the gradient is a KW*C x F
// matrix: sum over output pixels of the input window's row (KW*C
// contiguous values of the padded input) times dy's row. The window rows
// are read in place as the A panel, one stretch per output row; only dy is
// packed, a block of output rows at a time. A grouped convolution takes a
// product a tap and group, as PackConvKernel merges groups: the merged
// group's channels under the tap (cm rows) times its filters' columns of
// dy; of each product only the groups' own blocks are kept.
func convBackwardKernel(p Conv2DParams, in, dy, dkernel []float32) {
	g := gradBlockRows(p)
	blocks := (p.N*p.OH + g - 1) / g
	workers := Workers()
	kernelGradTasks.Run(blocks, (blocks+workers-1)/workers, kernelGradTask{p, in, dy, dkernel})
}

// gradBlockRows is how many output rows a block of dy takes in
// convBackwardKernel.
func gradBlockRows(p Conv2DParams) int { return max(1, kc/p.OW) }

// kernelGradTask is convBackwardKernel's loop over blocks of output rows:
// each core adds its blocks' products into a part of its own, then its
// part into dkernel under kernelGradMu.
type kernelGradTask struct {
	p               Conv2DParams
	in, dy, dkernel []float32
}

var (
	kernelGradTasks Tasks[kernelGradTask, *kernelGradTask]
	kernelGradMu    sync.Mutex
)

func (t *kernelGradTask) Run(lo, hi int) {
	p, in, dy, dkernel := t.p, t.in, t.dy, t.dkernel
	wp := windowWidth(p)
	row := wp * p.C
	m := p.KW * p.C
	g := gradBlockRows(p)
	outRows := p.N * p.OH
	np := (p.F + nr - 1) / nr
	// A block's input rows, with their zero border, are copied into the
	// core's own buffer (as convWindow does): each image the block touches
	// gives the rows under its output rows.
	images := min(g, g/p.OH+2)
	local := (g*p.SH+images*windowRows(p, 1))*row + windowSlack(p, p.C)
	grouped := p.Groups > 1
	merged := mergedGroups(p)
	groups, cm, fm := p.Groups/merged, p.C/p.Groups*merged, p.F/p.Groups*merged
	// dy's rows need no packing where every tile is a full 12 rows and its
	// panels are whole (16 or a multiple of 32 filters): the kernels read
	// them in place, F floats apart (ResNet-20's 16-filter layers' kernel
	// gradients spent 17% of their time packing dy into panels twice as
	// wide).
	inPlace := !grouped && m%mr == 0 && (stridedB(p.F) || p.F%nr == 0 && stridedB(nr))
	// With 16 filters, a tile of 12 rows by 16 takes a broadcast of A per
	// FMA; kernelD24x16 broadcasts two rows' values at once (ResNet-20's
	// 32x32x16 kernel gradient at batch 128 1.92-2.03 -> 1.66-1.82 ms).
	dup := !grouped && p.F == nr/2 && m%dupRows == 0 && useAVX512
	partLen := p.KH * m * p.F
	if grouped {
		partLen = p.KH * p.KW * groups * cm * fm
	}
	part := getBuf(partLen)
	bp := getBuf(np * nr * g * p.OW)
	padded := getBuf(local)
	defer putBuf(part)
	defer putBuf(bp)
	defer putBuf(padded)
	clear(*part)
	offsBuf, startsBuf := scratchInts.get(g), scratchInts.get(g)
	defer scratchInts.put(offsBuf)
	defer scratchInts.put(startsBuf)
	// starts: where each output row's first input row is in padded
	offs, starts := *offsBuf, *startsBuf
	var tile [mr * nr]float32
	// product adds into dst (ldc apart) the rows of A from aOff (m of
	// them) times dy's columns [j0, j1).
	product := func(taps []int, r0, aOff, m, j0, j1 int, dst []float32, ldc int) {
		for j := j0; j < j1; j += nr {
			a := panelA{data: (*padded)[aOff:], rs: 1, ks: p.SW * p.C, taps: taps}
			c := dst[j-j0:]
			if dup && tilesDup(m/dupRows, p.OW, a, dupRows, dy[r0*p.OW*p.F:], p.F, c, ldc) {
				continue // 16 filters: two of A's rows a broadcast
			}
			if inPlace { // dy's rows of the block, one after another: B as it lies
				tilesStrided(m/mr, min(nr, p.F-j), p.OW, a, mr, dy[r0*p.OW*p.F+j:], p.F, c, ldc)
				continue
			}
			bpanel := (*bp)[(j/nr)*nr*len(taps)*p.OW:]
			full := m / mr * mr // the full panels of rows in one call, then the rest
			tilesOf(full/mr, mr, p.OW, a, mr, mr, bpanel, min(nr, j1-j), c, ldc, true, nil, 0, 0, &tile)
			if full < m {
				tileOf(m-full, p.OW, a.shift(full), bpanel, min(nr, j1-j), c[full*ldc:], ldc, true, nil, 0, 0, &tile)
			}
		}
	}
	for b := lo; b < hi; b++ {
		r0, r1 := b*g, min(outRows, (b+1)*g)
		used := 0
		for t0 := 0; t0 < r1-r0; {
			n, oy := (r0+t0)/p.OH, (r0+t0)%p.OH
			cnt := min(r1-r0-t0, p.OH-oy)
			rows := windowRows(p, cnt)
			padRows(p, in, n, oy*p.SH, rows, wp, (*padded)[used*row:])
			for t := 0; t < cnt; t++ {
				starts[t0+t] = (used + t*p.SH) * row
			}
			used, t0 = used+rows, t0+cnt
		}
		clear((*padded)[used*row:])
		taps := offs[:r1-r0]
		if !inPlace {
			packB(Mat{Data: dy[r0*p.OW*p.F:], Stride: p.F}, 0, (r1-r0)*p.OW, p.F, *bp)
		}
		for ky := 0; ky < p.KH; ky++ {
			for t := range taps {
				taps[t] = starts[t] + ky*p.DH*row
			}
			if !grouped {
				product(taps, r0, 0, m, 0, p.F, (*part)[ky*m*p.F:], p.F)
				continue
			}
			for kx := range p.KW {
				for gi := range groups {
					dst := (*part)[((ky*p.KW+kx)*groups+gi)*cm*fm:]
					product(taps, r0, kx*p.C+gi*cm, cm, gi*fm, (gi+1)*fm, dst, fm)
				}
			}
		}
	}
	kernelGradMu.Lock()
	defer kernelGradMu.Unlock()
	if !grouped {
		for i, v := range *part {
			dkernel[i] += v
		}
		return
	}
	addGroupBlocks(p, merged, *part, dkernel)
}

// addGroupBlocks adds into a grouped kernel's gradient (HWIO) the blocks
// of each group in part, products of merged groups (tap, merged group,
// its channels, its filters).
func addGroupBlocks(p Conv2DParams, merged int, part, dkernel []float32) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	groups, cm, fm := p.Groups/merged, cg*merged, fg*merged
	for tap := range p.KH * p.KW {
		for gi := range groups {
			prod := part[(tap*groups+gi)*cm*fm:]
			for s := range merged { // the s-th group merged into gi
				f0 := (gi*merged + s) * fg
				for ci := range cg {
					src := prod[(s*cg+ci)*fm+s*fg:][:fg]
					dst := dkernel[(tap*cg+ci)*p.F+f0:][:fg]
					for j, v := range src {
						dst[j] += v
					}
				}
			}
		}
	}
}

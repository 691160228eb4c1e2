package kernels

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"unsafe"
)

// Blocking of the packed GEMM. A 12x32 tile of C lives in 24 AVX-512
// registers (or, with AVX2 only, four 6x16 tiles in turn) while the kernel
// streams KC steps of a 12-row panel of A and a 32-column panel of B; an
// MC x KC block of A stays in L2, a KC x N panel of B in L3.
const (
	mr = 12
	nr = 32
	kc = 256
	mc = 96
)

// Mat is a row-major matrix view: element (i, j) is Data[i*Stride+j], or
// Data[j*Stride+i] when T (transposed) is set.
type Mat struct {
	Data   []float32
	Stride int
	T      bool
}

func (m Mat) at(i, j int) float32 {
	if m.T {
		return m.Data[j*m.Stride+i]
	}
	return m.Data[i*m.Stride+j]
}

// Gemm computes C = A*B (or C += A*B with accumulate) for an m x k matrix A,
// a k x n matrix B and an m x n row-major C with row stride ldc. C is cut
// into rectangles spread over the worker pool; when C is too small to keep
// the cores busy and k is long, k is split instead and the parts summed.
func Gemm(m, n, k int, a, b Mat, c []float32, ldc int, accumulate bool) {
	gemm(m, n, k, oneMat(a), bSource{mat: b}, c, ldc, accumulate, epAt{})
}

// Epilogue finishes each tile of C while it is still in cache: adds Bias
// per column and Res (row stride LdRes) when set, then applies ReLU.
type Epilogue struct {
	Bias  []float32
	Res   []float32
	LdRes int
	Relu  bool
}

// epAt is an epilogue seen from row i, column j of its matrix: what a
// sub-matrix of C is finished with. It is passed by value; slicing a copy
// of the Epilogue for each block of C put hundreds of small objects per
// network pass on the heap.
type epAt struct {
	e    *Epilogue
	i, j int
}

// at returns the epilogue of the sub-matrix from row i, column j.
func (r epAt) at(i, j int) epAt { return epAt{r.e, r.i + i, r.j + j} }

// apply finishes rows x cols of C (row stride ldc) from C's row i0,
// column j0.
func (e *Epilogue) apply(c []float32, ldc, i0, j0, rows, cols int) {
	bias := e.Bias[j0:][:cols]
	for r := 0; r < rows; r++ {
		row := c[r*ldc:][:cols]
		for j, b := range bias {
			row[j] += b
		}
		if e.Res != nil {
			res := e.Res[(i0+r)*e.LdRes+j0:][:cols]
			for j, v := range res {
				row[j] += v
			}
		}
		if e.Relu {
			for j, v := range row {
				row[j] = max(v, 0)
			}
		}
	}
}

// PackedB is a k x n matrix packed once for many products (a layer's
// weights): for each block of kc rows, panels of nr columns, k-major.
type PackedB struct {
	K, N int
	data []float32
	ends []int // where each block of rows ends; nil: every kc rows
	// pairs: 16 columns packed in pairs of rows for the pair kernels
	// (packPairs), not in zero-padded panels.
	pairs bool
	// group: packed by packSmallGroupsInto for groups of this many channels
	// (0: a matrix).
	group int
}

// PackB packs the k x n matrix b.
func PackB(b Mat, k, n int) *PackedB { return packBBlocks(b, k, n, nil, nil, false) }

// packBBlocks packs b in blocks of rows ending at ends (nil: every kc),
// into buf when it is not nil (it must hold the packed matrix), in pairs
// of rows (n 16, every block of an even length) if pairs.
func packBBlocks(b Mat, k, n int, ends []int, buf []float32, pairs bool) *PackedB {
	return packBBlocksInto(new(PackedB), b, k, n, ends, buf, pairs)
}

// packBBlocksInto is packBBlocks into pb.
func packBBlocksInto(pb *PackedB, b Mat, k, n int, ends []int, buf []float32, pairs bool) *PackedB {
	np := (n + nr - 1) / nr
	if buf == nil {
		buf = make([]float32, np*nr*k)
	}
	*pb = PackedB{K: k, N: n, data: buf[:np*nr*k], ends: ends, pairs: pairs}
	for k0 := 0; k0 < k; {
		kk := pb.blockLen(k0)
		if pairs {
			packPairs(b, k0, kk, pb.data[k0*np*nr:])
		} else {
			packB(b, k0, kk, n, pb.data[k0*np*nr:])
		}
		k0 += kk
	}
	return pb
}

// packPairs copies rows [k0, k0+kk) of B's 16 columns into rows of nr
// floats, two of B's rows in each, interleaved: row p holds B(k0+2p, j)
// at 2j and B(k0+2p+1, j) at 2j+1, as the pair kernels read them.
func packPairs(b Mat, k0, kk int, dst []float32) {
	for p := 0; p < kk/2; p++ {
		row := dst[p*nr : (p+1)*nr]
		for j := 0; j < nr/2; j++ {
			row[2*j], row[2*j+1] = b.at(k0+2*p, j), b.at(k0+2*p+1, j)
		}
	}
}

// block returns the first row and the length of the block holding row k.
func (pb *PackedB) block(k int) (k0, kk int) {
	k0 = k / kc * kc
	if pb.ends != nil {
		i, _ := slices.BinarySearch(pb.ends, k+1)
		k0 = 0
		if i > 0 {
			k0 = pb.ends[i-1]
		}
	}
	return k0, pb.blockLen(k0)
}

// row copies row k of the matrix pb was packed from into dst (N floats).
func (pb *PackedB) row(k int, dst []float32) {
	k0, kk := pb.block(k)
	np := (pb.N + nr - 1) / nr
	for p := 0; p < np; p++ {
		copy(dst[p*nr:][:min(nr, pb.N-p*nr)], pb.data[k0*np*nr+p*nr*kk+(k-k0)*nr:])
	}
}

// setRow writes src (N floats) into row k: row's inverse.
func (pb *PackedB) setRow(k int, src []float32) {
	k0, kk := pb.block(k)
	np := (pb.N + nr - 1) / nr
	for p := 0; p < np; p++ {
		copy(pb.data[k0*np*nr+p*nr*kk+(k-k0)*nr:][:min(nr, pb.N-p*nr)], src[p*nr:])
	}
}

// blockLen is the number of rows in the block starting at row k0.
func (pb *PackedB) blockLen(k0 int) int {
	if pb.ends == nil {
		return min(kc, pb.K-k0)
	}
	i, _ := slices.BinarySearch(pb.ends, k0+1)
	return pb.ends[i] - k0
}

// maxBlock is the length of pb's longest block of rows.
func (pb *PackedB) maxBlock() int {
	if pb.ends == nil {
		return min(kc, pb.K)
	}
	longest, k0 := 0, 0
	for _, e := range pb.ends {
		longest, k0 = max(longest, e-k0), e
	}
	return longest
}

// GemmPacked is Gemm with B packed by PackB.
func GemmPacked(m int, a Mat, b *PackedB, c []float32, ldc int, accumulate bool) {
	gemm(m, b.N, b.K, oneMat(a), bSource{packed: b}, c, ldc, accumulate, epAt{})
}

// GemmPackedEpilogue is GemmPacked (without accumulation) finishing C with
// ep (Bias has N entries, Res is m x N).
func GemmPackedEpilogue(m int, a Mat, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	gemm(m, b.N, b.K, oneMat(a), bSource{packed: b}, c, ldc, false, epAt{e: ep})
}

// PackBPair packs top's rows over bottom's (both packed, of as many
// columns) for ConvPairForward: no block of rows straddles the two.
func PackBPair(top, bottom *PackedB) *PackedB {
	n, k1, k2 := top.N, top.K, bottom.K
	var ends []int
	for _, part := range [][2]int{{0, k1}, {k1, k1 + k2}} {
		for e := part[0] + kc; e < part[1]; e += kc {
			ends = append(ends, e)
		}
		if part[1] > part[0] {
			ends = append(ends, part[1])
		}
	}
	np := (n + nr - 1) / nr
	pb := &PackedB{K: k1 + k2, N: n, data: make([]float32, np*nr*(k1+k2)), ends: ends}
	row := make([]float32, n)
	for k := 0; k < k1; k++ {
		top.row(k, row)
		pb.setRow(k, row)
	}
	for k := 0; k < k2; k++ {
		bottom.row(k, row)
		pb.setRow(k1+k, row)
	}
	return pb
}

// aMats is the A of a product: its columns before split are first's,
// the rest second's (from second's column 0).
type aMats struct {
	first, second Mat
	split         int
	// gather, where set, stands for second: its rows are made out of a
	// convolution's input, each core gathering the block it is about to
	// multiply while the block is in its cache, instead of one im2col
	// pass writing them all out beforehand; from row gatherRow of
	// gather's.
	gather    *gatheredRows
	gatherRow int
}

// gathered is the A of a product whose rows are all gathered.
func gathered(g *gatheredRows) aMats { return aMats{split: 0, gather: g} }

// oneMat is the A of a product that has a single matrix.
func oneMat(a Mat) aMats { return aMats{first: a, split: math.MaxInt} }

// rows returns the A from row i on.
func (a aMats) rows(i int) aMats {
	a.gatherRow += i
	a.first = a.first.sub(i, 0)
	if a.split != math.MaxInt {
		a.second = a.second.sub(i, 0)
	}
	return a
}

// from returns the matrix holding column k0, seen from that column.
func (a aMats) from(k0 int) Mat {
	if k0 < a.split {
		return a.first.sub(0, k0)
	}
	return a.second.sub(0, k0-a.split)
}

// bSource gives gemmSerial the packed panels of B for a block of rows,
// packing them on the fly or slicing a PackedB.
type bSource struct {
	mat    Mat
	packed *PackedB
	j0     int // first column, a multiple of nr
	// after is where the last panel prefetches (0: nowhere): the B of the
	// product that comes next on this core.
	after uintptr
}

func (s bSource) sub(j0 int) bSource {
	if s.packed != nil {
		return bSource{packed: s.packed, j0: s.j0 + j0, after: s.after}
	}
	return bSource{mat: s.mat.sub(0, j0)}
}

// nextBlock is where the packed panels of block k0 start for these
// columns (0 past the end, or where B is not packed): what the last panel
// of the block before should prefetch. Under a split by columns the panel
// after a core's last one is the other core's, already on its way there.
func (s bSource) nextBlock(k0 int) uintptr {
	if s.packed == nil || k0 >= s.packed.K {
		return s.after
	}
	return uintptr(unsafe.Pointer(&s.block(k0, s.packed.blockLen(k0), 0, nil)[0]))
}

func (s bSource) block(k0, kk, n int, buf *[]float32) []float32 {
	if s.packed != nil {
		np := (s.packed.N + nr - 1) / nr
		return s.packed.data[k0*np*nr+(s.j0/nr)*nr*kk:]
	}
	packB(s.mat, k0, kk, n, *buf)
	return *buf
}

func gemm(m, n, k int, a aMats, b bSource, c []float32, ldc int, accumulate bool, ep epAt) {
	if m == 0 || n == 0 {
		return
	}
	workers := Workers()
	mb := (m + mc - 1) / mc
	nb := (n + nr - 1) / nr
	if workers > 1 && mb*nb < workers && k >= 4*kc && m*n*k >= 1<<20 && b.packed == nil && ep.e == nil {
		gemmSplitK(m, n, k, a.first, b, c, ldc, accumulate, workers) // one matrix: B is not packed
		return
	}
	// One job per worker: row bands (each reads only its rows of A), or
	// column bands when whole panels share out more evenly that way (49 or
	// 196 rows of a small image: 5 or 17 row panels for 2 workers).
	jobs := workers
	if m*n*k < 1<<16 {
		jobs = 1 // too small to be worth spreading
	}
	rowPanels := (m + mr - 1) / mr
	share := func(panels int) float64 { return float64((panels+jobs-1)/jobs) / float64(panels) }
	mb = min(rowPanels, jobs)
	// Aliased rows copied before the kernels read them (readsAliased) are
	// better split by rows, each core copying its own: a column split has
	// both copy all of them (8% slower on 196 rows of 1024 channels). So
	// are AVX2's, read in place (196 x 1024 x 256 from memory: 705 -> 661
	// us); AVX-512's narrow tiles are level either way.
	aliased := a.split > 0 && aliasedRows(a.first, m)
	if _, narrow := readsAliased(a.first); share(nb) < share(rowPanels) && !(aliased && !narrow && rowPanels >= 4*jobs) {
		mb = 1
	}
	nsplit := min(nb, max(1, (jobs+mb-1)/mb))
	panels := (nb + nsplit - 1) / nsplit
	// Whole panels per band, rounded to the nearest so that the bands are
	// even (196 rows: 96 and 100, not 108 and 88); the last takes the rest.
	rowsPer := max(mr, (m/mb+mr/2)/mr*mr)
	gemmTasks.Run(mb*nsplit, 1, gemmTask{m, n, k, a, b, c, ldc, accumulate, ep, aliased, mb, nsplit, panels, rowsPer})
}

// gemmTask is gemm's loop over its bands of rows and columns.
type gemmTask struct {
	m, n, k    int
	a          aMats
	b          bSource
	c          []float32
	ldc        int
	accumulate bool
	ep         epAt
	aliased    bool
	// mb bands of rowsPer rows (the last takes the rest) by nsplit of
	// panels panels
	mb, nsplit, panels, rowsPer int
}

var gemmTasks Tasks[gemmTask, *gemmTask]

func (t *gemmTask) Run(lo, hi int) {
	for job := lo; job < hi; job++ {
		band := job / t.nsplit
		i0, j0 := band*t.rowsPer, (job%t.nsplit)*t.panels*nr
		if i0 >= t.m || j0 >= t.n {
			continue
		}
		mm, nn := min(t.rowsPer, t.m-i0), min(t.panels*nr, t.n-j0)
		if band == t.mb-1 {
			mm = t.m - i0
		}
		gemmSerial(mm, nn, t.k, t.a.rows(i0), t.b.sub(j0), t.c[i0*t.ldc+j0:], t.ldc, t.accumulate, t.ep.at(i0, j0), t.aliased)
	}
}

// sub returns the view starting at row i, column j.
func (m Mat) sub(i, j int) Mat {
	if m.T {
		i, j = j, i
	}
	return Mat{Data: m.Data[i*m.Stride+j:], Stride: m.Stride, T: m.T}
}

func gemmSplitK(m, n, k int, a Mat, b bSource, c []float32, ldc int, accumulate bool, parts int) {
	partial := make([][]float32, parts)
	ParallelFor(parts, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			k0, k1 := p*k/parts, (p+1)*k/parts
			buf := getBuf(m * n)
			gemmSerial(m, n, k1-k0, oneMat(a.sub(0, k0)), b.rows(k0), *buf, n, false, epAt{}, aliasedRows(a, m))
			partial[p] = *buf
		}
	})
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var s float32
			if accumulate {
				s = row[j]
			}
			for _, p := range partial {
				s += p[i*n+j]
			}
			row[j] = s
		}
	}
	for p := range partial {
		putBuf(&partial[p])
	}
}

// rows returns the source of B's rows from k0 on (not for packed B).
func (s bSource) rows(k0 int) bSource { return bSource{mat: s.mat.sub(k0, 0)} }

// gemmSerial is Gemm on the calling goroutine; aliased says that A's rows
// alias in the L1 cache (aliasedRows: not for an A that
// the caller has just written into cache).
func gemmSerial(m, n, k int, a aMats, b bSource, c []float32, ldc int, accumulate bool, ep epAt, aliased bool) {
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		if ep.e != nil {
			ep.e.apply(c, ldc, ep.i, ep.j, m, n)
		}
		return
	}
	g := gemmBlocks{m: m, n: n, k: k, a: a, c: c, ldc: ldc, accumulate: accumulate, ep: ep, rows: mc}
	if aliased {
		g.copyA, g.narrow = readsAliased(a.first)
		g.copyA = g.copyA && m >= mr
	}
	// Scratch only as needed: the free lists' lock is shared by the cores.
	var bp *[]float32
	kb := min(k, kc) // the longest block of k
	if b.packed == nil {
		bp = getBuf((n + nr - 1) / nr * nr * kb)
		defer putBuf(bp)
	} else {
		kb = b.packed.maxBlock()
	}
	// Only the last block can end short of a panel (mc is a multiple of
	// mr); with a kernel for each height from smallRows, only 1-3 rows in
	// all go through the zero-padded panel.
	short := m%mr != 0
	if exactTiles() {
		short = m%mc > 0 && m%mc < smallRows
	}
	if short {
		g.short = getBuf(mr * kb)
		defer putBuf(g.short)
	}
	if m <= oneBlockRows && !g.copyA && exactTiles() {
		g.rows = m
	}
	if g.copyA || a.gather != nil {
		g.rowBlock = getBuf(max(mc, g.rows) * kb)
		defer putBuf(g.rowBlock)
	}
	if b.packed != nil && (4*len(b.packed.data) <= l2Bytes/2 || g.streamsA() || 0 < a.split && a.split < k) {
		// Each block of rows through all of k while its C stays in cache,
		// and B, packed, read again for each block (from L2 when it is
		// small): taken k block by k block, C would go out to memory and
		// back each time (10% slower on 12544 rows of 512 channels by 128),
		// and the next block of A's rows could not be prefetched whole (4%
		// on 3136 rows of 1024 channels by 256, B of 1 MB). An A of two
		// matrices needs it most: C would go to memory between the two.
		for i0 := 0; i0 < m; i0 += g.rows {
			pf := g.nextRows(i0)
			for k0, kk := 0, 0; k0 < k; k0 += kk {
				kk = b.packed.blockLen(k0)
				pf.next = b.nextBlock(k0 + kk)
				if k0+kk == k && i0+g.rows < m { // the next block of rows starts over
					pf.next = b.nextBlock(0)
				}
				g.block(i0, k0, kk, b.block(k0, kk, n, bp), &pf)
			}
		}
		return
	}
	// A block of B's rows at a time (packed here if it is not), for all
	// rows of A.
	for k0, kk := 0, 0; k0 < k; k0 += kk {
		kk = min(kc, k-k0)
		if b.packed != nil {
			kk = b.packed.blockLen(k0)
		}
		bpanels := b.block(k0, kk, n, bp)
		for i0 := 0; i0 < m; i0 += g.rows {
			var pf prefetch
			if kk == k { // the next block's rows are whole rows of A
				pf = g.nextRows(i0)
			}
			if i0+g.rows >= m {
				pf.next = b.nextBlock(k0 + kk)
			}
			g.block(i0, k0, kk, bpanels, &pf)
		}
	}
}

// oneBlockRows is the most rows of A read in place that a product takes
// as one block rather than blocks of mc: each block passes over all of
// B's panels, and at batch 1 a 14x14 layer's 196 rows in blocks of 96, 96
// and 4 read a core's half of B (512 KB) three times, the later times from
// an L2 the residual and the output had half flushed. As one block,
// ResNet-50 at batch 1 ran 1.0013-1.0066 times as fast pass by pass (seven
// alternations, median 1.0049; batch 2 1.0045, ResNet-18 1.0014). Rows
// gathered into a block (the strided projection of a block-opening pair)
// are gathered whole too, their block of k at a time: the 14x14 pair
// 0.88-0.97 -> 0.87-0.91 ms, ResNet-50 0.9980-1.0023 pass by pass (eight
// alternations, median 1.0018).
const oneBlockRows = 3 * mc

// gemmBlocks is one gemmSerial product, run a block of A at a time.
type gemmBlocks struct {
	m, n, k    int
	rows       int // rows a block of A takes
	a          aMats
	c          []float32
	ldc        int
	accumulate bool
	ep         epAt
	// rowBlock holds a block of A's rows where they are gathered or copied
	// together (copyA); short the last rows, short of a kernel's mr,
	// zero-padded.
	rowBlock, short *[]float32
	// Rows that alias in the L1 cache (aliasedRows) are copied together
	// first (copyA) or taken at most narrowRows at a time (narrow).
	copyA, narrow bool
}

// streamsA reports whether A streams from memory in blocks of whole rows
// that lie together, which the kernels then prefetch: an A that fits in
// the cores' L2 is read from there.
func (g *gemmBlocks) streamsA() bool {
	a, k1 := g.a.first, min(g.k, g.a.split)
	if k1 < g.k && g.a.second.Stride != g.k-k1 {
		return false
	}
	return !a.T && a.Stride == k1 && g.m > mc && 4*g.k*g.m >= 2*l2Bytes
}

// nextRows returns the prefetch of the block of A's rows after row i0's.
func (g *gemmBlocks) nextRows(i0 int) prefetch {
	next := i0 + g.rows
	if !g.streamsA() || next >= g.m {
		return prefetch{}
	}
	rows, k1 := min(g.rows, g.m-next), min(g.k, g.a.split)
	pf := prefetch{addr: uintptr(unsafe.Pointer(&g.a.first.Data[next*k1])), left: 4 * k1 * rows}
	if k1 < g.k {
		pf.addr2, pf.left2 = uintptr(unsafe.Pointer(&g.a.second.Data[next*(g.k-k1)])), 4*(g.k-k1)*rows
	}
	return pf
}

// block multiplies rows [i0, i0+mc) and columns [k0, k0+kk) of A by that
// block of B's rows (packed), finishing C after the last k block.
func (g *gemmBlocks) block(i0, k0, kk int, bpanels []float32, pf *prefetch) {
	c, ldc := g.c, g.ldc
	mm := min(g.rows, g.m-i0)
	var a Mat
	ai := i0 // A's row for C's row i0
	gathered := g.a.gather != nil && k0 >= g.a.split
	if gathered {
		g.a.gather.fill(g.a.gatherRow+i0, mm, k0-g.a.split, kk, *g.rowBlock)
		a, ai = Mat{Data: *g.rowBlock, Stride: kk}, 0
	} else {
		a = g.a.from(k0)
	}
	acc := g.accumulate || k0 > 0
	var last epAt
	if k0+kk == g.k {
		last = g.ep.at(i0, 0) // the final k block finishes C
	}
	full := mm / mr * mr
	if exactTiles() && mm >= smallRows {
		full = mm // the last rows too: a kernel of their height reads them where they are
	}
	if full > 0 {
		// The kernels read whole panels of A where they are (a row-major A
		// row by row, a transposed one column by column), unless its rows
		// are copied together first.
		in := panelA{data: a.sub(ai, 0).Data, rs: a.Stride, ks: 1, taps: oneTap}
		if a.T {
			in.rs, in.ks = 1, a.Stride
		}
		if g.copyA && !gathered {
			in = copyRows(in, full, kk, *g.rowBlock)
		}
		if g.narrow && !gathered && full >= smallRows {
			macroKernelNarrow(full, g.n, kk, in, bpanels, c[i0*ldc:], ldc, acc, last)
		} else {
			macroKernel(full, g.n, kk, in, mr*in.rs, bpanels, c[i0*ldc:], ldc, acc, last, pf)
		}
	}
	if full < mm { // the last rows, short of a panel, go into a zero-padded one
		var in panelA
		if a.T {
			packA(a, ai+full, mm-full, 0, kk, *g.short)
			in = panelA{data: *g.short, rs: 1, ks: mr, taps: oneTap}
		} else { // rows copied whole, and zeros below for a kernel taller than them
			in = copyRows(panelA{data: a.sub(ai+full, 0).Data, rs: a.Stride}, mm-full, kk, *g.short)
			clear((*g.short)[(mm-full)*kk : mr*kk])
		}
		macroKernel(mm-full, g.n, kk, in, mr*kk, bpanels, c[(i0+full)*ldc:], ldc, acc, last.at(full, 0), pf)
	}
}

// vecGroups reports whether the vector kernels (AVX-512 or AVX2) take c
// channels: whole groups of 16.
func vecGroups(c int) bool { return (useAVX512 || useAVX2) && c%16 == 0 }

// l2Bytes is the size of a core's L2 cache (1 MB on the Zen cores
// measured; 512 KB to 2 MB on others).
const l2Bytes = 1 << 20

// prefetch is memory the 12x32 kernels fetch while they compute, a stretch
// each: a product streaming A from memory gets the next block of rows
// ready while the kernels work on this one (13% faster on 50176 rows of 256
// channels by 128). The kernels otherwise fetch the next panel of B.
type prefetch struct {
	addr  uintptr
	left  int // bytes
	addr2 uintptr
	left2 int // the second matrix of a two-part A: what comes after
	// next is where the last panel's kernels fetch (the next block of
	// B's rows; 0: the panel after it), once the rest is fetched.
	next uintptr
}

// active reports whether anything is left to prefetch.
func (p *prefetch) active() bool { return p != nil && (p.left > 0 || p.left2 > 0) }

// take returns where a kernel of kt steps should prefetch (0: none left),
// and moves past what it fetches: 128 bytes a step.
func (p *prefetch) take(kt int) uintptr {
	if p == nil {
		return 0
	}
	if p.left <= 0 && p.left2 > 0 {
		p.addr, p.left, p.left2 = uintptr(p.addr2), p.left2, 0
	}
	if p.left <= 0 {
		return 0
	}
	at := p.addr
	p.addr += uintptr(128 * kt)
	p.left -= 128 * kt
	return at
}

// aliasedRows reports whether A's rows are a multiple of 4 KB apart (1024
// or 2048 channels): the 12 rows a 12-row kernel reads at once then fall
// in one set of the L1 cache and evict each other and B. AVX2's kernels
// read 6 rows at a time and take them in place (2-5% faster than copying
// them together first). The AVX-512 products copy each block of rows
// close together first where they are 8 KB apart or more (readsAliased),
// 25-30% faster than 12-row tiles in place, or else take them in tiles of
// at most narrowRows in place: 3136 rows of 1024 channels by 256, 5.67 -> 5.27
// ms, where 8 KB apart (784 x 2048 x 512, 49 x 2048 x 512) those tiles
// lost 2-5% to the copy (BenchmarkGemmResNet50Cold, medians of six
// alternations).
func aliasedRows(a Mat, m int) bool {
	return !a.T && m >= mr && a.Stride%1024 == 0
}

// readsAliased reports how a product reads aliased rows of a: copied
// together first, in narrow tiles (both AVX-512), or else (neither) in
// place.
func readsAliased(a Mat) (copied, narrow bool) {
	if !useAVX512 {
		return false, false
	}
	return a.Stride%2048 == 0, a.Stride%2048 != 0
}

// copyRows copies rows x kk of row-major a into dst, rows kk apart.
func copyRows(a panelA, rows, kk int, dst []float32) panelA {
	for r := 0; r < rows; r++ {
		copy(dst[r*kk:(r+1)*kk], a.data[r*a.rs:r*a.rs+kk])
	}
	return panelA{data: dst, rs: kk, ks: 1, taps: oneTap}
}

// packA copies rows [i0, i0+mm) and columns [k0, k0+kk) of A into panels
// of mr rows, each stored k-major (mr values per k), zero-padded.
func packA(a Mat, i0, mm, k0, kk int, dst []float32) {
	for p := 0; p*mr < mm; p++ {
		panel := dst[p*mr*kk : (p+1)*mr*kk]
		rows := min(mr, mm-p*mr)
		i := i0 + p*mr
		for r := 0; r < mr; r++ {
			if r >= rows {
				for kx := 0; kx < kk; kx++ {
					panel[kx*mr+r] = 0
				}
				continue
			}
			if a.T {
				for kx := 0; kx < kk; kx++ {
					panel[kx*mr+r] = a.Data[(k0+kx)*a.Stride+i+r]
				}
				continue
			}
			for kx, v := range a.Data[(i+r)*a.Stride+k0:][:kk] {
				panel[kx*mr+r] = v
			}
		}
	}
}

// packB copies rows [k0, k0+kk) of B into panels of nr columns, each stored
// k-major (nr values per k), zero-padded.
func packB(b Mat, k0, kk, n int, dst []float32) {
	np := (n + nr - 1) / nr
	for p := 0; p < np; p++ {
		panel := dst[p*nr*kk : (p+1)*nr*kk]
		cols := min(nr, n-p*nr)
		for kx := 0; kx < kk; kx++ {
			row := panel[kx*nr : (kx+1)*nr]
			if !b.T {
				copy(row[:cols], b.Data[(k0+kx)*b.Stride+p*nr:][:cols])
				clear(row[cols:])
				continue
			}
			for j := 0; j < nr; j++ {
				if j < cols {
					row[j] = b.at(k0+kx, p*nr+j)
				} else {
					row[j] = 0
				}
			}
		}
	}
}

// panelA says where a kernel reads a panel of A: element (r, k) of
// stretch t at data[taps[t]+r*rs+k*ks]. A matrix has one stretch at 0; a
// convolution read in place has one per kernel row.
type panelA struct {
	data   []float32
	rs, ks int
	taps   []int
	pf     uintptr // where a 12x32 kernel prefetches (0: the next panel of B)
}

var oneTap = []int{0}

// shift returns the panel starting off floats further on.
func (a panelA) shift(off int) panelA {
	a.data = a.data[off:]
	return a
}

// last is the index of the last element the kernel reads for rows x kk.
func (a panelA) last(rows, kk int) int {
	return slices.Max(a.taps) + (rows-1)*a.rs + (kk-1)*a.ks
}

// macroKernel multiplies an mm x (kk per tap) block of A by the packed
// panels of B into C; panel p of A (rows p*mr...) starts step floats after
// panel p-1.
func macroKernel(mm, n, kk int, a panelA, step int, bp []float32, c []float32, ldc int, acc bool, ep epAt, pf *prefetch) {
	var tile [mr * nr]float32
	kt := kk * len(a.taps)
	for j0 := 0; j0 < n; j0 += nr {
		bpanel := bp[(j0/nr)*nr*kt:]
		cols := min(nr, n-j0)
		for i0 := 0; i0 < mm; {
			rows := panelRows(mm-i0, cols)
			at := a.shift((i0/mr)*step + (i0%mr)*a.rs)
			switch {
			case rows == mr && cols == nr && pf.active(): // a tile at a time while prefetching
				at.pf = pf.take(kt)
			case rows == mr: // the full panels in one call
				if j0+nr >= n && pf != nil {
					at.pf = pf.next
				}
				n := fullTiles(mm - i0)
				tilesOf(n, mr, kk, at, step, mr, bpanel, cols, c[i0*ldc+j0:], ldc, acc, ep.e, ep.i+i0, ep.j+j0, &tile)
				i0 += n * mr
				continue
			}
			tileOf(rows, kk, at, bpanel, cols, c[i0*ldc+j0:], ldc, acc, ep.e, ep.i+i0, ep.j+j0, &tile)
			i0 += rows
		}
	}
}

// narrowRows is the most rows macroKernelNarrow's tiles take: 8 lines
// in a set of the L1 cache's 12 leave room for B's.
const narrowRows = 8

// macroKernelNarrow is macroKernel in tiles of at most narrowRows rows
// (mm >= smallRows), as even as they come.
func macroKernelNarrow(mm, n, kk int, a panelA, bp []float32, c []float32, ldc int, acc bool, ep epAt) {
	var tile [mr * nr]float32
	kt := kk * len(a.taps)
	t := (mm + narrowRows - 1) / narrowRows
	h, taller := mm/t, mm%t // taller tiles of h+1 rows, then t-taller of h
	for j0 := 0; j0 < n; j0 += nr {
		bpanel := bp[(j0/nr)*nr*kt:]
		cols := min(nr, n-j0)
		i0 := taller * (h + 1)
		if taller > 0 {
			tilesOf(taller, h+1, kk, a, (h+1)*a.rs, h+1, bpanel, cols, c[j0:], ldc, acc, ep.e, ep.i, ep.j+j0, &tile)
		}
		tilesOf(t-taller, h, kk, a.shift(i0*a.rs), h*a.rs, h, bpanel, cols, c[i0*ldc+j0:], ldc, acc, ep.e, ep.i+i0, ep.j+j0, &tile)
	}
}

// tilesOf is tileOf for n tiles of rows, A's panels step floats apart and
// C's crows rows apart (rows: one below the other): in one call into the
// assembly where it can.
func tilesOf(n, rows, kk int, a panelA, step, crows int, bpanel []float32, cols int, c []float32, ldc int, acc bool, ep *Epilogue, i, j int, tile *[mr * nr]float32) {
	if n > 1 && tilesC(n, rows, cols, kk, a, step, crows, bpanel, c, ldc, acc, ep, i, j) {
		return
	}
	for t := 0; t < n; t++ {
		tileOf(rows, kk, a.shift(t*step), bpanel, cols, c[t*crows*ldc:], ldc, acc, ep, i+t*crows, j, tile)
	}
}

// tileOf computes rows x cols of C (at most mr x nr) from A's panel and
// B's, at row i, column j of ep's matrix: straight into C where an
// assembly kernel fits, else through tile.
func tileOf(rows, kk int, a panelA, bpanel []float32, cols int, c []float32, ldc int, acc bool, ep *Epilogue, i, j int, tile *[mr * nr]float32) {
	if microKernelC(rows, cols, kk, a, bpanel, c, ldc, acc, ep, i, j) {
		return
	}
	microKernel(rows, kk, a, bpanel, tile)
	for r := 0; r < rows; r++ {
		dst := c[r*ldc:][:cols]
		src := tile[r*nr:][:cols]
		if acc {
			for j, v := range src {
				dst[j] += v
			}
		} else {
			copy(dst, src)
		}
	}
	if ep != nil { // the tile is still in L1
		ep.apply(c, ldc, i, j, rows, cols)
	}
}

// smallRows and midRows are heights of the shorter kernels that finish
// the last rows of a matrix or an output row (every height from smallRows
// to mr has one; below smallRows, rows go through a tile buffer).
const (
	smallRows = 4
	midRows   = 8
)

// panelRows is how many of left rows the next kernel takes in a tile of
// cols columns: mr while that leaves at least minTail, else all of them,
// in two even tiles above mr (13-17: 7 and 6 to 9 and 8, not 12 and a
// tile of 1-5 rows: a tile of 1-3 costs a 4-row tile's time, and 4 and 5
// rows run at 82 and 86% of the FMA peak against 95% from 6 up). 13 rows
// go in one tile of mr+1 where AVX-512 has one (32 columns): ResNet-50's
// 49-row products at batch 1 as 12+12+12+13, and the 25 rows of its
// Winograd products as 12+13 (pass by pass 0.2-0.8% faster at batch 1,
// eight alternations; level at 16).
func panelRows(left, cols int) int {
	switch {
	case left >= mr+minTail || left == mr:
		return mr
	case left == mr+1 && tallTiles(cols):
		return mr + 1
	case left > mr:
		return (left + 1) / 2
	}
	return left
}

// tallTiles reports whether tiles of cols columns have a kernel of mr+1
// rows: AVX-512's of 32 columns.
func tallTiles(cols int) bool { return useAVX512 && cols == nr }

// dupRows is the height of the tiles of tilesDup (a kernel gradient of 16
// filters).
const dupRows = 2 * mr

// minTail is the fewest rows panelRows leaves to a last tile.
const minTail = 6

// fullTiles is how many mr-row tiles of left rows go in one call: all of
// them but where panelRows would take the last 13-17 rows in other tiles.
func fullTiles(left int) int {
	n := left / mr
	if r := left % mr; r > 0 && r < minTail && n > 0 {
		n--
	}
	return n
}

// microKernelGo is the portable mr x nr kernel: tile = sum over the taps
// and k of A's element (r, k) times B's row k. The assembly kernels must
// match it bit for bit.
func microKernelGo(kk int, a panelA, b []float32, tile *[mr * nr]float32) {
	var t [mr * nr]float32
	b = b[:kk*len(a.taps)*nr]
	for _, off := range a.taps {
		for k := 0; k < kk; k++ {
			bk := b[k*nr : k*nr+nr]
			for r := 0; r < mr; r++ {
				av := a.data[off+r*a.rs+k*a.ks]
				row := t[r*nr : r*nr+nr]
				for j := range row {
					row[j] += av * bk[j]
				}
			}
		}
		b = b[kk*nr:]
	}
	*tile = t
}

// asmArgs returns the assembly kernels' epilogue flags, bias and residual
// pointers for the rows x cols tile at row i, column j finished by e (nil:
// nothing but acc).
func (e *Epilogue) asmArgs(acc bool, i, j, rows, cols int) (flags int, bias, res *float32, ldres int) {
	flags = e.flags(acc)
	if flags&flagBias != 0 {
		b := e.Bias[j : j+cols]
		bias = &b[0]
	}
	if flags&flagRes != 0 {
		r := e.Res[i*e.LdRes+j : (i+rows-1)*e.LdRes+j+cols]
		res, ldres = &r[0], 4*e.LdRes
	}
	return flags, bias, res, ldres
}

// flags is the assembly kernels' epilogue flags for e (nil: nothing but
// acc, C's values added).
func (e *Epilogue) flags(acc bool) (f int) {
	if acc {
		f |= flagAcc
	}
	if e == nil {
		return f
	}
	if e.Bias != nil {
		f |= flagBias
	}
	if e.Res != nil {
		f |= flagRes
	}
	if e.Relu {
		f |= flagRelu
	}
	return f
}

// The assembly kernels' flags (tools/gen_gemm_asm.py).
const (
	flagAcc = 1 << iota
	flagBias
	flagRes
	flagRelu
)

// freeLists hold free scratch slices by size class: class c holds slices
// of capacity 1<<c. Exact classes mean a slice taken is never dropped for
// being too small, and unlike a sync.Pool the lists survive collections,
// so steady use allocates nothing: garbage is what lets a process's heap
// grow to twice the model's weights. The lists hold as many slices of a
// class as were ever in use at once.
type freeLists[T float32 | float64 | int] struct {
	mu   sync.Mutex
	free [48][]*[]T
}

// scratch holds the kernels' float32 buffers, scratch64 their float64
// sums, scratchInts their offsets.
var (
	scratch     freeLists[float32]
	scratch64   freeLists[float64]
	scratchInts freeLists[int]
)

// held is the number of values the free slices hold.
func (l *freeLists[T]) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, f := range l.free {
		for _, p := range f {
			n += cap(*p)
		}
	}
	return n
}

// get returns a slice of n values (contents undefined).
func (l *freeLists[T]) get(n int) *[]T {
	c := bits.Len(uint(max(n, 1) - 1))
	l.mu.Lock()
	if f := l.free[c]; len(f) > 0 {
		p := f[len(f)-1]
		l.free[c] = f[:len(f)-1]
		l.mu.Unlock()
		*p = (*p)[:n]
		return p
	}
	l.mu.Unlock()
	s := make([]T, n, 1<<c)
	return &s
}

// put returns a slice from get to the lists.
func (l *freeLists[T]) put(p *[]T) {
	c := bits.Len(uint(cap(*p))) - 1
	if cap(*p) != 1<<c {
		return // not from get
	}
	l.mu.Lock()
	l.free[c] = append(l.free[c], p)
	l.mu.Unlock()
}

// getBuf returns a scratch slice of n floats (contents undefined); hot
// loops reuse packing and scratch buffers instead of allocating per call.
func getBuf(n int) *[]float32 { return scratch.get(n) }

// putBuf returns a slice from getBuf to the free lists.
func putBuf(p *[]float32) { scratch.put(p) }

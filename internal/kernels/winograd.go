package kernels

import (
	"fmt"
	"slices"
	"sync"
)

// Winograd's F(2x2, 3x3): a 3x3 stride-1 convolution computed on 4x4 input
// tiles that each give 2x2 outputs, with 16 multiplications per tile and
// channel pair instead of 36 (2.25 times fewer). The tiles are transformed
// (V = B'dB), multiplied by the transformed kernel (U = GgG') as 16
// matrix products over channels, and transformed back (Y = A'MA).
// F(4x4, 3x3) (winograd4.go) runs the same way with 6x6 tiles, and
// stride-2 convolutions (winograds2.go) with 5x5 tiles and 25 products.

// WinogradKernel is a 3x3 kernel transformed and packed for WinogradConv.
type WinogradKernel struct {
	C, F int
	// groups is the number of groups of channels, each its own products
	// (a grouped convolution's groups as PackConvKernel merged them).
	groups int
	form   *winoForm
	u      []*PackedB // (m+2)^2 points' transformed kernels, group by group: u[e*groups+g]
	store  []PackedB  // what u points to
}

// Tile is the side of the outputs one tile gives: 2 for F(2x2, 3x3), 4
// for F(4x4, 3x3).
func (wk *WinogradKernel) Tile() int { return wk.form.m }

// alias is the first point whose transformed kernel point e shares.
func (wk *WinogradKernel) alias(e int) int {
	if wk.form.alias == nil {
		return e
	}
	return wk.form.alias(e)
}

// points is the number of points (products) of wk's form.
func (wk *WinogradKernel) points() int { return len(wk.form.g) * len(wk.form.g) }

// WinogradApplies reports whether a convolution can run by Winograd: 3x3,
// of stride 1 or 2 (the same on both axes), in groups only from a packed
// kernel (WinogradKernelFromPacked), and not for the groups the direct
// grouped kernels take (smallGroupSize).
func WinogradApplies(p Conv2DParams) bool {
	return p.KH == 3 && p.KW == 3 && (p.SH == 1 || p.SH == 2) && p.SW == p.SH && p.DH == 1 && p.DW == 1 &&
		smallGroupSize(p) == 0
}

// minWinogradTiles is the fewest 2x2 tiles a small output's Winograd
// convolution takes to beat the matrix products: ResNet-50's 7x7x512
// layers lose on one image's 16 tiles (1.05-1.11 ms against 0.95: small
// products, and a transformed kernel of 16 MB against 9.4 to stream from
// memory) and win from two images' 32 on (1.1 against 1.35 ms; at batch 16
// 6.1 against 9.9).
const minWinogradTiles = 32

// minWinogradChannels is the fewest input and output channels for which
// Winograd beats the matrix-product convolution: its 16 or 36 products
// over so few channels are short and narrow. CIFAR ResNet-20's layers at
// batch 128: 32x32x16 2.51-2.66 ms by matrix products against 2.83-3.02
// by F(4x4), 16x16x32 1.94-2.00 against 2.31-2.40 by F(2x2), and 8x8x64
// 1.76-1.81 against 1.32-1.41 (three interleaved runs).
const minWinogradChannels = 64

// minWinograd4Channels is the fewest channels in and out for which
// F(4x4, 3x3) alone, with its four times fewer multiplications, beats the
// matrix products, on minWinograd4Tiles tiles or more. ResNet-20's
// 16x16x32 layers at batch 128 (BenchmarkConvTrain, interleaved test
// binaries): forward 1.62-1.69 ms by matrix products against 1.08-1.16,
// both gradients 3.28-3.42 against 2.87-3.03; its 32x32x16 ones lose
// (forward 1.71-1.74 against 1.95-2.05).
const minWinograd4Channels = 32

// WinogradMinBatch is the smallest batch from which Winograd beats the
// matrix-product convolution for p (p.N aside) on this CPU, or 0 where it
// never does. Measured on Zen 5 with AVX-512 (BenchmarkConvWinograd3x3
// and ResNet-50's layers): 1.2 to 2.1 times faster for any batch for
// outputs from 56x56 down to 14x14; smaller outputs, whose 2x2 tiles
// waste more (16 tiles for 7x7 outputs), from minWinogradTiles tiles on.
// With AVX2 (the same transforms in ymm registers, products at half the
// rate) the same choices hold (ResNet-50 with GODEBUG=cpu.avx512f=off, in
// the network at batch 1: the 56x56 and 28x28 layers by F(4x4) 1.5-2.0 ->
// 0.72-0.80 ms, the 14x14x256 ones by F(2x2) 1.57-1.73 -> 1.11-1.24), but
// for the stride-2 form (winogradS2MinBatch). Without the
// vector transforms it loses everywhere, and so it does with
// fewer than minWinograd4Channels channels in or out, and by F(2x2) with
// fewer than minWinogradChannels.
func WinogradMinBatch(p Conv2DParams) int {
	if !WinogradApplies(p) || !vecGroups(p.C) || !vecGroups(p.F) || p.OH < 1 || p.OW < 1 ||
		p.C < minWinograd4Channels || p.F < minWinograd4Channels {
		return 0
	}
	switch {
	case p.SH == 2 && p.Groups > 1:
		return 0 // see minWinogradMerged
	case p.SH == 2:
		return winogradS2MinBatch(p)
	case p.Groups > 1 && mergedGroups(p) < minWinogradMerged:
		return 0
	}
	if p.C < minWinogradChannels || p.F < minWinogradChannels {
		return winograd4MinBatch(p) // narrow: only by F(4x4)
	}
	if p.OH >= 14 && p.OW >= 14 {
		return 1
	}
	tiles := ((p.OH + 1) / 2) * ((p.OW + 1) / 2)
	return (minWinogradTiles + tiles - 1) / tiles
}

// minWinogradMerged is the fewest groups PackConvKernel merges into one
// (each of at most 1/minWinogradMerged of a panel's filters) for which
// Winograd beats the window convolution on a grouped convolution of
// stride 1: merged, the direct way multiplies zeros (2 to 8 times the
// work in ResNeXt-50's first three stages), and Winograd runs as on
// ungrouped convolutions. BenchmarkConvGrouped at batch 1: ResNeXt-50's
// 56x56x128 layer (8 merged) 0.37-0.39 ms by F(4x4) against 0.71-0.75 by
// windows, 28x28x256 (4) 0.22-0.32 against 0.37-0.47, 14x14x512 (2) 0.20
// by F(2x2) against 0.20-0.30 (2.2-2.5 against 2.6 ms at batch 16; with
// AVX2 0.28-0.50 against 0.42, 3.6-4.4 against 5.7). In the network, that
// last layer by F(2x2) rather than windows measured level (ResNeXt-50 pass
// by pass 1.003-1.010 at batch 1, 0.967-1.010 at 16). Unmerged, windows
// win: ResNeXt-101's 14x14x1024 0.41 against 0.45-0.57 ms at batch 1, 5.7
// against 6.7 at 16, 7x7x1024 1.4 against 2.1-3.6 at 16; its 7x7x2048
// level at 16 (5.3-5.6 against 4.9-5.3 by F(4x4)). Of stride 2, windows
// win everywhere (56x56x256 0.41 against 0.50-0.64).
const minWinogradMerged = 2

// WinogradTile is the output tile side for p: 4, F(4x4, 3x3), where its
// tiles take at least 1.5 times fewer multiplications than F(2x2, 3x3)'s
// (outputs that divide into 4x4 tiles, and odd sizes that F(2x2)'s tiles
// overhang: 7x7 takes 16 2x2 tiles but 4 4x4 ones) and the assembly
// transforms run, on outputs from 28x28 or from minWinograd4Tiles tiles,
// or fewer but still some (14x14) from minWinograd4OverhangTiles tiles;
// else 2, F(2x2, 3x3). A larger batch never takes a smaller tile.
func WinogradTile(p Conv2DParams) int {
	if !vecGroups(p.C) || !vecGroups(p.F) || p.SH == 2 {
		return 2
	}
	if b := winograd4MinBatch(p); b > 0 && p.N >= b {
		return 4
	}
	t2, t4 := ((p.OH+1)/2)*((p.OW+1)/2), ((p.OH+3)/4)*((p.OW+3)/4)
	if 16*t2 > 36*t4 && p.N*t4 >= minWinograd4OverhangTiles && p.C >= minWinogradChannels && p.F >= minWinogradChannels && p.Groups == 1 {
		return 4
	}
	return 2
}

// minWinograd4OverhangTiles is the fewest 4x4 tiles from which F(4x4, 3x3)
// beats F(2x2, 3x3) on outputs its tiles overhang so far that it saves
// less than 1.5 times the multiplications. ResNet-50's 14x14x256 layers
// (16 4x4 tiles an image against 49 2x2 ones: 1.36 times fewer), in the
// network: 0.36-0.46 ms by F(2x2) against 0.58-0.73 by F(4x4) at batch 1,
// level at 4, 2.44-2.65 against 2.10-2.55 at 8, 4.7-4.9 against 4.1-4.5 at
// 16. Grouped convolutions, whose products are a group's channels long,
// stay by F(2x2) there: ResNeXt-50's 14x14x512 (32 groups of 16 filters,
// merged in pairs) at batch 16 2.5-3.1 ms against 3.7-4.7.
const minWinograd4OverhangTiles = 128

// winograd4MinBatch is the smallest batch WinogradTile takes F(4x4, 3x3)
// for (p.N aside), or 0 where it never does.
func winograd4MinBatch(p Conv2DParams) int {
	t2 := ((p.OH + 1) / 2) * ((p.OW + 1) / 2)
	t4 := ((p.OH + 3) / 4) * ((p.OW + 3) / 4)
	switch {
	case 2*16*t2 < 3*36*t4:
		return 0
	case p.OH >= 28 && p.OW >= 28:
		return 1
	}
	return (minWinograd4Tiles + t4 - 1) / t4
}

// minWinograd4Tiles is the fewest 4x4 tiles for which F(4x4, 3x3) beats
// F(2x2, 3x3) on a small output: its transformed kernel is 2.25 times the
// size, read again for each block of tiles. ResNet-50's 7x7x512 layers
// (kernels cold, as in a network): 3.5-3.9 ms by F(2x2) against 4.5-4.6
// by F(4x4) for 8 images (32 tiles), 7.5-7.6 against 5.2 for 16 (64).
const minWinograd4Tiles = 64

// winoForm is one Winograd form F(m x m, 3x3) of a stride: G of the
// kernel transform U = GgG', the tile transforms, and the tiles a block
// takes. Its input tiles are len(g) pixels square, m*stride apart.
type winoForm struct {
	m, stride int
	g         [][3]float64
	// alias, where set, maps each point to the first with the same
	// transformed kernel, which the points share.
	alias     func(e int) int
	input     func(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int)
	outputAsm func(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool) bool
	outputGo  func(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int)
	// blockTiles is the most tiles transformed and multiplied at once for
	// c input channels: the block's transformed tiles and products stay
	// in or near L2, and B's panels serve many tiles. F(4x4, 3x3) ran 1.6x
	// faster at 56x56x64 with blocks of 72 tiles than of 24
	// (BenchmarkConvWinograd3x3), and ResNet-50's 28x28x128 layers at
	// batch 16 best with 36; from 256 channels, blocks of fewer than 32
	// read the transformed kernel too often (14x14x256 at batch 16: 4.1-4.2
	// ms with 32 against 5.4 with 18).
	blockTiles func(c int) int
}

// winoForms are the forms by tile side.
var winoForms = map[int]*winoForm{
	2: {m: 2, stride: 1, g: [][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
		input: winoInput, outputAsm: winoOutputAsm, outputGo: winoOutputGo,
		blockTiles: func(int) int { return 96 }},
	4: {m: 4, stride: 1, g: [][3]float64{{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}},
		input: winoInput4, outputAsm: winoOutput4Asm, outputGo: winoOutput4Go,
		blockTiles: func(c int) int { return max(32, 72*64/max(c, 64)) }},
}

// winoFormS2 is the stride-2 form (winograds2.go).
var winoFormS2 = &winoForm{m: 2, stride: 2, g: winoS2G, alias: winoS2Alias,
	input: winoInputS2, outputAsm: winoOutputS2Asm, outputGo: winoOutputS2Go,
	blockTiles: func(int) int { return 96 }}

// winoFormFor returns the form of output tiles m x m for a stride.
func winoFormFor(m, stride int) *winoForm {
	if stride == 2 && m == 2 {
		return winoFormS2
	}
	if f, ok := winoForms[m]; ok && stride == 1 {
		return f
	}
	panic("kernels: Winograd tiles are 2 or 4 for stride 1, 2 for stride 2")
}

// NewWinogradKernel transforms an HWIO 3x3 kernel (3, 3, c, f) for
// F(2x2, 3x3) of stride 1.
func NewWinogradKernel(kernel []float32, c, f int) *WinogradKernel {
	return NewWinogradKernelTile(kernel, c, f, 2, 1)
}

// NewWinogradKernelTile transforms an HWIO 3x3 kernel (3, 3, c, f) for
// output tiles of m x m and a stride: 2 or 4 for stride 1 (see
// WinogradTile), 2 for stride 2.
func NewWinogradKernelTile(kernel []float32, c, f, m, stride int) *WinogradKernel {
	return newWinogradKernel(c, f, 1, winoFormFor(m, stride), hwioRows(kernel, f), func(n int) []float32 { return make([]float32, n) }, false)
}

// kernelRows is where a Winograd kernel's transform reads the kernel's
// rows: an HWIO kernel of f filters, each group's packed kernel, or
// another Winograd kernel (read back). A value, not a closure, so that a
// training step's transforms allocate nothing.
type kernelRows struct {
	hwio   []float32
	f      int
	packed []*PackedB
	wk     *WinogradKernel
}

// hwioRows returns the rows of an HWIO kernel of f filters.
func hwioRows(kernel []float32, f int) kernelRows { return kernelRows{hwio: kernel, f: f} }

// row writes row k of group g into dst.
func (r kernelRows) row(g, k int, dst []float32) {
	switch {
	case r.wk != nil:
		r.wk.kernelRow(g, k, dst)
	case r.packed != nil:
		r.packed[g].row(k, dst)
	default:
		copy(dst, r.hwio[k*r.f:(k+1)*r.f])
	}
}

// winogradTrains reports whether a training step runs p by Winograd: it
// pays at the batch, and over enough output pixels to pay for the kernel's
// transform as well, made anew each step.
func winogradTrains(p Conv2DParams) bool {
	if p.SH != 1 || p.Groups != 1 {
		return false // the gradients are stride 1's, of one group
	}
	b := WinogradMinBatch(p)
	return b > 0 && p.N >= b && p.N*p.OH*p.OW >= minWinogradTrainPixels
}

// minWinogradTrainPixels is the fewest output pixels (batch times height
// times width) a training step's convolution takes by Winograd. Measured
// at batch 16 (direct against Winograd with the transform, which takes):
// 7x7x512 10.9 against 17.3 ms (10.9), 14x14x256 10.5 against 7.4 (2.4),
// 28x28x128 10.5 against 5.5 (1.1); 8x8x64 0.43 against 0.54 ms at batch
// 32 and 1.73 against 1.22 at batch 128.
const minWinogradTrainPixels = 3072

// withWinogradKernel runs fn with an HWIO kernel transformed for p in
// scratch memory: training transforms its changing weights every step.
func withWinogradKernel(p Conv2DParams, kernel []float32, fn func(*WinogradKernel)) {
	form := winoFormFor(WinogradTile(p), 1)
	n := len(form.g)
	buf := getBuf(n * n * ((p.F + nr - 1) / nr * nr * p.C))
	defer putBuf(buf)
	free := *buf
	clear(free) // the panels' columns past F stay zero
	wk, _ := trainingKernels.Get().(*WinogradKernel)
	if wk == nil {
		wk = new(WinogradKernel)
	}
	defer trainingKernels.Put(wk)
	fn(remakeWinogradKernel(wk, p.C, p.F, 1, form, hwioRows(kernel, p.F), func(size int) []float32 {
		s := free[:size:size]
		free = free[size:]
		return s
	}, true))
}

// trainingKernels holds the WinogradKernels that training steps make anew
// for every layer, their slices reused.
var trainingKernels sync.Pool

// WinogradKernelFromPacked is NewWinogradKernelTile, for a stride of 1 or
// 2, for the kernel that PackConvKernel packed for c input channels, its
// transformed kernels in h: a plan that keeps only the packed kernel can
// add Winograd's later without the kernel or its transforms passing
// through the Go heap. A grouped convolution's kernel gives a group's
// transforms for each group packed. parallel transforms on all cores (see
// newWinogradKernel).
func WinogradKernelFromPacked(h *OffHeap, packed []*PackedB, c, m, stride int, parallel bool) *WinogradKernel {
	groups := len(packed)
	return newWinogradKernel(c, groups*packed[0].N, groups, winoFormFor(m, stride),
		kernelRows{packed: packed}, h.Floats, parallel)
}

// WinogradKernelRetiled is wk's kernel transformed for output tiles of m
// x m (its stride), in h: a plan that kept only the transformed kernel
// takes another tile size for larger batches. The kernel comes back from
// wk's transform with a rounding or two (about 1e-7 relative). parallel
// transforms on all cores.
func WinogradKernelRetiled(h *OffHeap, wk *WinogradKernel, m int, parallel bool) *WinogradKernel {
	if wk.form != winoForms[2] {
		panic("kernels: only F(2x2, 3x3) kernels are read back")
	}
	return newWinogradKernel(wk.C, wk.F, wk.groups, winoFormFor(m, wk.form.stride), kernelRows{wk: wk}, h.Floats, parallel)
}

// kernelRow writes row k of group g's HWIO kernel (tap k/cg, input channel
// k%cg) back from an F(2x2, 3x3) transform of stride 1: U = GgG' with G's
// rows 0 and 3 picking g's rows 0 and 2 and rows 1 - 2 giving row 1, so g
// = LUL' with L those combinations.
func (wk *WinogradKernel) kernelRow(g, k int, dst []float32) {
	pick := [3][4]float32{{1, 0, 0, 0}, {0, 1, -1, 0}, {0, 0, 0, 1}}
	cg, fg := wk.C/wk.groups, wk.F/wk.groups
	tap, ci := k/cg, k%cg
	ky, kx := tap/3, tap%3
	clear(dst[:fg])
	buf := getBuf(fg)
	defer putBuf(buf)
	row := *buf
	for a, la := range pick[ky] {
		for b, lb := range pick[kx] {
			if la*lb == 0 {
				continue
			}
			wk.u[(4*a+b)*wk.groups+g].row(ci, row)
			for x, v := range row {
				dst[x] += la * lb * v
			}
		}
	}
}

// newWinogradKernel transforms the HWIO 3x3 kernel of c input channels
// and f filters in groups (each of c/groups channels and f/groups
// filters; row(g, k, dst) writes row k of group g's) into packed matrices
// whose zeroed memory alloc gives, on all cores if parallel. Training,
// which transforms its kernels every step, does so; a plan compiling, on
// one core: on two, a batch-1 ResNet-50's peak memory rose by 8-10 MB
// (142-145 against 152-153 MB, three runs each). The forms a plan makes
// when its first larger batch comes go on all cores: ResNet-50's first
// batch of 8 straight after Compile took 535-564 ms with them made on one,
// 225-338 on two (130 for the batches after; 294 -> 259-265 ms where
// images were decoded first, the collector then done with Compile's
// garbage).
func newWinogradKernel(c, f, groups int, form *winoForm, row kernelRows, alloc func(n int) []float32, parallel bool) *WinogradKernel {
	return remakeWinogradKernel(new(WinogradKernel), c, f, groups, form, row, alloc, parallel)
}

// remakeWinogradKernel is newWinogradKernel into wk, whose slices it reuses.
func remakeWinogradKernel(wk *WinogradKernel, c, f, groups int, form *winoForm, row kernelRows, alloc func(n int) []float32, parallel bool) *WinogradKernel {
	n := len(form.g)
	u, pbs := slices.Grow(wk.u[:0], n*n*groups)[:n*n*groups], slices.Grow(wk.store[:0], n*n*groups)[:n*n*groups]
	clear(pbs)
	*wk = WinogradKernel{C: c, F: f, groups: groups, form: form, u: u, store: pbs}
	cg, fg := c/groups, f/groups
	size := (fg + nr - 1) / nr * nr * cg
	for e := range n * n {
		for g := range groups {
			if a := wk.alias(e); a != e {
				wk.u[e*groups+g] = wk.u[a*groups+g]
			} else {
				pbs[e*groups+g] = PackedB{K: cg, N: fg, data: alloc(size)}
				wk.u[e*groups+g] = &pbs[e*groups+g]
			}
		}
	}
	for g := range groups {
		wk.transform(g, row, parallel)
	}
	return wk
}

// transform writes group g's transformed kernels from its HWIO rows.
func (wk *WinogradKernel) transform(g int, row kernelRows, parallel bool) {
	form := wk.form
	n := len(form.g)
	cg, f := wk.C/wk.groups, wk.F/wk.groups
	// Input channels in parallel: each writes its own row of every U.
	grain := cg
	if parallel {
		grain = max(1, (1<<14)/(f*n*n))
	}
	kernelTransformTasks.Run(cg, grain, kernelTransformTask{wk, g, row})
}

// kernelTransformTask is WinogradKernel.transform's loop over input channels.
type kernelTransformTask struct {
	wk  *WinogradKernel
	g   int
	row kernelRows
}

var kernelTransformTasks Tasks[kernelTransformTask, *kernelTransformTask]

func (t *kernelTransformTask) Run(lo, hi int) {
	wk, g, row, form := t.wk, t.g, t.row, t.wk.form
	n, cg, f := len(form.g), wk.C/wk.groups, wk.F/wk.groups
	tbuf, obuf := getBuf(9*f), getBuf(n*n*f)
	gbuf := scratch64.get(3 * n * f)
	defer putBuf(tbuf)
	defer putBuf(obuf)
	defer scratch64.put(gbuf)
	// The input channel's nine kernel rows, G k, and their transforms,
	// each a vector over the filters: a loop over filters within, not
	// a 3x3 product per filter (1.5-2x faster).
	taps, gk, out := *tbuf, *gbuf, *obuf
	for ci := lo; ci < hi; ci++ {
		for tap := 0; tap < 9; tap++ {
			row.row(g, tap*cg+ci, taps[tap*f:(tap+1)*f])
		}
		for i := range n { // gk = G k
			for j := 0; j < 3; j++ {
				t := gk[(3*i+j)*f:][:f]
				k0, k1, k2 := taps[j*f:][:f], taps[(3+j)*f:][:f], taps[(6+j)*f:][:f]
				g0, g1, g2 := form.g[i][0], form.g[i][1], form.g[i][2]
				for x := range t {
					t[x] = g0*float64(k0[x]) + g1*float64(k1[x]) + g2*float64(k2[x])
				}
			}
		}
		for i := range n { // U = (G k) G'
			t0, t1, t2 := gk[3*i*f:][:f], gk[(3*i+1)*f:][:f], gk[(3*i+2)*f:][:f]
			for j := range form.g {
				o := out[(n*i+j)*f:][:f]
				g0, g1, g2 := form.g[j][0], form.g[j][1], form.g[j][2]
				for x := range o {
					o[x] = float32(t0[x]*g0 + t1[x]*g1 + t2[x]*g2)
				}
			}
		}
		for e := range n * n {
			if wk.alias(e) == e {
				wk.u[e*wk.groups+g].setRow(ci, out[e*f:(e+1)*f])
			}
		}
	}
}

// WinogradConv computes out = conv3x3(in, kernel) for the stride wk was
// made for (p's) with the padding and output size in p, finished by ep
// (nil: none) as ConvForwardPacked finishes it; ep's residual may be out
// itself (each output is read from it before it is written). Blocks of
// tiles go through all three stages (transform, products, transform back)
// while in cache.
func WinogradConv(p Conv2DParams, in []float32, wk *WinogradKernel, out []float32, ep *Epilogue) {
	form := wk.form
	if p.SH != form.stride || p.SW != form.stride {
		panic(fmt.Sprintf("kernels: a Winograd kernel for stride %d on a convolution of stride %dx%d", form.stride, p.SH, p.SW))
	}
	m, step := form.m, form.m*form.stride // outputs and input pixels from tile to tile
	if p.C != wk.C || p.F != wk.F || p.Groups%wk.groups != 0 {
		panic(fmt.Sprintf("kernels: a Winograd kernel of %d channels, %d filters in %d groups on a convolution of %d, %d in %d",
			wk.C, wk.F, wk.groups, p.C, p.F, p.Groups))
	}
	ne, groups := wk.points(), wk.groups
	th, tw := (p.OH+m-1)/m, (p.OW+m-1)/m
	c, f := p.C, p.F
	cg, fg := c/groups, f/groups
	tiles := p.N * th * tw
	blocks, bt := tileBlocks(tiles, form.blockTiles(c))
	winogradTasks.Run(blocks, blocks/Workers(), winogradTask{p, in, wk, out, ep, form, m, step, ne, groups, th, tw, c, f, cg, fg, tiles, bt}) // whole blocks, evenly
}

// winogradTask is WinogradConv's loop over blocks of tiles.
type winogradTask struct {
	p                                                    Conv2DParams
	in                                                   []float32
	wk                                                   *WinogradKernel
	out                                                  []float32
	ep                                                   *Epilogue
	form                                                 *winoForm
	m, step, ne, groups, th, tw, c, f, cg, fg, tiles, bt int
}

var winogradTasks Tasks[winogradTask, *winogradTask]

func (t *winogradTask) Run(lo, hi int) {
	p, in, wk, out, ep, form := t.p, t.in, t.wk, t.out, t.ep, t.form
	m, step, ne, groups, th, tw := t.m, t.step, t.ne, t.groups, t.th, t.tw
	c, f, cg, fg, tiles, bt := t.c, t.f, t.cg, t.fg, t.tiles, t.bt
	v, mm, edge := getBuf(ne*bt*c), getBuf(ne*bt*f), getBuf(m*m*f)
	defer putBuf(v)
	defer putBuf(mm)
	defer putBuf(edge)
	src := newTileSource(p, len(form.g), step, th, tw, bt)
	defer src.free()
	for b := lo; b < hi; b++ {
		t0, t1 := b*bt, min(tiles, (b+1)*bt)
		if t0 >= t1 {
			break // rounded up to whole rounds of workers: the last blocks can be empty
		}
		for t := t0; t < t1; t++ {
			n, rem := t/(th*tw), t%(th*tw)
			d, rowStride := src.window(in, n, rem/tw, rem%tw)
			form.input(c, d, rowStride, c, (*v)[(t-t0)*c:], bt*c)
		}
		for e, same := 0, 1; e < ne; e += same {
			// Points that share a kernel and lie next to each other
			// make one product of their rows together, whose kernel
			// is read once.
			rows := t1 - t0
			for same = 1; rows == bt && e+same < ne && wk.u[(e+same)*groups] == wk.u[e*groups]; same++ {
			}
			for g := range groups {
				a := Mat{Data: (*v)[e*bt*c+g*cg:], Stride: c}
				u := bSource{packed: wk.u[e*groups+g]}
				// The next product's kernel, cold when weights stream.
				if g+1 < groups {
					u.after = bSource{packed: wk.u[e*groups+g+1]}.nextBlock(0)
				} else if e+same < ne {
					u.after = bSource{packed: wk.u[(e+same)*groups]}.nextBlock(0)
				}
				gemmSerial(same*rows, fg, cg, oneMat(a), u, (*mm)[e*bt*f+g*fg:], f, false, epAt{}, false) // v is in cache
			}
		}
		for t := t0; t < t1; t++ {
			n, rem := t/(th*tw), t%(th*tw)
			winoOutput(p, form, (*mm)[(t-t0)*f:], bt*f, out, n, m*(rem/tw), m*(rem%tw), ep, *edge)
		}
	}
}

// tileBlocks cuts tiles into blocks of about per tiles, a whole number of
// blocks for each worker, and returns the blocks and the tiles a block
// takes: rounded up so, the last blocks can be short or empty.
func tileBlocks(tiles, per int) (blocks, bt int) {
	workers := Workers()
	blocks = max(1, (tiles+per-1)/per)
	blocks = min(tiles, (blocks+workers-1)/workers*workers)
	return blocks, (tiles + blocks - 1) / blocks
}

// tileSource gives the input windows of a grid of Winograd tiles, side x
// side pixels, step apart, the first at (-PadT, -PadL): in place where a
// window lies inside the image, else with zeros for the padding. Where the
// windows that reach into the padding hold more pixels than the whole
// zero-bordered image (the small images of CIFAR ResNets), each image is
// copied once with its border and every window read from the copy, rather
// than each such window copied on its own: a few long rows instead of many
// short ones, and fewer pixels (ResNet-20's 16x16x32 layers at batch 128:
// forward 1.10 -> 0.95-0.97 ms, both gradients 2.50 -> 2.12-2.16). Only
// blocks of bt tiles that take whole images copy them so (one image's
// tiles shared out between the cores would have each copy all of it), and
// only images small enough to stay in L2 beside the block's transforms:
// ResNet-50's 14x14x256 (331 KB) gained nothing, its windows' rows already
// 6 KB long.
type tileSource struct {
	p          Conv2DParams
	side, step int
	hp, wp     int        // the zero-bordered image the grid covers
	whole      bool       // buf holds that image; else one window's copy
	buf        *[]float32 // the copy
	n          int        // the image in buf (-1: none yet)
}

// newTileSource returns the source of p's th x tw tiles for blocks of bt
// tiles; free returns its buffer.
func newTileSource(p Conv2DParams, side, step, th, tw, bt int) tileSource {
	s := tileSource{p: p, side: side, step: step, hp: step*(th-1) + side, wp: step*(tw-1) + side, n: -1}
	inside := func(tiles, pad, size int) int { // the tiles whose windows lie inside along an axis
		k := 0
		for t := 0; t < tiles; t++ {
			if at := t*step - pad; at >= 0 && at+side <= size {
				k++
			}
		}
		return k
	}
	border := th*tw - inside(th, p.PadT, p.H)*inside(tw, p.PadL, p.W)
	s.whole = border*side*side > s.hp*s.wp && bt >= th*tw && 4*s.hp*s.wp*p.C <= l2Bytes/8
	if s.whole {
		s.buf = getBuf(s.hp * s.wp * p.C)
	} else {
		s.buf = getBuf(side * side * p.C)
	}
	return s
}

// window returns tile (ty, tx) of image n's window and its row stride.
func (s *tileSource) window(in []float32, n, ty, tx int) ([]float32, int) {
	if !s.whole {
		return tileWindow(s.p, in, n, s.step*ty-s.p.PadT, s.step*tx-s.p.PadL, s.side, *s.buf)
	}
	if n != s.n {
		padRows(s.p, in, n, 0, s.hp, s.wp, *s.buf)
		s.n = n
	}
	c := s.p.C
	return (*s.buf)[(s.step*ty*s.wp+s.step*tx)*c:], s.wp * c
}

func (s *tileSource) free() { putBuf(s.buf) }

// tileWindow returns the side x side window of image n's input from row
// y, column x (negative in the padding) and its row stride: the input
// itself where the window lies inside it, else a copy in window with
// zeros for the padding. Reading the input in place spares a padded copy
// of it, all but the border tiles' windows.
func tileWindow(p Conv2DParams, in []float32, n, y, x, side int, window []float32) ([]float32, int) {
	c := p.C
	if y >= 0 && x >= 0 && y+side <= p.H && x+side <= p.W {
		return in[((n*p.H+y)*p.W+x)*c:], p.W * c
	}
	window = window[:side*side*c]
	x0, x1 := max(x, 0), min(x+side, p.W)
	for r := range side {
		row := window[r*side*c : (r+1)*side*c]
		iy := y + r
		if iy < 0 || iy >= p.H || x1 <= x0 {
			clear(row)
			continue
		}
		clear(row[:(x0-x)*c])
		copy(row[(x0-x)*c:(x1-x)*c], in[((n*p.H+iy)*p.W+x0)*c:])
		clear(row[(x1-x)*c:])
	}
	return window, side * c
}

// winoOutput transforms one tile's products back into out at (n, oy, ox),
// finished by ep, with the assembly: straight into out where the tile
// lies wholly inside, else into edge (m x m x f floats) and the part
// inside copied and finished from there.
func winoOutput(p Conv2DParams, form *winoForm, m []float32, eStride int, out []float32, n, oy, ox int, ep *Epilogue, edge []float32) {
	f := p.F
	at := ((n*p.OH+oy)*p.OW + ox) * f
	rows, cols := min(form.m, p.OH-oy), min(form.m, p.OW-ox)
	var bias, res []float32
	doRelu := false
	if ep != nil {
		bias, doRelu = ep.Bias, ep.Relu
		if ep.Res != nil {
			res = ep.Res[at:]
		}
	}
	if rows == form.m && cols == form.m {
		if form.outputAsm(f, m, eStride, out[at:], p.OW*f, f, bias, res, doRelu) {
			return
		}
	} else if form.outputAsm(f, m, eStride, edge, form.m*f, f, nil, nil, false) {
		// The epilogue in winoFinish's order, a vector pass each: the
		// same sums as the assembly's or the portable one's. The sums
		// stay in edge until stored: the residual may be out itself.
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				o := i*p.OW*f + j*f
				y, src := out[at+o:][:f], edge[(i*form.m+j)*f:][:f]
				if bias != nil {
					add(src, bias[:f], src)
				}
				if res != nil {
					add(src, res[o:][:f], src)
				}
				if doRelu {
					relu(src, y)
				} else {
					copy(y, src)
				}
			}
		}
		return
	}
	form.outputGo(f, m, eStride, out[at:], p.OW*f, f, bias, res, doRelu, rows, cols)
}

// winoInputGo is the portable input transform: V = B'dB for one tile,
// d[i][j] = src[i*rowStride+j*pixStride:][:c], V[e] = dst[e*eStride:][:c].
func winoInputGo(c int, src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	var d [16][]float32
	var v [16][]float32
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			d[4*i+j] = src[i*rowStride+j*pixStride:][:c]
			v[4*i+j] = dst[(4*i+j)*eStride:][:c]
		}
	}
	for k := 0; k < c; k++ {
		var s [4][4]float32
		for j := 0; j < 4; j++ { // B'd: combine rows
			d0, d1, d2, d3 := d[j][k], d[4+j][k], d[8+j][k], d[12+j][k]
			s[0][j], s[1][j], s[2][j], s[3][j] = d0-d2, d1+d2, d2-d1, d1-d3
		}
		for i := 0; i < 4; i++ { // (B'd)B: combine columns
			a0, a1, a2, a3 := s[i][0], s[i][1], s[i][2], s[i][3]
			v[4*i][k], v[4*i+1][k], v[4*i+2][k], v[4*i+3][k] = a0-a2, a1+a2, a2-a1, a1-a3
		}
	}
}

// winoOutputGo is the portable output transform: Y = A'MA for one tile
// from M[e] = m[e*eStride:][:f], plus bias, plus the residual (res laid out
// as dst), then ReLU, into the rows x cols outputs that lie in the image.
func winoOutputGo(f int, m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int) {
	var y [4]float32
	for k := 0; k < f; k++ {
		var r [2][4]float32
		for j := 0; j < 4; j++ { // A'M: combine rows
			m0, m1, m2, m3 := m[j*eStride+k], m[(4+j)*eStride+k], m[(8+j)*eStride+k], m[(12+j)*eStride+k]
			r[0][j], r[1][j] = m0+m1+m2, m1-m2-m3
		}
		for i := 0; i < 2; i++ { // (A'M)A: combine columns
			y[2*i], y[2*i+1] = r[i][0]+r[i][1]+r[i][2], r[i][1]-r[i][2]-r[i][3]
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				o := i*rowStride + j*pixStride + k
				dst[o] = winoFinish(y[2*i+j], bias, res, k, o, relu)
			}
		}
	}
}

// separable is a portable Winograd tile transform T X T' for c channels:
// X[i][j] = src[i*rowStride+j*pixStride+k] for i, j < n, t applying T to
// n values, giving o of them (at most 6). Element (a, b) of the result for
// channel k goes to put.
func separable(n, o, c int, t func(x, y []float32), src []float32, rowStride, pixStride int, put func(a, b, k int, v float32)) {
	var s [6][6]float32
	var x, y [6]float32
	for k := 0; k < c; k++ {
		for j := 0; j < n; j++ { // T X: combine rows
			for i := 0; i < n; i++ {
				x[i] = src[i*rowStride+j*pixStride+k]
			}
			t(x[:n], y[:o])
			for a := 0; a < o; a++ {
				s[a][j] = y[a]
			}
		}
		for a := 0; a < o; a++ { // (T X) T': combine columns
			t(s[a][:n], y[:o])
			for b := 0; b < o; b++ {
				put(a, b, k, y[b])
			}
		}
	}
}

// separableInput is separable into dst's o x o matrices, eStride apart.
func separableInput(n, o, c int, t func(x, y []float32), src []float32, rowStride, pixStride int, dst []float32, eStride int) {
	separable(n, o, c, t, src, rowStride, pixStride, func(a, b, k int, v float32) { dst[(o*a+b)*eStride+k] = v })
}

// separableOutput is separable from n x n matrices of f channels, eStride
// apart, into the rows x cols outputs that lie in the image, plus bias,
// plus the residual (res laid out as dst), then ReLU.
func separableOutput(n, o, f int, t func(x, y []float32), m []float32, eStride int, dst []float32, rowStride, pixStride int, bias, res []float32, relu bool, rows, cols int) {
	separable(n, o, f, t, m, n*eStride, eStride, func(i, j, k int, v float32) {
		if i < rows && j < cols {
			at := i*rowStride + j*pixStride + k
			dst[at] = winoFinish(v, bias, res, k, at, relu)
		}
	})
}

// winoFinish is a Winograd output v for channel k at offset o, plus bias,
// plus the residual, then ReLU: the assembly epilogue's order.
func winoFinish(v float32, bias, res []float32, k, o int, relu bool) float32 {
	if bias != nil {
		v += bias[k]
	}
	if res != nil {
		v += res[o]
	}
	if relu {
		v = max(v, 0)
	}
	return v
}

package kernels

// Grouped 3x3 convolutions of small groups (4, 8 or 16 channels in and
// out, as ResNeXt's bottlenecks have: 32 groups of 4 to 16), computed
// directly: each filter's sums take only its own group's channels. The
// products (packGroups) would pad such groups to panels of 32 filters,
// 2 to 8 times the multiplications, and run them by Winograd to win some
// of it back.
//
// A vector holds 16 filters, so 1 to 4 groups, and the input pixel's
// 16 channels at the same offset hold those groups' inputs. For input
// channel j of a group, each filter needs its own group's channel j: a
// permutation (VPERMPS) brings channels q*4..q*4+3 of each group into
// every 128-bit lane of the group, then VPERMILPS broadcasts one of the
// four over each lane. Each input pixel so spread feeds the three output
// pixels whose taps cover it, from weights held in registers (AVX-512) or
// read as memory operands (AVX2, a slice as two halves of 8 filters). The
// kernel gradient (AVX-512) spreads the input the same way and multiplies
// it by a block of dy held in registers.

// smallGroupSize is the channels of a group of p's (in and out) where
// PackConvKernel packs p for the direct grouped kernels, else 0: 3x3, of
// stride 1 or 2 (given: PackConvKernel is told), no dilation, with AVX-512
// or AVX2.
func smallGroupSize(p Conv2DParams) int {
	if !useAVX512 && !useAVX2 || p.Groups < 2 || p.KH != 3 || p.KW != 3 || p.C != p.F || p.C%16 != 0 ||
		p.DH != 1 || p.DW != 1 || p.SW != p.SH || p.SW < 1 || p.SW > 2 {
		return 0
	}
	switch g := p.C / p.Groups; g {
	case 4, 8, 16:
		return g
	}
	return 0
}

// smallGroupsSize is the floats of p's kernel packed by packSmallGroupsInto.
func smallGroupsSize(p Conv2DParams) int { return p.F / 16 * groupWeights(groupChannels(p)) }

// groupWeights is the floats of one slice of 16 filters' packed weights:
// [dy][q][dx][jj][16], q the quads of a group's input channels and jj the
// channel in a quad.
func groupWeights(g int) int { return 3 * g / 4 * 12 * 16 }

// packSmallGroupsInto packs p's HWIO kernel (3 x 3 x g x F) into pb for
// the direct grouped kernels, into buf, or fresh memory where buf is nil
// (it must hold smallGroupsSize(p) floats): slices of 16 filters, each as
// groupWeights lays it out.
func packSmallGroupsInto(pb *PackedB, p Conv2DParams, kernel, buf []float32) *PackedB {
	data := buf
	if data == nil {
		data = make([]float32, smallGroupsSize(p))
	}
	data = data[:smallGroupsSize(p)]
	smallGroupsLayout(p, func(packed, hwio int) { copy(data[packed:packed+16], kernel[hwio:hwio+16]) })
	*pb = PackedB{K: 9 * groupChannels(p), N: p.F, data: data, group: groupChannels(p)}
	return pb
}

// groupChannels is the channels of a group of p's input.
func groupChannels(p Conv2DParams) int { return p.C / p.Groups }

// addSmallGroups adds sums laid out as packSmallGroupsInto lays out p's
// kernel into the HWIO kernel dkernel.
func addSmallGroups(p Conv2DParams, part, dkernel []float32) {
	smallGroupsLayout(p, func(packed, hwio int) {
		d := dkernel[hwio : hwio+16]
		for l, v := range part[packed : packed+16] {
			d[l] += v
		}
	})
}

// smallGroupsLayout calls fn with each run of 16 weights' offset in p's
// kernel as packSmallGroupsInto packs it and in the HWIO kernel (both runs
// contiguous: 16 filters of one tap and channel).
func smallGroupsLayout(p Conv2DParams, fn func(packed, hwio int)) {
	g := groupChannels(p)
	quads, size := g/4, groupWeights(g)
	for s := range p.F / 16 {
		for dy := range 3 {
			for q := range quads {
				for dx := range 3 {
					for jj := range 4 {
						fn(s*size+(((dy*quads+q)*3+dx)*4+jj)*16, ((dy*3+dx)*g+q*4+jj)*p.F+s*16)
					}
				}
			}
		}
	}
}

// DirectGroups reports whether k is a kernel PackConvKernel packed for
// the direct grouped kernels.
func DirectGroups(k []*PackedB) bool { return len(k) == 1 && k[0].group > 0 }

// groupPerms holds, for groups of 4, 8 and 16 channels, each quad's
// VPERMPS indices: lane l takes channel q*4 + l%4 of the group l is in.
var groupPerms = func() (t [3][4][16]int32) {
	for i, g := range []int{4, 8, 16} {
		for q := range g / 4 {
			for l := range 16 {
				t[i][q][l] = int32(l/g*g + q*4 + l%4)
			}
		}
	}
	return t
}()

// groupPerm returns the first of groups of g channels' quads' indices.
func groupPerm(g int) *int32 {
	switch g {
	case 4:
		return &groupPerms[0][0][0]
	case 8:
		return &groupPerms[1][0][0]
	}
	return &groupPerms[2][0][0]
}

// groupBlockArgs is a block of r output pixels of one output row, for
// slices slices of 16 filters, as the kernels take it (in floats here).
// What it says of the first slice holds for each next one 16 floats on
// (input, output, bias and residual), its weights wslice floats on. For
// the kernel gradient, w holds the sums that gain it and out holds dy.
type groupBlockArgs struct {
	r, s int // output pixels, column stride
	g    int // channels of a group
	// in[off + dy*row + i*pix + c] is channel c of the slice at input
	// pixel i of kernel row dy, i = 0..(r-1)*s+2, where mask[i] is set:
	// off may be negative, as far as masked pixels reach.
	in                 []float32
	off, pix, row, ndy int
	w                  []float32 // the weights from the first kernel row taken
	mask               [groupMaxPixels]uint16
	out                []float32 // out[o*opix + l]: pixel o, filter l of the slice
	opix               int
	flags              int
	bias               []float32 // the slice's 16
	res                []float32 // res[o*ldres + l]
	ldres              int
	omask              [groupMaxBlock]uint16 // the pixels of the block inside the row
	slices, wslice     int
}

// groupBlockLen is the output pixels of the block that starts rest pixels
// before the row's end: 14, or 7 where 7 cover the rest (a row of 16 goes
// as 14 and 7, not as 14 and 14, its last block mostly masked) or with
// AVX2 only (16 registers).
func groupBlockLen(rest int) int {
	if rest <= groupMaxBlock/2 || !useAVX512 {
		return groupMaxBlock / 2
	}
	return groupMaxBlock
}

// groupMaxBlock is the most output pixels of a block, groupMaxPixels the
// input pixels they take at stride 2.
const (
	groupMaxBlock  = 14
	groupMaxPixels = 2*groupMaxBlock + 1
)

// runGo is the block in portable Go, in the kernels' order of sums: rows,
// quads, input pixels, channels of the quad, taps.
func (a *groupBlockArgs) runGo() {
	for s := range a.slices {
		var acc [groupMaxBlock][16]float32
		a.spread(s, func(dy, q, dx, jj, o int, px []float32) {
			w := a.w[s*a.wslice+((dy*a.g/4+q)*12+dx*4+jj)*16:][:16]
			for l, wl := range w {
				acc[o][l] += px[l/a.g*a.g+q*4+jj] * wl
			}
		})
		for o := range a.r {
			if a.omask[o] != 0 {
				a.finish(s, o, &acc[o])
			}
		}
	}
}

// finish applies the epilogue flags to v, output pixel o's sums of slice
// s, and stores them.
func (a *groupBlockArgs) finish(s, o int, v *[16]float32) {
	dst := a.out[o*a.opix+16*s:][:16]
	if a.flags&flagAcc != 0 {
		for l := range v {
			v[l] += dst[l]
		}
	}
	if a.flags&flagBias != 0 {
		for l, b := range a.bias[16*s:][:16] {
			v[l] += b
		}
	}
	if a.flags&flagRes != 0 {
		for l, x := range a.res[o*a.ldres+16*s:][:16] {
			v[l] += x
		}
	}
	if a.flags&flagRelu != 0 {
		for l := range v {
			v[l] = max(v[l], 0)
		}
	}
	copy(dst, v[:])
}

// gradGo is the kernel gradient of the block in portable Go: w holds the
// sums (laid out as the weights) that gain x * dy, out holds dy (opix
// floats a pixel) and omask its pixels inside the row; in the kernels'
// order of sums.
func (a *groupBlockArgs) gradGo() {
	for s := range a.slices {
		a.spread(s, func(dy, q, dx, jj, o int, px []float32) {
			if a.omask[o] == 0 {
				return
			}
			w := a.w[s*a.wslice+((dy*a.g/4+q)*12+dx*4+jj)*16:][:16]
			for l, d := range a.out[o*a.opix+16*s:][:16] {
				w[l] += px[l/a.g*a.g+q*4+jj] * d
			}
		})
	}
}

// spread calls fn for slice s's kernel rows dy, quads q, input pixels
// inside the image (px, the slice's 16 channels), their channels jj of the
// quad and taps dx, where the tap reaches one of the block's output
// pixels, o, in the kernels' order of sums: lane l takes channel q*4+jj
// of its group, px[l/g*g + q*4+jj].
func (a *groupBlockArgs) spread(s int, fn func(dy, q, dx, jj, o int, px []float32)) {
	for dy := range a.ndy {
		for q := range a.g / 4 {
			for i := range (a.r-1)*a.s + 3 {
				if a.mask[i] == 0 {
					continue
				}
				px := a.in[a.off+16*s+dy*a.row+i*a.pix:][:16]
				for jj := range 4 {
					for dx := range 3 {
						if o := (i - dx) / a.s; i >= dx && (i-dx)%a.s == 0 && o < a.r {
							fn(dy, q, dx, jj, o, px)
						}
					}
				}
			}
		}
	}
}

// convSmallGroups is ConvForwardPacked (or with accumulate
// ConvAccumulatePacked) for a kernel packed by packSmallGroupsInto: the
// cores take whole output rows. A small input goes one stretch of rows
// per core, as MaxPool takes it and for the same reason: each core then
// reads the rows the layer before left in its own caches (ResNeXt-50 at
// batch 1, pass by pass, 1.031-1.040 times as fast as 8 chunks handed
// out as the cores come; at batch 16 level, 0.993-1.011).
func convSmallGroups(c convArgs) {
	grain := 1
	if 4*len(c.in) <= poolLocalBytes {
		grain = (c.p.N*c.p.OH + Workers() - 1) / Workers()
	}
	smallGroupTasks.Run(c.p.N*c.p.OH, grain, smallGroupTask{c})
}

// smallGroupTask is convSmallGroups' loop over output rows.
type smallGroupTask struct{ convArgs }

var smallGroupTasks Tasks[smallGroupTask, *smallGroupTask]

func (t *smallGroupTask) Run(lo, hi int) {
	p := &t.p
	k := t.kernel[0]
	a := newGroupBlock(p, t.in, k.group)
	a.flags = t.ep.flags(t.accumulate)
	if a.flags&flagBias != 0 {
		a.bias = t.ep.Bias
	}
	if a.flags&flagRes != 0 {
		a.ldres = t.ep.LdRes
	}
	for row := lo; row < hi; row++ {
		dy0 := a.atRow(p, row)
		for ox := 0; ox < p.OW; ox += a.r {
			a.r = groupBlockLen(p.OW - ox)
			pixel := a.atBlock(p, row, dy0, ox)
			a.w = k.data[dy0*a.wslice/3:]
			a.out = t.out[pixel*p.F:]
			if a.flags&flagRes != 0 {
				a.res = t.ep.Res[pixel*a.ldres:]
			}
			if a.ndy == 0 || !groupBlockAsm(&a) {
				a.runGo()
			}
		}
	}
}

// newGroupBlock returns the blocks' arguments for p's rows of input in,
// whose groups have g channels: strides and all the slices of filters.
func newGroupBlock(p *Conv2DParams, in []float32, g int) groupBlockArgs {
	return groupBlockArgs{s: p.SW, g: g, in: in, pix: p.C, row: p.W * p.C, opix: p.F,
		slices: p.F / 16, wslice: groupWeights(g)}
}

// atRow sets a's kernel rows for output row row (of all images) of p and
// returns the first kernel row inside the image.
func (a *groupBlockArgs) atRow(p *Conv2DParams, row int) (dy0 int) {
	iy := row%p.OH*p.SH - p.PadT
	dy1 := 3
	for dy0 < 3 && iy+dy0 < 0 {
		dy0++
	}
	for dy1 > dy0 && iy+dy1-1 >= p.H {
		dy1--
	}
	a.ndy = dy1 - dy0
	return dy0
}

// atBlock sets a's masks and input offset for the block of output row row
// from output column ox, dy0 its first kernel row inside the image, and
// returns the block's first output pixel (of all images).
func (a *groupBlockArgs) atBlock(p *Conv2DParams, row, dy0, ox int) (pixel int) {
	n, iy := row/p.OH, row%p.OH*p.SH-p.PadT
	x := ox*p.SW - p.PadL
	for i := range (a.r-1)*p.SW + 3 {
		a.mask[i] = 0
		if c := x + i; c >= 0 && c < p.W {
			a.mask[i] = 0xffff
		}
	}
	for o := range a.r {
		a.omask[o] = 0
		if ox+o < p.OW {
			a.omask[o] = 0xffff
		}
	}
	a.off = ((n*p.H+iy+dy0)*p.W + x) * p.C
	return row*p.OW + ox
}

// convBackwardKernelSmallGroups adds the gradient of p's kernel (HWIO)
// from its input and dy, for a kernel PackConvKernel packs for the direct
// grouped kernels: each core sums its stretch of output rows into sums
// laid out as the packed kernel, then adds them into dkernel.
func convBackwardKernelSmallGroups(p Conv2DParams, in, dy, dkernel []float32) {
	rows := p.N * p.OH
	smallGroupGradTasks.Run(rows, (rows+Workers()-1)/Workers(), smallGroupGradTask{p, in, dy, dkernel})
}

// smallGroupGradTask is convBackwardKernelSmallGroups' loop over output
// rows.
type smallGroupGradTask struct {
	p               Conv2DParams
	in, dy, dkernel []float32
}

var smallGroupGradTasks Tasks[smallGroupGradTask, *smallGroupGradTask]

func (t *smallGroupGradTask) Run(lo, hi int) {
	p := &t.p
	buf := getBuf(smallGroupsSize(*p))
	defer putBuf(buf)
	part := *buf
	clear(part)
	a := newGroupBlock(p, t.in, groupChannels(*p))
	for row := lo; row < hi; row++ {
		dy0 := a.atRow(p, row)
		if a.ndy == 0 {
			continue
		}
		for ox := 0; ox < p.OW; ox += a.r {
			a.r = groupBlockLen(p.OW - ox)
			pixel := a.atBlock(p, row, dy0, ox)
			a.w = part[dy0*a.wslice/3:]
			a.out = t.dy[pixel*p.F:]
			if !groupGradAsm(&a) {
				a.gradGo()
			}
		}
	}
	kernelGradMu.Lock()
	addSmallGroups(*p, part, t.dkernel)
	kernelGradMu.Unlock()
}

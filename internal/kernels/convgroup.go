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
// pixels whose taps cover it, from weights held in registers.

// smallGroupSize is the channels of a group of p's (in and out) where
// PackConvKernel packs p for the direct grouped kernels, else 0: 3x3, of
// stride 1 or 2 (given: PackConvKernel is told), no dilation.
func smallGroupSize(p Conv2DParams) int {
	if !useAVX512 || p.Groups < 2 || p.KH != 3 || p.KW != 3 || p.C != p.F || p.C%16 != 0 ||
		p.DH != 1 || p.DW != 1 || p.SW != p.SH || p.SW < 1 || p.SW > 2 {
		return 0
	}
	switch g := p.C / p.Groups; g {
	case 4, 8, 16:
		return g
	}
	return 0
}

// smallGroupsSize is the floats of p's kernel packed by packSmallGroups.
func smallGroupsSize(p Conv2DParams) int { return p.F / 16 * groupWeights(p.C/p.Groups) }

// groupWeights is the floats of one slice of 16 filters' packed weights:
// [dy][q][dx][jj][16], q the quads of a group's input channels and jj the
// channel in a quad.
func groupWeights(g int) int { return 3 * g / 4 * 12 * 16 }

// packSmallGroups packs p's HWIO kernel (3 x 3 x g x F) for the direct
// grouped kernels into buf, or fresh memory where buf is nil (it must hold
// smallGroupsSize(p) floats): slices of 16 filters, each as groupWeights
// lays it out.
func packSmallGroups(p Conv2DParams, kernel, buf []float32) *PackedB {
	g := p.C / p.Groups
	quads, size := g/4, groupWeights(g)
	data := buf
	if data == nil {
		data = make([]float32, smallGroupsSize(p))
	}
	data = data[:smallGroupsSize(p)]
	for s := range p.F / 16 {
		w := data[s*size:]
		for dy := range 3 {
			for q := range quads {
				for dx := range 3 {
					for jj := range 4 {
						v := w[(((dy*quads+q)*3+dx)*4+jj)*16:][:16]
						j := q*4 + jj
						for l := range v {
							v[l] = kernel[((dy*3+dx)*g+j)*p.F+s*16+l]
						}
					}
				}
			}
		}
	}
	return &PackedB{K: 9 * g, N: p.F, data: data, group: g}
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
// (input, output, bias and residual), its weights wslice floats on.
type groupBlockArgs struct {
	r, s int // output pixels, column stride
	g    int // channels of a group
	// in[off + dy*row + i*pix + c] is channel c of the slice at input
	// pixel i of kernel row dy, i = 0..(r-1)*s+2, where mask[i] is set:
	// off may be negative, as far as masked pixels reach.
	in                 []float32
	off, pix, row, ndy int
	w                  []float32 // the slice's weights from the first row taken
	mask               *[groupMaxPixels]uint16
	out                []float32 // out[o*opix + l]: pixel o, filter l of the slice
	opix               int
	flags              int
	bias               []float32 // the slice's 16
	res                []float32 // res[o*ldres + l]
	ldres              int
	omask              *[groupMaxBlock]uint16 // the pixels of the block inside the row
	slices, wslice     int
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
		b := *a
		b.off += 16 * s
		b.w = a.w[s*a.wslice:]
		b.out = a.out[16*s:]
		if a.flags&flagBias != 0 {
			b.bias = a.bias[16*s:]
		}
		if a.flags&flagRes != 0 {
			b.res = a.res[16*s:]
		}
		b.slice()
	}
}

// slice is runGo for the first slice.
func (a *groupBlockArgs) slice() {
	var acc [groupMaxBlock][16]float32
	npix := (a.r-1)*a.s + 3
	quads := a.g / 4
	for dy := range a.ndy {
		for q := range quads {
			w := a.w[(dy*quads+q)*12*16:]
			for i := range npix {
				if a.mask[i] == 0 {
					continue
				}
				px := a.in[a.off+dy*a.row+i*a.pix:][:16]
				for jj := range 4 {
					for dx := range 3 {
						o := (i - dx) / a.s
						if i < dx || (i-dx)%a.s != 0 || o >= a.r {
							continue
						}
						wv := w[(dx*4+jj)*16:][:16]
						for l, wl := range wv {
							acc[o][l] += px[l/a.g*a.g+q*4+jj] * wl
						}
					}
				}
			}
		}
	}
	for o := range a.r {
		if a.omask[o] == 0 {
			continue
		}
		v, dst := &acc[o], a.out[o*a.opix:][:16]
		if a.flags&flagAcc != 0 {
			for l := range v {
				v[l] += dst[l]
			}
		}
		if a.flags&flagBias != 0 {
			for l := range v {
				v[l] += a.bias[l]
			}
		}
		if a.flags&flagRes != 0 {
			for l, x := range a.res[o*a.ldres:][:16] {
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
}

// convSmallGroups is ConvForwardPacked (or with accumulate
// ConvAccumulatePacked) for a kernel packed by packSmallGroups: the
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
	r := groupMaxBlock
	if p.OW <= groupMaxBlock/2 {
		r = groupMaxBlock / 2
	}
	k := t.kernel[0]
	size := groupWeights(k.group)
	a := groupBlockArgs{r: r, s: p.SW, g: k.group, in: t.in, pix: p.C, row: p.W * p.C, opix: p.F,
		slices: p.F / 16, wslice: size}
	if t.accumulate {
		a.flags |= flagAcc
	}
	if ep := t.ep; ep != nil {
		if ep.Bias != nil {
			a.flags |= flagBias
		}
		if ep.Res != nil {
			a.flags |= flagRes
			a.ldres = ep.LdRes
		}
		if ep.Relu {
			a.flags |= flagRelu
		}
	}
	var mask [groupMaxPixels]uint16
	var omask [groupMaxBlock]uint16
	a.mask, a.omask = &mask, &omask
	for row := lo; row < hi; row++ {
		n, oy := row/p.OH, row%p.OH
		iy := oy*p.SH - p.PadT
		dy0, dy1 := 0, 3 // the kernel rows inside the image
		for dy0 < 3 && iy+dy0 < 0 {
			dy0++
		}
		for dy1 > dy0 && iy+dy1-1 >= p.H {
			dy1--
		}
		a.ndy = dy1 - dy0
		for ox := 0; ox < p.OW; ox += r {
			x := ox*p.SW - p.PadL
			for i := range (r-1)*p.SW + 3 {
				mask[i] = 0
				if c := x + i; c >= 0 && c < p.W {
					mask[i] = 0xffff
				}
			}
			for o := range r {
				omask[o] = 0
				if ox+o < p.OW {
					omask[o] = 0xffff
				}
			}
			pixel := (n*p.OH+oy)*p.OW + ox
			a.off = ((n*p.H+iy+dy0)*p.W + x) * p.C
			a.w = k.data[dy0*size/3:]
			a.out = t.out[pixel*p.F:]
			if t.ep != nil {
				a.bias = t.ep.Bias // nil: no flagBias
				if t.ep.Res != nil {
					a.res = t.ep.Res[pixel*t.ep.LdRes:]
				}
			}
			if a.ndy == 0 || !groupBlockAsm(&a) {
				a.runGo()
			}
		}
	}
}

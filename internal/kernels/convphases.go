package kernels

// The input gradient of a strided convolution by phases. With stride s,
// input row i = s*o + ky - pad takes dy's row o through tap ky, so the
// rows of one phase (i = s*j + r) take only the taps ky = r + pad (mod s),
// row j + (r+pad-ky)/s of dy each: a stride-1 convolution of dy with those
// taps. Each of the s*s phases of dx is one such convolution (ConvForward:
// windows or a plain product), scattered into dx, instead of im2col's
// product and col2im's scatter-add of K values a pixel.

// phaseTaps is the taps of one phase along one axis, in the order the
// phase's convolution reads them (dy's rows j-pad, j-pad+1, ...).
type phaseTaps struct {
	taps []int // kernel rows (or columns)
	pad  int   // the phase convolution's padding before
	n    int   // the phase's rows of dx
}

// phaseOf returns the taps of phase r of a kernel of k taps at stride s
// with padding pad before, for an input of n rows, in buf's storage; ok is
// false when the phase would read dy's rows past the end before the start
// (a padding wider than the kernel).
func phaseOf(k, s, pad, r, n int, buf []int) (ph phaseTaps, ok bool) {
	ph.n = (n - r + s - 1) / s
	ph.taps = buf[:0]
	for t := k - 1; t >= 0; t-- { // largest tap first: the lowest row of dy
		if ((r+pad-t)%s+s)%s == 0 {
			ph.taps = append(ph.taps, t)
		}
	}
	if len(ph.taps) > 0 {
		ph.pad = -(r + pad - ph.taps[0]) / s
	}
	return ph, ph.pad >= 0
}

// convTransposeByPhases reports whether ConvBackward computes p's input
// gradient by phases: strided, no dilation, no padding past the kernel.
func convTransposeByPhases(p Conv2DParams) bool {
	if p.SH*p.SW == 1 || p.DH != 1 || p.DW != 1 {
		return false
	}
	var buf [maxPhaseTaps]int
	for r := 0; r < p.SH; r++ {
		if _, ok := phaseOf(p.KH, p.SH, p.PadT, r, p.H, buf[:]); !ok {
			return false
		}
	}
	for r := 0; r < p.SW; r++ {
		if _, ok := phaseOf(p.KW, p.SW, p.PadL, r, p.W, buf[:]); !ok {
			return false
		}
	}
	return true
}

// maxPhaseTaps is the taps a phase holds without allocating (a kernel of
// up to 16 taps across; wider ones allocate).
const maxPhaseTaps = 16

// convBackwardInputPhases overwrites dx with the gradient of p's input
// from dy, phase by phase (convTransposeByPhases).
func convBackwardInputPhases(p Conv2DParams, kernel, dy, dx []float32) {
	var ybuf, xbuf [maxPhaseTaps]int
	for ry := 0; ry < p.SH; ry++ {
		ys, _ := phaseOf(p.KH, p.SH, p.PadT, ry, p.H, ybuf[:])
		for rx := 0; rx < p.SW; rx++ {
			xs, _ := phaseOf(p.KW, p.SW, p.PadL, rx, p.W, xbuf[:])
			if ys.n == 0 || xs.n == 0 {
				continue
			}
			q := Conv2DParams{N: p.N, H: p.OH, W: p.OW, C: p.F, KH: len(ys.taps), KW: len(xs.taps), F: p.C,
				SH: 1, SW: 1, DH: 1, DW: 1, PadT: ys.pad, PadL: xs.pad, OH: ys.n, OW: xs.n, Groups: p.Groups}
			out := getBuf(p.N * ys.n * xs.n * p.C)
			if q.KH == 0 || q.KW == 0 { // no tap reaches these pixels
				clear(*out)
			} else {
				sub := getBuf(q.KH * q.KW * p.F * p.C)
				transposedTaps(p, kernel, ys.taps, xs.taps, *sub)
				ConvForward(q, dy, *sub, nil, *out)
				putBuf(sub)
			}
			scatterPhase(p, *out, ry, rx, ys.n, xs.n, dx)
			putBuf(out)
		}
	}
}

// transposedTaps writes the HWIO kernel (taps ys x xs, p.F inputs, p.C
// outputs, in p.Groups groups) of a convolution of dy toward p's input:
// taps ys x xs of p's kernel, each group's inputs and outputs swapped.
func transposedTaps(p Conv2DParams, kernel []float32, ys, xs []int, dst []float32) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	for u, ky := range ys {
		for v, kx := range xs {
			src := kernel[(ky*p.KW+kx)*cg*p.F:][:cg*p.F]
			d := dst[(u*len(xs)+v)*fg*p.C:][:fg*p.C]
			for ci := range cg {
				row := src[ci*p.F : (ci+1)*p.F]
				for g := range p.Groups {
					for j, w := range row[g*fg : (g+1)*fg] {
						d[j*p.C+g*cg+ci] = w
					}
				}
			}
		}
	}
}

// scatterPhase copies a phase's gradient (n x rows x cols x C) into its
// pixels of dx: rows ry, ry+SH, ..., columns rx, rx+SW, ...
func scatterPhase(p Conv2DParams, ph []float32, ry, rx, rows, cols int, dx []float32) {
	scatterTasks.Run(p.N*rows, 8, scatterTask{p, ph, ry, rx, rows, cols, dx})
}

// scatterTask is scatterPhase's loop over the phase's rows.
type scatterTask struct {
	p                  Conv2DParams
	ph                 []float32
	ry, rx, rows, cols int
	dx                 []float32
}

var scatterTasks Tasks[scatterTask, *scatterTask]

func (t *scatterTask) Run(lo, hi int) {
	p := &t.p
	for r := lo; r < hi; r++ {
		n, j := r/t.rows, r%t.rows
		dst := t.dx[((n*p.H+t.ry+j*p.SH)*p.W+t.rx)*p.C:]
		src := t.ph[r*t.cols*p.C:][:t.cols*p.C]
		for k := 0; k < t.cols; k++ {
			copy(dst[k*p.SW*p.C:][:p.C], src[k*p.C:][:p.C])
		}
	}
}

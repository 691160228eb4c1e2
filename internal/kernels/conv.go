package kernels

// Conv2DParams describes an NHWC convolution with a kernel in Keras' HWIO
// layout (height, width, input channels per group, filters).
type Conv2DParams struct {
	N, H, W, C     int // input
	KH, KW, F      int // kernel size and filters
	SH, SW, DH, DW int // strides and dilations
	PadT, PadL     int // padding before the first row and column
	OH, OW         int // output size
	Groups         int
}

// Conv2D is the reference convolution: out = conv(in, kernel) + bias (bias
// may be nil). It is plain Go, the oracle fast paths are tested against.
func Conv2D(p Conv2DParams, in, kernel, bias, out []float32) {
	cg, fg := p.C/p.Groups, p.F/p.Groups
	ParallelFor(p.N*p.OH, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/p.OH, r%p.OH
			for ox := 0; ox < p.OW; ox++ {
				o := out[((n*p.OH+oy)*p.OW+ox)*p.F:][:p.F]
				if bias != nil {
					copy(o, bias)
				} else {
					clear(o)
				}
				for ky := 0; ky < p.KH; ky++ {
					for kx := 0; kx < p.KW; kx++ {
						iy, ix, ok := p.inputAt(oy, ox, ky, kx)
						if !ok {
							continue
						}
						px := in[((n*p.H+iy)*p.W+ix)*p.C:][:p.C]
						k := kernel[(ky*p.KW+kx)*cg*p.F:][:cg*p.F]
						for g := 0; g < p.Groups; g++ {
							og := o[g*fg : (g+1)*fg]
							for ci := 0; ci < cg; ci++ {
								a := px[g*cg+ci]
								if a == 0 {
									continue // ReLU outputs are often zero
								}
								Axpy(og, k[ci*p.F+g*fg:][:fg], a)
							}
						}
					}
				}
			}
		}
	})
}

// inputAt returns the input pixel under tap (ky, kx) of output pixel
// (oy, ox); ok is false where the tap falls in the padding.
func (p Conv2DParams) inputAt(oy, ox, ky, kx int) (iy, ix int, ok bool) {
	iy, ix = oy*p.SH+ky*p.DH-p.PadT, ox*p.SW+kx*p.DW-p.PadL
	return iy, ix, iy >= 0 && iy < p.H && ix >= 0 && ix < p.W
}

// Axpy adds a*x to y. len(x) must be at least len(y).
func Axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// Dense computes out[n] = in[n] * kernel + bias for n rows of k inputs and
// u units (kernel is k x u, bias may be nil).
func Dense(rows, k, u int, in, kernel, bias, out []float32) {
	denseTasks.Run(rows, 1, denseTask{k, u, in, kernel, bias, out})
}

// denseTask is Dense's loop over rows.
type denseTask struct {
	k, u                  int
	in, kernel, bias, out []float32
}

var denseTasks Tasks[denseTask, *denseTask]

func (t *denseTask) Run(lo, hi int) {
	k, u := t.k, t.u
	for r := lo; r < hi; r++ {
		o := t.out[r*u : (r+1)*u]
		if t.bias != nil {
			copy(o, t.bias)
		} else {
			clear(o)
		}
		for i, a := range t.in[r*k : (r+1)*k] {
			if a != 0 {
				Axpy(o, t.kernel[i*u:(i+1)*u], a)
			}
		}
	}
}

// PoolParams describes an NHWC pooling window.
type PoolParams struct {
	N, H, W, C int
	KH, KW     int
	SH, SW     int
	PadT, PadL int
	OH, OW     int
}

// MaxPool takes the maximum over each window; padding is ignored, as in
// TensorFlow. Windows with no pixel inside the image leave out alone.
//
// It goes by output rows: first the maximum over the window's input rows,
// whole rows at a time, then over each window's pixels of that row. Pixel
// by pixel, a 3x3 window costs nine calls on a few channels each, and the
// network's stem pooling ran at half the speed of memory.
//
// A small input (the stem's at batch 1) goes one stretch of rows per core,
// as the convolution before it wrote it and the one after reads it: each
// core then pools rows still in its own caches and leaves its output where
// the next layer's rows are read, where chunks handed out as the cores
// come for them send half the rows across (ResNet-50 at batch 1, pass by
// pass: 0.5-0.8% faster; the pooling alone 0.12-0.14 -> 0.11-0.12 ms). A
// large input, read from memory either way, goes in more chunks, which
// even out the cores' pace.
func MaxPool(p PoolParams, in, out []float32) {
	row := p.W * p.C
	inA, inB := wholeWindows(p.OW, p.W, p.KW, p.SW, p.PadL)
	grain := 1
	if 4*p.N*p.H*row <= poolLocalBytes {
		grain = (p.N*p.OH + Workers() - 1) / Workers()
	}
	maxPoolTasks.Run(p.N*p.OH, grain, maxPoolTask{p, in, out, inA, inB})
}

// maxPoolTask is MaxPool's loop over output rows; the windows of outputs
// [inA, inB) of a row lie wholly inside the image.
type maxPoolTask struct {
	p        PoolParams
	in, out  []float32
	inA, inB int
}

var maxPoolTasks Tasks[maxPoolTask, *maxPoolTask]

func (t *maxPoolTask) Run(lo, hi int) {
	p, in, out := &t.p, t.in, t.out
	row := p.W * p.C
	buf := getBuf(row)
	defer putBuf(buf)
	rmax := *buf
	for r := lo; r < hi; r++ {
		n, oy := r/p.OH, r%p.OH
		y0, y1 := max(0, oy*p.SH-p.PadT), min(p.H, oy*p.SH-p.PadT+p.KH)
		if y0 >= y1 {
			continue
		}
		copy(rmax, in[(n*p.H+y0)*row:][:row])
		for y := y0 + 1; y < y1; y++ {
			maxInto(rmax, in[(n*p.H+y)*row:][:row])
		}
		for ox := 0; ox < p.OW; ox++ {
			if ox == t.inA && t.inB > t.inA { // the windows the padding leaves whole, in one pass
				maxWindows(out[((n*p.OH+oy)*p.OW+ox)*p.C:], rmax[(ox*p.SW-p.PadL)*p.C:], p.C, t.inB-t.inA, p.KW, p.SW*p.C)
				ox = t.inB - 1
				continue
			}
			x0, x1 := max(0, ox*p.SW-p.PadL), min(p.W, ox*p.SW-p.PadL+p.KW)
			if x0 >= x1 {
				continue
			}
			o := out[((n*p.OH+oy)*p.OW+ox)*p.C:][:p.C]
			copy(o, rmax[x0*p.C:][:p.C])
			for x := x0 + 1; x < x1; x++ {
				maxInto(o, rmax[x*p.C:][:p.C])
			}
		}
	}
}

// AvgPool averages each window over the pixels inside the image, as
// TensorFlow does with "same" padding.
func AvgPool(p PoolParams, in, out []float32) {
	ParallelFor(p.N*p.OH, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/p.OH, r%p.OH
			for ox := 0; ox < p.OW; ox++ {
				o := out[((n*p.OH+oy)*p.OW+ox)*p.C:][:p.C]
				count := 0
				for ky := 0; ky < p.KH; ky++ {
					iy := oy*p.SH + ky - p.PadT
					if iy < 0 || iy >= p.H {
						continue
					}
					for kx := 0; kx < p.KW; kx++ {
						ix := ox*p.SW + kx - p.PadL
						if ix < 0 || ix >= p.W {
							continue
						}
						px := in[((n*p.H+iy)*p.W+ix)*p.C:][:p.C]
						if count == 0 {
							copy(o, px)
						} else {
							for c, v := range px {
								o[c] += v
							}
						}
						count++
					}
				}
				if count > 0 {
					inv := 1 / float32(count)
					for c := range o {
						o[c] *= inv
					}
				}
			}
		}
	})
}

// maxIntoGo is the portable maxInto: dst[i] = max(dst[i], src[i]).
func maxIntoGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

// wholeWindows returns the outputs [a, b) of a row of ow whose windows of
// kw at stride sw, from -pad on, lie wholly inside its w pixels.
func wholeWindows(ow, w, kw, sw, pad int) (a, b int) {
	a = min(ow, (pad+sw-1)/sw)
	if w+pad < kw {
		return a, a
	}
	return a, max(a, min(ow, (w+pad-kw)/sw+1))
}

// maxWindowsGo sets pixel i of dst (c floats each) to the maximum, taken
// in order as maxIntoGo takes it, of the kw pixels of src from i*step on.
func maxWindowsGo(dst, src []float32, c, n, kw, step int) {
	for i := 0; i < n; i++ {
		o, w := dst[i*c:][:c], src[i*step:]
		copy(o, w[:c])
		for x := 1; x < kw; x++ {
			maxIntoGo(o, w[x*c:][:c])
		}
	}
}

// poolLocalBytes is the largest input MaxPool pools a stretch of rows per
// core: ResNet-50's stem output at batch 1 (3.2 MB), not at batch 16 (51 MB).
const poolLocalBytes = 8 << 20

// GlobalPool pools each of n images of hw pixels by c channels to one
// pixel: the mean of each channel, summed in float64 in pixel order, or
// its maximum. Images without pixels are left alone.
func GlobalPool(n, hw, c int, in, out []float32, isMax bool) {
	if n == 0 || hw == 0 || c == 0 {
		return
	}
	chunks := (c + poolChunk - 1) / poolChunk
	_, _ = in[n*hw*c-1], out[n*c-1]
	globalPoolTasks.Run(n*chunks, max(1, 1<<16/(hw*poolChunk)), globalPoolTask{hw, c, in, out, isMax})
}

// poolChunk is GlobalPool's channels per task: the sums stay in registers
// and L1.
const poolChunk = 256

// globalPoolTask is GlobalPool's loop over images and chunks of channels.
type globalPoolTask struct {
	hw, c   int
	in, out []float32
	isMax   bool
}

var globalPoolTasks Tasks[globalPoolTask, *globalPoolTask]

func (t *globalPoolTask) Run(lo, hi int) {
	hw, c, in := t.hw, t.c, t.in
	chunks := (c + poolChunk - 1) / poolChunk
	var acc [poolChunk]float64
	for i := lo; i < hi; i++ {
		b, c0 := i/chunks, i%chunks*poolChunk
		cw := min(poolChunk, c-c0)
		o := t.out[b*c+c0:][:cw]
		if t.isMax {
			copy(o, in[b*hw*c+c0:][:cw])
			for p := 1; p < hw; p++ {
				maxInto(o, in[(b*hw+p)*c+c0:][:cw])
			}
			continue
		}
		sum := acc[:cw]
		clear(sum)
		if !sumRowsAsm(in[b*hw*c+c0:], hw, cw, c, sum) {
			for p := 0; p < hw; p++ {
				for i, v := range in[(b*hw+p)*c+c0:][:cw] {
					sum[i] += float64(v)
				}
			}
		}
		for i, s := range sum {
			o[i] = float32(s / float64(hw))
		}
	}
}

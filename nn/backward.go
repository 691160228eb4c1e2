package nn

import (
	"math"

	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/tensor"
)

func (inputOp) backward(c backCtx) ([]*tensor.Tensor, error) { return nil, nil }

func (o *conv2DOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	p, err := o.params(c.in[0], c.pads)
	if err != nil {
		return nil, err
	}
	var dx *tensor.Tensor
	var dxData []float32
	if !c.noInputGrad {
		dx = c.al.NewUninit(c.in[0].Shape...) // ConvBackward overwrites it
		dxData = dx.Data
	}
	var dk, db []float32
	if c.gw != nil {
		dk = c.gw[0].Data
		if o.useBias {
			db = c.gw[1].Data
		}
	} else {
		dk = make([]float32, len(c.w[0].Data)) // frozen: computed and dropped
	}
	var res []float32
	if c.res != nil && dx != nil {
		res = c.res.Data
	}
	kernels.ConvBackwardAdd(p, c.in[0].Data, c.w[0].Data, c.gout.Data, dxData, res, dk, db)
	return c.al.list(dx), nil
}

func (o *zeroPaddingOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	n, h, w, ch := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := h+o.top+o.bottom, w+o.left+o.right
	dx := c.al.New(x.Shape...)
	for b := 0; b < n; b++ {
		for y := 0; y < h; y++ {
			copy(dx.Data[(b*h+y)*w*ch:][:w*ch], c.gout.Data[((b*oh+y+o.top)*ow+o.left)*ch:])
		}
	}
	return c.al.list(dx), nil
}

// bnCache is what a training BatchNormalization keeps for backward.
type bnCache struct {
	xhat   []float32 // channels-first only; channels-last keeps scale and shift
	scale  []float32 // xhat = x*scale + shift
	shift  []float32
	invStd []float64
	batch  bool // batch statistics (training), not the moving ones
}

// bnShape returns the channel count and the stride between channels of
// a batched tensor for the op's axis.
func (o *batchNormOp) bnShape(x *tensor.Tensor, f DataFormat) (c, inner int) {
	axis := internalAxis(o.axis, len(x.Shape), f)
	inner = 1
	for _, d := range x.Shape[axis+1:] {
		inner *= d
	}
	return x.Shape[axis], inner
}

// channelSums adds the per-channel sums of f(value, index) into acc.
func channelSums(x []float32, c, inner int, acc []float64, f func(v float32, i int) float64) {
	if inner == 1 {
		for o := 0; o < len(x); o += c {
			for ch, v := range x[o : o+c] {
				acc[ch] += f(v, o+ch)
			}
		}
		return
	}
	for o := 0; o < len(x); o += c * inner {
		for ch := 0; ch < c; ch++ {
			base := o + ch*inner
			for j, v := range x[base : base+inner] {
				acc[ch] += f(v, base+j)
			}
		}
	}
}

func (o *batchNormOp) forwardTrain(in, w []*tensor.Tensor, f DataFormat, frozen bool, al *arena) (*tensor.Tensor, any, error) {
	out, cache, _, err := o.train(in, w, f, frozen, al, false, nil)
	return out, cache, err
}

// train is forwardTrain, with the ReLU after it applied too when relu is
// set and it can be (batch statistics, channels last): rectified says so.
// With relu, res (when not nil) is added before the ReLU: an Add between
// the two. Its backward reads x and the ReLU's output, never its own
// output, so the three layers can share one.
func (o *batchNormOp) train(in, w []*tensor.Tensor, f DataFormat, frozen bool, al *arena, relu bool, res *tensor.Tensor) (out *tensor.Tensor, cache any, rectified bool, err error) {
	x := in[0]
	c, inner := o.bnShape(x, f)
	if frozen {
		out, err := o.forward(in, w, f, al)
		inv := al.float64s(c)
		for i := range inv {
			inv[i] = 1 / math.Sqrt(float64(w[3].Data[i])+o.epsilon)
		}
		bc := al.bnCache()
		bc.invStd = inv
		return out, bc, false, err
	}
	count := len(x.Data) / c
	mean, sq := al.float64s(c), al.float64s(c)
	center := al.floats(c) // what the squares are taken about
	if inner == 1 {
		// One pass over x: the squares are taken about the mean of the
		// first rows instead of the mean, and corrected below. The
		// differences are rounded to float32, so the center must be near
		// the mean: a first row 50 deviations out, alone, moved a
		// variance by 1.4e-6.
		shift := al.float64s(c)
		first := min(count, 64)
		for r := 0; r < first; r++ {
			for ch, v := range x.Data[r*c : r*c+c] {
				shift[ch] += float64(v)
			}
		}
		for ch := range shift {
			center[ch] = float32(shift[ch] / float64(first))
			shift[ch] = float64(center[ch])
		}
		kernels.ChannelSums(x.Data, c, shift, mean, sq)
		for ch := range mean {
			mean[ch] /= float64(count)
		}
	} else {
		channelSums(x.Data, c, inner, mean, func(v float32, _ int) float64 { return float64(v) })
		for ch := range mean {
			mean[ch] /= float64(count)
			center[ch] = float32(mean[ch])
		}
		channelSums(x.Data, c, inner, sq, func(v float32, i int) float64 {
			d := float64(v - center[(i/inner)%c])
			return d * d
		})
	}
	gamma, beta, mm, mv := w[0].Data, w[1].Data, w[2].Data, w[3].Data
	inv := al.float64s(c)
	scale, shift := al.floats(c), al.floats(c)
	for ch := range inv {
		// The squares are about center, not the mean: their sum is
		// count*e^2 more.
		e := float64(center[ch]) - mean[ch]
		v := math.Max(sq[ch]/float64(count)-e*e, 0)
		inv[ch] = 1 / math.Sqrt(v+o.epsilon)
		scale[ch] = float32(inv[ch])
		shift[ch] = float32(-mean[ch] * inv[ch])
		// Keras: moving = momentum*moving + (1-momentum)*batch, with the
		// biased variance; torch updates with the unbiased one.
		if o.bessel && count > 1 {
			v *= float64(count) / float64(count-1)
		}
		mm[ch] = float32(o.momentum*float64(mm[ch]) + (1-o.momentum)*mean[ch])
		mv[ch] = float32(o.momentum*float64(mv[ch]) + (1-o.momentum)*v)
	}
	out = al.NewUninit(x.Shape...)
	if inner == 1 {
		// xhat is not kept: backward recomputes it from x (which it
		// reads anyway) with scale and shift, a buffer and a pass saved.
		switch {
		case relu && res != nil:
			kernels.NormalizeAddRelu(x.Data, res.Data, out.Data, c, scale, shift, gamma, beta)
		case relu:
			kernels.NormalizeRelu(x.Data, out.Data, c, scale, shift, gamma, beta)
		default:
			kernels.Normalize(x.Data, out.Data, c, scale, shift, gamma, beta)
		}
		bc := al.bnCache()
		bc.scale, bc.shift, bc.invStd, bc.batch = scale, shift, inv, true
		return out, bc, relu, nil
	}
	xhat := al.floats(len(x.Data))
	for off := 0; off < len(x.Data); off += c * inner {
		for ch := 0; ch < c; ch++ {
			s, sh, g, b := scale[ch], shift[ch], gamma[ch], beta[ch]
			if inner == 1 {
				xh := x.Data[off+ch]*s + sh
				xhat[off+ch] = xh
				out.Data[off+ch] = xh*g + b
				continue
			}
			base := off + ch*inner
			for j, v := range x.Data[base : base+inner] {
				xh := v*s + sh
				xhat[base+j] = xh
				out.Data[base+j] = xh*g + b
			}
		}
	}
	bc := al.bnCache()
	bc.xhat, bc.invStd, bc.batch = xhat, inv, true
	return out, bc, false, nil
}

func (o *batchNormOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x, g := c.in[0], c.gout.Data
	ch, inner := o.bnShape(x, c.f)
	cache := c.cache.(*bnCache)
	var mask kernels.ReluMask
	if c.mask != nil {
		if inner == 1 && cache.batch {
			// Applied as g is read, recomputed from x: the forward pass
			// rectified Normalize's output with these.
			mask = kernels.ReluMask{Scale: cache.scale, Shift: cache.shift, Gamma: c.w[0].Data, Beta: c.w[1].Data}
		} else {
			g = activationGrad(c.al, "relu", c.mask.Shape, c.mask.Data, g)
		}
	}
	gamma := c.w[0].Data
	dx := c.al.NewUninit(x.Shape...) // every value is written
	a, b := c.al.floats(ch), c.al.floats(ch)
	if !cache.batch { // frozen: an affine map with the moving statistics
		for k := range a {
			a[k] = float32(float64(gamma[k]) * cache.invStd[k])
		}
	} else {
		var sumG, sumGX []float64
		if inner == 1 {
			// sum g*xhat = scale*sum(g*x) + shift*sum(g)
			sumG, sumGX = c.al.float64s(ch), c.al.float64s(ch)
			kernels.DotChannelsMasked(g, mask, x.Data, ch, sumG, sumGX)
			for k := range sumGX {
				sumGX[k] = float64(cache.scale[k])*sumGX[k] + float64(cache.shift[k])*sumG[k]
			}
		} else {
			sumG, sumGX = c.al.float64s(ch), c.al.float64s(ch)
			channelSums(g, ch, inner, sumG, func(v float32, _ int) float64 { return float64(v) })
			channelSums(g, ch, inner, sumGX, func(v float32, i int) float64 { return float64(v) * float64(cache.xhat[i]) })
		}
		if c.gw != nil {
			for k := range sumG {
				c.gw[0].Data[k] += float32(sumGX[k])
				c.gw[1].Data[k] += float32(sumG[k])
			}
		}
		// dx = gamma*invstd/n * (n*g - sum(g) - xhat*sum(g*xhat)), as
		// a*g + b*xhat + c per channel.
		n := float64(len(g) / ch)
		cs := c.al.floats(ch)
		for k := range a {
			f := float64(gamma[k]) * cache.invStd[k]
			a[k] = float32(f)
			b[k] = float32(-f * sumGX[k] / n)
			cs[k] = float32(-f * sumG[k] / n)
		}
		if inner == 1 {
			// b*xhat + cs = (b*scale)*x + (b*shift + cs)
			for k := range b {
				bk := float64(b[k])
				b[k], cs[k] = float32(bk*float64(cache.scale[k])), float32(bk*float64(cache.shift[k])+float64(cs[k]))
			}
			kernels.CombineMasked(g, mask, x.Data, dx.Data, ch, a, b, cs)
			return c.al.list(dx), nil
		}
		for off := 0; off < len(g); off += ch * inner {
			for k := 0; k < ch; k++ {
				base := off + k*inner
				for j, v := range g[base : base+inner] {
					dx.Data[base+j] = a[k]*v + b[k]*cache.xhat[base+j] + cs[k]
				}
			}
		}
		return c.al.list(dx), nil
	}
	for off := 0; off < len(g); off += ch * inner {
		for k := 0; k < ch; k++ {
			base := off + k*inner
			for j, v := range g[base : base+inner] {
				dx.Data[base+j] = a[k] * v
			}
		}
	}
	return c.al.list(dx), nil
}

// activationGrad returns the gradient at an activation's input from the
// gradient g at its output y.
func activationGrad(al *arena, fn string, shape []int, y, g []float32) []float32 {
	d := al.take(len(g), fn != "relu") // ReluGrad writes every value
	switch fn {
	case "relu":
		kernels.ReluGrad(y, g, d)
	case "sigmoid":
		for i, v := range y {
			d[i] = g[i] * v * (1 - v)
		}
	case "tanh":
		for i, v := range y {
			d[i] = g[i] * (1 - v*v)
		}
	case "softmax":
		k := shape[len(shape)-1]
		for r := 0; r < len(y)/k; r++ {
			yr, gr := y[r*k:(r+1)*k], g[r*k:(r+1)*k]
			var dot float64
			for i := range yr {
				dot += float64(yr[i]) * float64(gr[i])
			}
			for i := range yr {
				d[r*k+i] = float32(float64(yr[i]) * (float64(gr[i]) - dot))
			}
		}
	default: // linear
		copy(d, g)
	}
	return d
}

func (o *activationOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	if c.logits {
		return c.al.list(c.gout), nil
	}
	d := activationGrad(c.al, o.fn, c.out.Shape, c.out.Data, c.gout.Data)
	return c.al.list(c.al.header(c.in[0].Shape, d)), nil
}

func (addOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	gs := c.al.slots(len(c.in))
	for i := range gs {
		gs[i] = c.gout // shared: addGrad copies before summing into it
	}
	return gs, nil
}

func (o *poolOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	n, h, w, ch := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := c.out.Shape[1], c.out.Shape[2]
	pt, pl := 0, 0
	if o.padding == "same" {
		pt, pl = samePad(h, oh, o.size, o.strides[0], 1), samePad(w, ow, o.size, o.strides[1], 1)
	}
	dx := c.al.New(x.Shape...)
	poolGrads.Run(n, 1, poolGrad{o, x.Data, c.gout.Data, dx.Data, h, w, ch, oh, ow, pt, pl})
	return c.al.list(dx), nil
}

// poolGrad is poolOp.backward's loop over images: their windows never
// share an input pixel.
type poolGrad struct {
	o                        *poolOp
	x, gout, dx              []float32
	h, w, ch, oh, ow, pt, pl int
}

var poolGrads kernels.Tasks[poolGrad, *poolGrad]

func (t *poolGrad) Run(lo, hi int) {
	o, x, gout, dx := t.o, t.x, t.gout, t.dx
	h, w, ch, oh, ow, pt, pl := t.h, t.w, t.ch, t.oh, t.ow, t.pt, t.pl
	var bestBuf [256]float32 // on the stack for up to 256 channels
	var atBuf [256]int
	best, at := bestBuf[:], atBuf[:]
	if ch > len(bestBuf) {
		best, at = make([]float32, ch), make([]int, ch)
	}
	best, at = best[:ch], at[:ch]
	for b := lo; b < hi; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				g := gout[((b*oh+oy)*ow+ox)*ch:][:ch]
				y0, x0 := oy*o.strides[0]-pt, ox*o.strides[1]-pl
				ya, yb := max(y0, 0), min(y0+o.size, h)
				xa, xb := max(x0, 0), min(x0+o.size, w)
				if ya >= yb || xa >= xb {
					continue
				}
				if !o.max {
					inv := 1 / float32((yb-ya)*(xb-xa))
					for iy := ya; iy < yb; iy++ {
						for ix := xa; ix < xb; ix++ {
							d := dx[((b*h+iy)*w+ix)*ch:][:ch]
							for k, v := range g {
								d[k] += v * inv
							}
						}
					}
					continue
				}
				// The first maximum of each channel in scan order
				// takes the gradient, pixel by pixel over the window.
				for iy := ya; iy < yb; iy++ {
					for ix := xa; ix < xb; ix++ {
						base := ((b*h+iy)*w + ix) * ch
						px := x[base:][:ch]
						if iy == ya && ix == xa {
							copy(best, px)
							for k := range at {
								at[k] = base + k
							}
							continue
						}
						for k, v := range px {
							if v > best[k] {
								best[k], at[k] = v, base+k
							}
						}
					}
				}
				for k, v := range g {
					dx[at[k]] += v
				}
			}
		}
	}
}

func (o *globalPoolOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	n, hw, ch := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	dx := c.al.New(x.Shape...)
	for b := 0; b < n; b++ {
		g := c.gout.Data[b*ch : (b+1)*ch]
		if !o.max {
			inv := 1 / float32(hw)
			for p := 0; p < hw; p++ {
				d := dx.Data[(b*hw+p)*ch:][:ch]
				for k, v := range g {
					d[k] = v * inv
				}
			}
			continue
		}
		for k, v := range g {
			bi := b * hw * ch
			for p := 0; p < hw; p++ {
				if x.Data[(b*hw+p)*ch+k] > x.Data[bi+k] {
					bi = (b*hw + p) * ch
				}
			}
			dx.Data[bi+k] += v
		}
	}
	return c.al.list(dx), nil
}

func (o *denseOp) forwardTrain(in, w []*tensor.Tensor, f DataFormat, _ bool, al *arena) (*tensor.Tensor, any, error) {
	lin := denseOp{units: o.units, useBias: o.useBias, activation: "linear"}
	z, err := lin.forward(in, w, f, al)
	if err != nil {
		return nil, nil, err
	}
	out := al.Clone(z)
	activate(o.activation, out.Shape, out.Data)
	return out, z, nil
}

func (o *denseOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	k := x.Shape[len(x.Shape)-1]
	rows := len(x.Data) / k
	gz := c.gout.Data
	if !c.logits {
		gz = activationGrad(c.al, o.activation, c.out.Shape, c.out.Data, gz)
	}
	if c.gw != nil {
		kernels.Gemm(k, o.units, rows, kernels.Mat{Data: x.Data, Stride: k, T: true},
			kernels.Mat{Data: gz, Stride: o.units}, c.gw[0].Data, o.units, true)
		if o.useBias {
			kernels.SumRows(gz, c.gw[1].Data)
		}
	}
	dx := c.al.New(x.Shape...)
	kernels.Gemm(rows, k, o.units, kernels.Mat{Data: gz, Stride: o.units},
		kernels.Mat{Data: c.w[0].Data, Stride: o.units, T: true}, dx.Data, k, false)
	return c.al.list(dx), nil
}

func (flattenOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	g := c.al.header(x.Shape, c.gout.Data)
	if c.f == ChannelsFirst && len(x.Shape) == 4 {
		// The flattened gradient is in C, H, W order; bring it back to NHWC.
		nchw := &tensor.Tensor{Shape: []int{x.Shape[0], x.Shape[3], x.Shape[1], x.Shape[2]}, Data: c.gout.Data}
		g = toInternal(nchw, ChannelsFirst)
	}
	return c.al.list(g), nil
}

func (o *paddedIdentityOp) backward(c backCtx) ([]*tensor.Tensor, error) {
	x := c.in[0]
	n, h, w, ch := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := c.out.Shape[1], c.out.Shape[2]
	// Every row of dx is cleared; the loop goes by output rows.
	dx := c.al.NewUninit(x.Shape...)
	shortcutGrads.Run(n*oh, 8, shortcutGrad{o, dx.Data, c.gout.Data, h, w, ch, oh, ow})
	return c.al.list(dx), nil
}

// shortcutGrads runs paddedIdentityOp.backward's loop: shortcutFill's
// fields, x the input's gradient and out the output's.
var shortcutGrads kernels.Tasks[shortcutGrad, *shortcutGrad]

type shortcutGrad shortcutFill

func (t *shortcutGrad) Run(lo, hi int) {
	o, h, w, c, oh, ow, dx := t.o, t.h, t.w, t.c, t.oh, t.ow, t.x
	before := (o.channels - c) / 2
	for r := lo; r < hi; r++ {
		b, y := r/oh, r%oh
		// The input rows this output row took a pixel from, and those
		// it skipped, down to the next one's.
		y0, y1 := b*h+y*o.stride, b*h+min(h, (y+1)*o.stride)
		clear(dx[y0*w*c : y1*w*c])
		for xx := 0; xx < ow; xx++ {
			copy(dx[((b*h+y*o.stride)*w+xx*o.stride)*c:][:c], t.out[(r*ow+xx)*o.channels+before:])
		}
	}
}

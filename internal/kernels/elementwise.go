package kernels

import "math"

// Element-wise passes over channels-last data (the channel cycles fastest,
// rows of c values), spread over the pool. They are memory-bound, so two
// cores are worth nearly twice one.

const grain = 1 << 13 // values per chunk

// rowsGrain is the number of rows of c values in about grain values.
func rowsGrain(c int) int { return max(1, grain/max(1, c)) }

// ChannelSums sets sum, per channel, to the sum of x and sq to the sum of
// (x-center)^2 given center (the mean, or any value near it; nil skips the
// second, and sq may be nil then): the caller's slices of c values, so
// that a training step's BatchNorm layers allocate none. It adds in
// float64 value by
// value (the assembly too, bit for bit): float32 sums of even 16 rows move
// a channel's mean enough (1e-6 relative) to change a CIFAR ResNet-20's
// gradients by 1% against PyTorch where a channel's spread is far below
// its mean.
func ChannelSums(x []float32, c int, center, sum, sq []float64) {
	rows := len(x) / c
	parts := Workers() * 2
	// Each part's sums and squares in scratch, not allocated a part
	// (BatchNorm calls this twice a layer a step).
	buf, mbuf := scratch64.get(parts*2*c), getBuf(c)
	defer scratch64.put(buf)
	defer putBuf(mbuf)
	partial, m32 := *buf, *mbuf
	clear(partial)
	for i := range m32 {
		m32[i] = 0
		if center != nil {
			m32[i] = float32(center[i])
		}
	}
	channelSumsTasks.Run(parts, 1, channelSumsTask{x, c, rows, parts, m32, partial, center != nil})
	clear(sum)
	if center == nil {
		sq = nil
	}
	clear(sq)
	sumParts(partial, parts, sum[:c], sq)
}

// channelSumsTask is ChannelSums' loop over its parts.
type channelSumsTask struct {
	x              []float32
	c, rows, parts int
	m32            []float32
	partial        []float64
	centered       bool
}

var channelSumsTasks Tasks[channelSumsTask, *channelSumsTask]

func (t *channelSumsTask) Run(lo, hi int) {
	x, c, m32 := t.x, t.c, t.m32
	for p := lo; p < hi; p++ {
		s := t.partial[2*p*c : (2*p+1)*c]
		var q []float64
		if t.centered {
			q = t.partial[(2*p+1)*c : (2*p+2)*c]
		}
		r0, r1 := p*t.rows/t.parts, (p+1)*t.rows/t.parts
		if channelSumsAsm(x[r0*c:r1*c], c, m32, s, q) {
			continue
		}
		for r := r0; r < r1; r++ {
			row := x[r*c : r*c+c]
			for i, v := range row {
				s[i] += float64(v)
			}
			if q != nil {
				for i, v := range row {
					d := float64(v - m32[i])
					q[i] += d * d
				}
			}
		}
	}
}

// sumParts adds each part's pair of c sums in partial (the part's first
// sums, then its second) into a and, unless nil, b, part by part.
func sumParts(partial []float64, parts int, a, b []float64) {
	c := len(a)
	for p := 0; p < parts; p++ {
		for i, v := range partial[2*p*c : (2*p+1)*c] {
			a[i] += v
		}
		if b != nil {
			for i, v := range partial[(2*p+1)*c : (2*p+2)*c] {
				b[i] += v
			}
		}
	}
}

// ReluMask says where a ReLU after a BatchNorm let the gradient through,
// for the fused backward passes of both. With Y set, where Y (the ReLU's
// output) > 0. With Scale set, where the BatchNorm's output was > 0,
// recomputed from its input h as Normalize computed it, (h*Scale +
// Shift)*Gamma + Beta: the backward pass reads h anyway, so the ReLU's
// output is not read at all (5 tensors moved instead of 7). The zero
// ReluMask masks nothing.
type ReluMask struct {
	Y                         []float32
	Scale, Shift, Gamma, Beta []float32
}

// affine reports whether m recomputes the BatchNorm's output.
func (m ReluMask) affine() bool { return m.Scale != nil }

// maskRow returns row r's gradient gr masked by m, in dst where it masks
// (hr the row of the BatchNorm's input).
func (m ReluMask) maskRow(r, c int, gr, hr, dst []float32) []float32 {
	switch {
	case m.affine():
		for i, v := range gr {
			dst[i] = masked(v, normalized(hr[i], m.Scale[i], m.Shift[i], m.Gamma[i], m.Beta[i]))
		}
	case m.Y != nil:
		yr := m.Y[r*c : r*c+c]
		for i, v := range gr {
			dst[i] = masked(v, yr[i])
		}
	default:
		return gr
	}
	return dst
}

// normalized is Normalize's output for one value, rounded after each
// operation (no fused multiply-add) as the assembly rounds.
func normalized(x, scale, shift, gamma, beta float32) float32 {
	t := float32(x*scale) + shift
	return float32(t*gamma) + beta
}

// DotChannelsMasked sets sumG and sumGH (c values each) to the
// per-channel sums of gm and of gm*h, gm = g where m lets it through and 0
// elsewhere: the gradient at a ReLU's input, never written out.
func DotChannelsMasked(g []float32, m ReluMask, h []float32, c int, sumG, sumGH []float64) {
	rows := len(g) / c
	parts := Workers() * 2
	buf := scratch64.get(parts * 2 * c)
	defer scratch64.put(buf)
	partial := *buf
	clear(partial)
	dotMaskedTasks.Run(parts, 1, dotMaskedTask{g, h, m, c, rows, parts, partial})
	clear(sumG)
	clear(sumGH)
	sumParts(partial, parts, sumG[:c], sumGH[:c])
}

// dotMaskedTask is DotChannelsMasked's loop over its parts.
type dotMaskedTask struct {
	g, h           []float32
	m              ReluMask
	c, rows, parts int
	partial        []float64
}

var dotMaskedTasks Tasks[dotMaskedTask, *dotMaskedTask]

func (t *dotMaskedTask) Run(lo, hi int) {
	g, h, m, c := t.g, t.h, t.m, t.c
	for p := lo; p < hi; p++ {
		s, q := t.partial[2*p*c:(2*p+1)*c], t.partial[(2*p+1)*c:(2*p+2)*c]
		r0, r1 := p*t.rows/t.parts, (p+1)*t.rows/t.parts
		if dotMaskedAsm(g[r0*c:r1*c], m, r0, h[r0*c:r1*c], c, s, q) {
			continue
		}
		row := getBuf(c)
		for r := r0; r < r1; r++ {
			hr := h[r*c : r*c+c]
			for i, v := range m.maskRow(r, c, g[r*c:r*c+c], hr, *row) {
				s[i] += float64(v)
				q[i] += float64(v) * float64(hr[i])
			}
		}
		putBuf(row)
	}
}

// Affine computes out = x*a + b per channel (out may be x): BatchNorm's
// inference form, by Normalize's kernels with gamma 1 and beta 0, which
// change no value.
func Affine(x, out []float32, c int, a, b []float32) {
	normalize(x, nil, out, c, a, b, ones(c), zeros(c), false)
}

// AffineRelu is Affine followed by a ReLU of out, applied to each few rows
// as they are written, while they are in cache.
func AffineRelu(x, out []float32, c int, a, b []float32) {
	normalize(x, nil, out, c, a, b, ones(c), zeros(c), true)
}

// ones returns n ones, shared read-only (as zeros are) up to 2048.
func ones(n int) []float32 {
	if n <= len(oneRow) {
		return oneRow[:n]
	}
	return filledOnes(n)
}

var oneRow = filledOnes(2048)

func filledOnes(n int) []float32 {
	r := make([]float32, n)
	for i := range r {
		r[i] = 1
	}
	return r
}

// Normalize computes out = (x*scale + shift)*gamma + beta per channel:
// BatchNorm's training forward pass.
func Normalize(x, out []float32, c int, scale, shift, gamma, beta []float32) {
	normalize(x, nil, out, c, scale, shift, gamma, beta, false)
}

// NormalizeRelu is Normalize followed by a ReLU of out, applied to each few
// rows as they are written, while they are in cache.
func NormalizeRelu(x, out []float32, c int, scale, shift, gamma, beta []float32) {
	normalize(x, nil, out, c, scale, shift, gamma, beta, true)
}

// NormalizeAddRelu is Normalize, then res added, then a ReLU: the end of
// a residual block (BatchNorm, Add, ReLU) in one pass over memory instead
// of three, each few rows finished while they are in cache.
func NormalizeAddRelu(x, res, out []float32, c int, scale, shift, gamma, beta []float32) {
	normalize(x, res[:len(x)], out, c, scale, shift, gamma, beta, true)
}

// normalize is Normalize, adding res (nil: nothing) and rectifying if
// withRelu.
func normalize(x, res, out []float32, c int, scale, shift, gamma, beta []float32, withRelu bool) {
	normalizeTasks.Run(len(x)/c, rowsGrain(c), normalizeTask{x, res, out, c, scale, shift, gamma, beta, withRelu})
}

// normalizeTask is normalize's loop over rows.
type normalizeTask struct {
	x, res, out               []float32
	c                         int
	scale, shift, gamma, beta []float32
	withRelu                  bool
}

var normalizeTasks Tasks[normalizeTask, *normalizeTask]

func (t *normalizeTask) Run(lo, hi int) {
	c := t.c
	step := max(1, 4096/c) // rows normalized, then finished, at a time: 16 KB
	for r0 := lo; r0 < hi; r0 += step {
		r1 := min(hi, r0+step)
		xs, os := t.x[r0*c:r1*c], t.out[r0*c:r1*c]
		if !normalizeAsm(xs, os, c, t.scale, t.shift, t.gamma, t.beta) {
			for r := 0; r < r1-r0; r++ {
				xr, or := xs[r*c:r*c+c], os[r*c:r*c+c]
				for i, v := range xr {
					or[i] = normalized(v, t.scale[i], t.shift[i], t.gamma[i], t.beta[i])
				}
			}
		}
		if t.res != nil {
			add(os, t.res[r0*c:r1*c], os)
		}
		if t.withRelu {
			relu(os, os)
		}
	}
}

// CombineMasked computes out = gm*a + h*b + k per channel, gm = g where
// m lets it through and 0 elsewhere, as DotChannelsMasked.
func CombineMasked(g []float32, m ReluMask, h, out []float32, c int, a, b, k []float32) {
	combineMaskedTasks.Run(len(g)/c, rowsGrain(c), combineMaskedTask{g, h, out, m, c, a, b, k})
}

// combineMaskedTask is CombineMasked's loop over rows.
type combineMaskedTask struct {
	g, h, out []float32
	m         ReluMask
	c         int
	a, b, k   []float32
}

var combineMaskedTasks Tasks[combineMaskedTask, *combineMaskedTask]

func (t *combineMaskedTask) Run(lo, hi int) {
	c := t.c
	if combineMaskedAsm(t.g[lo*c:hi*c], t.m, lo, t.h[lo*c:hi*c], t.out[lo*c:hi*c], c, t.a, t.b, t.k) {
		return
	}
	row := getBuf(c)
	defer putBuf(row)
	for r := lo; r < hi; r++ {
		hr, or := t.h[r*c:r*c+c], t.out[r*c:r*c+c]
		for i, v := range t.m.maskRow(r, c, t.g[r*c:r*c+c], hr, *row) {
			or[i] = v*t.a[i] + hr[i]*t.b[i] + t.k[i]
		}
	}
}

// masked returns g where y > 0 and 0 elsewhere (y a ReLU's output: 0, -0
// or positive), in integer operations: a branch per value would be
// mispredicted half the time.
func masked(g, y float32) float32 {
	b := int32(math.Float32bits(y))
	// All ones iff 0 < b <= +Inf's bits: y > 0 and not NaN, as the
	// assembly's ordered comparison.
	keep := uint32(-b>>31) &^ uint32(b>>31) &^ uint32((0x7f800000-b)>>31)
	return math.Float32frombits(math.Float32bits(g) & keep)
}

// Relu writes max(x, 0) into out (which may be x).
func Relu(x, out []float32) {
	vectorTasks.Run(len(x), grain, vectorTask{opRelu, x, nil, out})
}

// reluGo is the portable relu.
func reluGo(x, out []float32) {
	out = out[:len(x)]
	for i, v := range x {
		out[i] = max(v, 0)
	}
}

// ReluGrad writes g where y > 0 and 0 elsewhere into d.
func ReluGrad(y, g, d []float32) {
	vectorTasks.Run(len(y), grain, vectorTask{opReluGrad, y, g, d})
}

// reluGradGo is the portable reluGrad.
func reluGradGo(y, g, d []float32) {
	g, d = g[:len(y)], d[:len(y)]
	for i, v := range y {
		if v > 0 {
			d[i] = g[i]
		} else {
			d[i] = 0
		}
	}
}

// AddTo adds x into y.
func AddTo(y, x []float32) { Add(y, y, x) }

// Add writes a + b into out, which may be a or b.
func Add(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	vectorTasks.Run(len(out), grain, vectorTask{opAdd, a, b, out})
}

// vectorTask is the loop of Relu, ReluGrad or Add over values.
type vectorTask struct {
	op        vectorOp
	a, b, out []float32
}

type vectorOp int

const (
	opRelu     vectorOp = iota // out = max(a, 0)
	opReluGrad                 // out = b where a > 0, else 0
	opAdd                      // out = a + b
)

var vectorTasks Tasks[vectorTask, *vectorTask]

func (t *vectorTask) Run(lo, hi int) {
	switch t.op {
	case opRelu:
		relu(t.a[lo:hi], t.out[lo:hi])
	case opReluGrad:
		reluGrad(t.a[lo:hi], t.b[lo:hi], t.out[lo:hi])
	case opAdd:
		add(t.a[lo:hi], t.b[lo:hi], t.out[lo:hi])
	}
}

// addGo is the portable add.
func addGo(a, b, out []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

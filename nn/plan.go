package nn

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/resnet-go/resnet/internal/kernels"
	"github.com/resnet-go/resnet/tensor"
)

// Plan is a model compiled for inference: BatchNormalization folded into
// the convolution before it, ReLU and residual additions fused into the
// convolution's output stage, two 1x1 convolutions feeding one Add (a
// bottleneck block's last and its projection shortcut) computed as one
// product, zero padding folded into the convolution or
// pooling after it, and activation buffers recycled as soon as their last
// reader has run (a convolution whose residual is read for the last time
// adds itself onto the residual's buffer). A Plan is safe for concurrent
// use by many goroutines.
type Plan struct {
	m        *Model
	steps    []*pstep
	nvals    int
	inputs   []int // value ids of the model's inputs
	outputs  []int
	uses     []int // readers of each value, outputs counting once more
	format   DataFormat
	mu       sync.Mutex
	free     map[int][][]float32 // activation buffers by length
	winograd int
	mem      *kernels.OffHeap // the packed weights and activation buffers, freed with the plan
	passes   sync.Pool        // *passState: what a pass keeps beside its buffers
}

// passState is a pass's bookkeeping: each value's tensor, whether its
// buffer is the pool's, the readers it has left, each step's scratch.
// Passes take it from the plan's pool, so that serving allocates next to
// nothing (several goroutines may run passes at once).
type passState struct {
	vals    []*tensor.Tensor
	pooled  []bool
	uses    []int
	scratch []stepScratch
}

// pass returns a pass's state, set for a new pass.
func (p *Plan) pass() *passState {
	ps, _ := p.passes.Get().(*passState)
	if ps == nil {
		ps = &passState{vals: make([]*tensor.Tensor, p.nvals), pooled: make([]bool, p.nvals),
			uses: make([]int, p.nvals), scratch: make([]stepScratch, len(p.steps))}
	}
	copy(ps.uses, p.uses)
	return ps
}

// donePass returns a pass's state to the pool, holding no tensor (the
// caller's input among them).
func (p *Plan) donePass(ps *passState) {
	clear(ps.vals)
	clear(ps.pooled)
	clear(ps.scratch)
	p.passes.Put(ps)
}

// pstep is one step of a plan: a fused convolution, or any layer run as
// it is.
type pstep struct {
	layer *Layer // the layer whose output this step produces
	ins   []int
	reads []int // every value the step reads: ins and the residual
	out   int

	conv   *conv2DOp
	pads   [4]int // top, bottom, left, right
	packed []*kernels.PackedB
	wino   *kernels.WinogradKernel // set (and packed nil) when run by Winograd
	// large runs batches from some size on by Winograd, its kernels
	// transformed from packed on first use: where one image is better
	// served by the matrix products (a 7x7 output), memory need not hold
	// both forms unless larger batches come. Beside wino, it runs the
	// batches that take a larger tile, by a kernel made from wino's.
	large    *largeWinograd
	bias     []float32
	relu     bool
	residual int // value added before the ReLU, or -1
	// pair is the second convolution of a step that sums two 1x1 ones
	// before their Add (a bottleneck block's last convolution and its
	// projection shortcut), reading ins[1]; packed holds both kernels,
	// bias both biases.
	pair *conv2DOp

	// norm is an inference BatchNormalization over the last axis (and
	// the ReLU after it, relu): x*scale + bias.
	norm  *batchNormOp
	scale []float32

	pool  *poolOp       // max pooling with folded padding
	gpool *globalPoolOp // global pooling into a buffer of the plan's
	dense *denseOp      // a Dense layer on pre-packed weights
}

// CompileOption changes how Compile works.
type CompileOption func(*compileConfig)

type compileConfig struct {
	consume  bool
	winograd int
}

const (
	autoWinograd  = iota // where the kernels prefer it (the default)
	noWinograd           // matrix products only
	forceWinograd        // Winograd wherever it applies
)

// NoWinograd runs every convolution as a matrix product. By default 3x3
// convolutions of stride 1 and 2 run by Winograd (F(4x4, 3x3), F(2x2, 3x3)
// or the stride-2 form) where that is faster on this CPU: with the AVX-512
// transforms, channels in multiples of 16, outputs of at least 14x14 at the
// model's input size (smaller ones from the batch where their tiles pay).
func NoWinograd() CompileOption { return func(c *compileConfig) { c.winograd = noWinograd } }

// ForceWinograd runs every 3x3 convolution of stride 1 or 2 by Winograd,
// faster or not.
func ForceWinograd() CompileOption { return func(c *compileConfig) { c.winograd = forceWinograd } }

// ConsumeWeights lets Compile free each convolution's and BatchNorm's
// weights as soon as it has folded and packed them, so that the weights
// are never held twice: the smallest peak memory for serving. The model
// can then no longer run or save; only the plan can.
func ConsumeWeights() CompileOption { return func(c *compileConfig) { c.consume = true } }

// ErrConsumed is returned by a model whose weights a plan consumed.
var ErrConsumed = errors.New("the model's weights were consumed by Compile(ConsumeWeights()); use the plan")

// Compile builds the inference plan of the model from its current weights;
// later changes to the weights need a new plan.
func (m *Model) Compile(opts ...CompileOption) (*Plan, error) {
	var cc compileConfig
	for _, o := range opts {
		o(&cc)
	}
	if m.consumed {
		return nil, ErrConsumed
	}
	consumers := map[*Layer][]*Layer{}
	for _, l := range m.layers {
		for _, t := range l.inputs {
			consumers[t.layer] = append(consumers[t.layer], l)
		}
	}
	isOutput := map[*Layer]bool{}
	for _, t := range m.outputs {
		isOutput[t.layer] = true
	}
	// sole returns the only reader of l's output, if l is not also an output.
	sole := func(l *Layer) *Layer {
		if c := consumers[l]; len(c) == 1 && !isOutput[l] {
			return c[0]
		}
		return nil
	}
	p := &Plan{m: m, format: m.inputs[0].g.format, winograd: cc.winograd, mem: &kernels.OffHeap{}}
	// The plan's memory goes when the plan does; until Compile returns,
	// only Compile holds it.
	compiled := false
	defer func() {
		if compiled {
			runtime.AddCleanup(p, (*kernels.OffHeap).Free, p.mem)
		} else {
			p.mem.Free()
		}
	}()
	val := map[*Layer]int{} // the value holding each layer's output
	newVal := func(l *Layer) int {
		val[l] = p.nvals
		p.nvals++
		return val[l]
	}
	absorbed := map[*Layer]bool{}
	freed := 0                      // bytes of weights consumed since the last collection
	deferred := map[*Layer]*pstep{} // Add layer -> convolution to fuse into it
	nonNegative := map[*Layer]bool{}
	for _, l := range m.layers {
		if absorbed[l] {
			continue
		}
		switch op := l.op.(type) {
		case inputOp:
			newVal(l)
		case *zeroPaddingOp:
			next := sole(l)
			if c, ok := next.op.(*conv2DOp); next != nil && ok && c.padding == "valid" {
				absorbed[l] = true // the convolution reads l's input with l's padding
				continue
			}
			if pl, ok := next.op.(*poolOp); next != nil && ok && pl.max && pl.padding == "valid" && nonNegative[l.inputs[0].layer] {
				absorbed[l] = true // max pooling ignores padding; with inputs >= 0 that equals zero padding
				continue
			}
			p.generic(l, val, newVal)
		case *denseOp:
			if p.format == ChannelsFirst && len(l.inputs[0].shape) == 3 {
				p.generic(l, val, newVal) // its errors are the reference's
				continue
			}
			w := l.values()
			st := &pstep{layer: l, dense: op, ins: []int{val[l.inputs[0].layer]}, residual: -1}
			k := w[0].Shape[0]
			st.packed = []*kernels.PackedB{kernels.PackB(kernels.Mat{Data: w[0].Data, Stride: op.units}, k, op.units).CopyTo(p.mem)}
			st.bias = make([]float32, op.units)
			if op.useBias {
				copy(st.bias, w[1].Data)
			}
			if cc.consume {
				l.vals = nil
			}
			st.out = newVal(l)
			p.steps = append(p.steps, st)
		case *batchNormOp:
			rank := len(l.inputs[0].shape) + 1
			if rank > 4 || internalAxis(op.axis, rank, p.format) != rank-1 {
				p.generic(l, val, newVal)
				continue
			}
			st := &pstep{layer: l, norm: op, ins: []int{val[l.inputs[0].layer]}, residual: -1}
			st.scale, st.bias = op.affine(l.values())
			if cc.consume {
				l.vals = nil
			}
			last := p.fuseRelu(st, l, sole, absorbed)
			nonNegative[last] = st.relu
			st.out = newVal(last)
			p.steps = append(p.steps, st)
		case *globalPoolOp:
			st := &pstep{layer: l, gpool: op, ins: []int{val[l.inputs[0].layer]}, residual: -1}
			st.out = newVal(l)
			p.steps = append(p.steps, st)
		case *poolOp:
			src := l.inputs[0].layer
			st := &pstep{layer: l, pool: op, residual: -1}
			if pad, ok := src.op.(*zeroPaddingOp); ok && absorbed[src] {
				st.pads = [4]int{pad.top, pad.bottom, pad.left, pad.right}
				src = src.inputs[0].layer
			}
			st.ins, st.out = []int{val[src]}, newVal(l)
			p.steps = append(p.steps, st)
			nonNegative[l] = op.max && nonNegative[src]
		case *conv2DOp:
			st, last := p.fuseConv(l, op, sole, absorbed, val, cc.consume)
			if cc.consume {
				for x := l; ; x = sole(x) {
					for _, v := range x.vals {
						freed += 4 * len(v.Data)
					}
					x.vals = nil // folded into the plan; the GC may take them now
					if x == last {
						break
					}
				}
				// Collect every few MB: the garbage the GC would otherwise
				// let pile up (up to the live heap) is the peak memory.
				if freed > 4<<20 {
					runtime.GC()
					freed = 0
				}
			}
			if add := sole(last); add != nil {
				if _, ok := add.op.(addOp); ok && len(add.inputs) == 2 {
					if deferred[add] == nil {
						deferred[add] = st // runs when the Add does, with the other input as residual
						continue
					}
					if pair := pairConvs(deferred[add], st); pair != nil {
						deferred[add] = pair // both run when the Add does, as one
						continue
					}
				}
			}
			freed += p.keep(st)
			last = p.fuseRelu(st, last, sole, absorbed)
			nonNegative[last] = st.relu
			st.out = newVal(last)
			p.steps = append(p.steps, st)
		case addOp:
			st, ok := deferred[l]
			if !ok {
				p.generic(l, val, newVal)
				continue
			}
			freed += p.keep(st)
			for _, t := range l.inputs {
				if v, done := val[t.layer]; done { // the other input: the fused branch has no value yet
					st.residual = v
				}
			}
			last := p.fuseRelu(st, l, sole, absorbed)
			nonNegative[last] = st.relu
			st.out = newVal(last)
			p.steps = append(p.steps, st)
		default:
			p.generic(l, val, newVal)
			if a, ok := l.op.(*activationOp); ok && (a.fn == "relu" || a.fn == "sigmoid" || a.fn == "softmax") {
				nonNegative[l] = true
			}
		}
	}
	for _, t := range m.inputs {
		p.inputs = append(p.inputs, val[t.layer])
	}
	for _, t := range m.outputs {
		id, ok := val[t.layer]
		if !ok {
			return nil, fmt.Errorf("compile %q: output %q was fused away", m.name, t.layer.name)
		}
		p.outputs = append(p.outputs, id)
	}
	if cc.consume {
		m.consumed = true
	}
	p.uses = make([]int, p.nvals)
	for _, st := range p.steps {
		st.reads = st.ins
		if st.residual >= 0 && st.conv != nil {
			st.reads = append(append([]int(nil), st.ins...), st.residual)
		}
		for _, v := range st.reads {
			p.uses[v]++
		}
	}
	for _, v := range p.outputs {
		p.uses[v]++
	}
	compiled = true
	return p, nil
}

func (p *Plan) generic(l *Layer, val map[*Layer]int, newVal func(*Layer) int) {
	st := &pstep{layer: l, residual: -1}
	for _, t := range l.inputs {
		st.ins = append(st.ins, val[t.layer])
	}
	st.out = newVal(l)
	p.steps = append(p.steps, st)
}

// fuseConv makes the step of a convolution, folding the padding before it
// and the BatchNormalization after it. It returns the last layer fused.
func (p *Plan) fuseConv(l *Layer, op *conv2DOp, sole func(*Layer) *Layer, absorbed map[*Layer]bool, val map[*Layer]int, consume bool) (*pstep, *Layer) {
	st := &pstep{layer: l, conv: op, residual: -1}
	src := l.inputs[0].layer
	if pad, ok := src.op.(*zeroPaddingOp); ok && absorbed[src] {
		st.pads = [4]int{pad.top, pad.bottom, pad.left, pad.right}
		src = src.inputs[0].layer
	}
	st.ins = []int{val[src]}
	w := l.values()
	f := op.filters
	kernel := w[0].Data
	if !consume { // else the weights are the plan's to fold in place
		kernel = append([]float32(nil), kernel...)
	}
	st.bias = make([]float32, f)
	if op.useBias {
		copy(st.bias, w[1].Data)
	}
	last := l
	if bn := sole(l); bn != nil {
		channelAxis := len(l.output.shape) // Keras counts the batch axis
		if p.format == ChannelsFirst {
			channelAxis = 1
		}
		if b, ok := bn.op.(*batchNormOp); ok && b.axis == channelAxis {
			bw := bn.values()
			scale := make([]float64, f)
			for c := range scale {
				scale[c] = float64(bw[0].Data[c]) / math.Sqrt(float64(bw[3].Data[c])+b.epsilon)
				st.bias[c] = float32((float64(st.bias[c])-float64(bw[2].Data[c]))*scale[c] + float64(bw[1].Data[c]))
			}
			// Row by row (a filter's weights are f apart: a pass per
			// filter took ResNet-50's compile 0.2 s).
			for r := 0; r < len(kernel); r += f {
				for c, v := range kernel[r : r+f] {
					kernel[r+c] = float32(float64(v) * scale[c])
				}
			}
			absorbed[bn] = true
			last = bn
		}
	}
	ih, iw, cin := p.format.hwc(l.inputs[0].shape)
	// The strides and dilation choose a kernel for small groups.
	kp := kernels.Conv2DParams{C: cin, F: f, KH: op.kernel, KW: op.kernel, Groups: op.groups,
		SH: op.strides[0], SW: op.strides[1], DH: op.dilation, DW: op.dilation}
	st.packed = kernels.PackConvKernel(kp, kernel)
	p.chooseWinograd(st, ih, iw, cin)
	return st, last
}

// keep moves the step's packed kernels into the plan's memory, off the
// heap, and returns their bytes (their heap copies are garbage). A
// Winograd kernel is made there already.
func (p *Plan) keep(st *pstep) int {
	before := p.mem.Bytes()
	for i, pb := range st.packed {
		st.packed[i] = pb.CopyTo(p.mem)
	}
	return p.mem.Bytes() - before
}

// pairConvs returns the step that computes both 1x1 convolutions feeding
// an Add in one pass (their sums never stored), or nil where the two are
// not such a pair: one group, no padding, no dilation, as many filters,
// and one of them of stride 1 (it goes first; the other may be strided).
func pairConvs(a, b *pstep) *pstep {
	for _, st := range []*pstep{a, b} {
		o := st.conv
		if o.kernel != 1 || o.groups != 1 || o.dilation != 1 || st.pads != [4]int{} || st.wino != nil || st.large != nil || len(st.packed) != 1 {
			return nil
		}
	}
	if a.conv.filters != b.conv.filters {
		return nil
	}
	first, second := b, a
	if first.conv.strides != [2]int{1, 1} {
		first, second = a, b
		if first.conv.strides != [2]int{1, 1} {
			return nil
		}
	}
	st := *first
	st.ins = []int{first.ins[0], second.ins[0]}
	st.pair = second.conv
	st.packed = []*kernels.PackedB{kernels.PackBPair(first.packed[0], second.packed[0])}
	st.bias = make([]float32, len(first.bias))
	for i := range st.bias {
		st.bias[i] = first.bias[i] + second.bias[i]
	}
	return &st
}

// convParams describes the step's convolution of an n x h x w x c input,
// with its folded padding. ok is false when the output would be empty.
func (st *pstep) convParams(n, h, w, c int) (kernels.Conv2DParams, bool) {
	return st.conv.paddedParams(n, h, w, c, st.pads)
}

// chooseWinograd picks Winograd (F(4x4, 3x3) or F(2x2, 3x3)) for a 3x3
// convolution of stride 1 or 2 where the kernels say it is faster at the model's
// input size for any batch (or everywhere it applies, when forced), and
// then keeps only its transformed kernel (and makes another tile's from
// it if a larger batch takes one); where it is faster only from some batch
// on, the step keeps both ways.
func (p *Plan) chooseWinograd(st *pstep, h, w, c int) {
	if p.winograd == noWinograd || h == Unknown || w == Unknown {
		return
	}
	kp, ok := st.convParams(1, h, w, c)
	if !ok || !kernels.WinogradApplies(kp) {
		return
	}
	switch b := kernels.WinogradMinBatch(kp); {
	case p.winograd == forceWinograd || b == 1:
		// Straight into the plan's memory: a copy on the heap first was
		// garbage enough to raise a batch-1 ResNet-50's peak by 8-10 MB.
		st.wino = kernels.WinogradKernelFromPacked(p.mem, st.packed, c, kernels.WinogradTile(kp), kp.SH, false)
		st.packed = nil
		// Larger batches may take a larger tile (ResNet-50's 14x14 layers
		// from 8 images), its kernel made from this one when they come.
		many := kp
		many.N = math.MaxInt32
		if kernels.WinogradTile(many) != st.wino.Tile() {
			st.large = &largeWinograd{batch: 1, kp: kp}
		}
	case b > 1:
		st.large = &largeWinograd{batch: b, kp: kp}
	}
}

// largeWinograd is a step's Winograd kernels for batches of at least
// batch images, one for each tile size such batches take (7x7 outputs:
// F(2x2, 3x3) from 2 images, F(4x4, 3x3) from 16), each made when the
// first batch it serves comes.
type largeWinograd struct {
	batch int
	kp    kernels.Conv2DParams // the convolution of one image
	forms [2]struct {          // F(2x2, 3x3), F(4x4, 3x3)
		once sync.Once
		k    *kernels.WinogradKernel
	}
}

// tile is the Winograd tile side a batch of n runs by, or 0: none.
func (l *largeWinograd) tile(n int) int {
	if n < l.batch {
		return 0
	}
	kp := l.kp
	kp.N = n
	return kernels.WinogradTile(kp)
}

// winogradFor returns the Winograd kernel st runs a batch of n images with
// (kp describes the batch), or nil: the matrix products.
func (p *Plan) winogradFor(st *pstep, n int, kp kernels.Conv2DParams) *kernels.WinogradKernel {
	if st.large == nil {
		return st.wino
	}
	t := st.large.tile(n)
	if t == 0 {
		return nil
	}
	if st.wino != nil && st.wino.Tile() == t {
		return st.wino
	}
	f := &st.large.forms[t/4]
	f.once.Do(func() {
		if st.packed == nil { // only the smaller tile's kernel was kept
			f.k = kernels.WinogradKernelRetiled(p.mem, st.wino, t, true)
			return
		}
		f.k = kernels.WinogradKernelFromPacked(p.mem, st.packed, kp.C, t, kp.SH, true)
	})
	return f.k
}

// WinogradLayers is the number of convolutions the plan runs by Winograd
// for a batch of n images.
func (p *Plan) WinogradLayers(n int) int {
	count := 0
	for _, st := range p.steps {
		if st.winogradTile(n) > 0 {
			count++
		}
	}
	return count
}

// fuseRelu absorbs a ReLU reading only last into st.
func (p *Plan) fuseRelu(st *pstep, last *Layer, sole func(*Layer) *Layer, absorbed map[*Layer]bool) *Layer {
	if r := sole(last); r != nil {
		if a, ok := r.op.(*activationOp); ok && a.fn == "relu" {
			st.relu = true
			absorbed[r] = true
			return r
		}
	}
	return last
}

// Steps is the number of steps the plan runs, for tests and reports.
func (p *Plan) Steps() int { return len(p.steps) }

// get returns an activation buffer of n floats from the plan's free
// lists, which keep as many buffers of each size as were ever in use at
// once (unlike a sync.Pool they survive collections: steady serving
// allocates nothing).
func (p *Plan) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[n]; len(l) > 0 {
		p.free[n] = l[:len(l)-1]
		return l[len(l)-1]
	}
	return p.mem.Floats(n)
}

func (p *Plan) put(b []float32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[int][][]float32{}
	}
	p.free[len(b)] = append(p.free[len(b)], b)
}

// StepTime is how long one plan step took in Profile.
type StepTime struct {
	Layer string // the layer the step starts from (a convolution absorbs the layers after it)
	What  string // e.g. "conv 3x3/1 ->64 winograd F(4x4) +relu"
	Time  time.Duration
	FLOPs int64 // of the direct computation (Winograd's saving shows as speed); 0 if not counted
}

// Profile runs the plan once on a batch, timing each step.
func (p *Plan) Profile(inputs ...*tensor.Tensor) ([]StepTime, error) {
	times := make([]StepTime, 0, len(p.steps))
	_, err := p.predict(inputs, func(st *pstep, x, out *tensor.Tensor, inPlace bool, d time.Duration) {
		what := st.describe(x.Shape[0])
		if inPlace {
			what += " (in place)"
		}
		times = append(times, StepTime{Layer: st.layer.name, What: what, Time: d, FLOPs: st.flops(x, out)})
	})
	return times, err
}

// flops counts the multiply-adds of a convolution or dense step on input x
// giving out, twice.
func (st *pstep) flops(x, out *tensor.Tensor) int64 {
	if out == nil {
		return 0
	}
	k := int64(x.Shape[len(x.Shape)-1])
	switch {
	case st.pair != nil:
		k = int64(st.packed[0].K) // both convolutions' inputs
	case st.conv != nil:
		k = k / int64(st.conv.groups) * int64(st.conv.kernel*st.conv.kernel)
	case st.dense == nil:
		return 0
	}
	return 2 * int64(len(out.Data)) * k
}

// winogradTile is the tile side of the Winograd form st runs a batch of n
// by, or 0: the matrix products.
func (st *pstep) winogradTile(n int) int {
	if st.large != nil {
		return st.large.tile(n)
	}
	if st.wino != nil {
		return st.wino.Tile()
	}
	return 0
}

// describe says what a step computes for a batch of n, for profiles.
func (st *pstep) describe(n int) string {
	switch {
	case st.conv != nil:
		o := st.conv
		s := fmt.Sprintf("conv %dx%d/%d ->%d", o.kernel, o.kernel, o.strides[0], o.filters)
		if o.groups > 1 {
			s += fmt.Sprintf(" %d groups", o.groups)
			if kernels.DirectGroups(st.packed) {
				s += " direct"
			}
		}
		if t := st.winogradTile(n); t > 0 {
			s += fmt.Sprintf(" winograd F(%dx%d)", t, t)
		}
		if st.pair != nil {
			s += fmt.Sprintf(" +conv 1x1/%d", st.pair.strides[0])
		}
		if st.residual >= 0 {
			s += " +add"
		}
		if st.relu {
			s += " +relu"
		}
		return s
	case st.norm != nil && st.relu:
		return "batchnorm +relu"
	case st.norm != nil:
		return "batchnorm"
	case st.pool != nil:
		return "pool"
	case st.dense != nil:
		return fmt.Sprintf("dense ->%d %s", st.dense.units, st.dense.activation)
	}
	return st.layer.class
}

// Predict runs the plan on a batch, like Model.Predict.
func (p *Plan) Predict(inputs ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	return p.predict(inputs, nil)
}

func (p *Plan) predict(inputs []*tensor.Tensor, timed func(st *pstep, x, out *tensor.Tensor, inPlace bool, d time.Duration)) ([]*tensor.Tensor, error) {
	m := p.m
	if len(inputs) != len(m.inputs) {
		return nil, fmt.Errorf("model %q: %d inputs given, the model has %d", m.name, len(inputs), len(m.inputs))
	}
	ps := p.pass()
	defer p.donePass(ps)
	vals, pooled, scratch, uses := ps.vals, ps.pooled, ps.scratch, ps.uses
	batch := -1
	for i, in := range inputs {
		if err := m.checkInput(i, in, &batch); err != nil {
			return nil, err
		}
		vals[p.inputs[i]] = toInternal(in, p.format)
	}
	release := func(v int) {
		if uses[v]--; uses[v] == 0 {
			if pooled[v] {
				p.put(vals[v].Data)
			}
			vals[v] = nil
		}
	}
	for i, st := range p.steps {
		var t0 time.Time
		if timed != nil {
			t0 = time.Now()
		}
		s := &scratch[i]
		// A residual read here for the last time, from a buffer of the
		// pool, may take the output (run says whether it did).
		s.resFree = st.residual >= 0 && uses[st.residual] == 1 && pooled[st.residual]
		out, own, err := p.run(st, vals, s)
		if s.tookRes {
			pooled[st.residual] = false // its buffer is out's now
		}
		if timed != nil {
			timed(st, vals[st.ins[0]], out, s.tookRes, time.Since(t0))
		}
		if err != nil {
			for v := range vals {
				if pooled[v] && vals[v] != nil {
					p.put(vals[v].Data)
				}
			}
			return nil, fmt.Errorf("model %q: layer %q (%s): %w", m.name, st.layer.name, st.layer.class, err)
		}
		vals[st.out], pooled[st.out] = out, own
		for _, v := range st.reads {
			release(v)
		}
	}
	outs := make([]*tensor.Tensor, len(p.outputs))
	for i, v := range p.outputs {
		t := vals[v]
		if pooled[v] { // hand the caller its own copy; the buffer goes back
			t = t.Clone()
			release(v)
		} else { // a header of its own: the step's may be in the pass's scratch, used again
			t = &tensor.Tensor{Shape: append([]int(nil), t.Shape...), Data: t.Data}
		}
		outs[i] = fromInternal(t, p.format)
	}
	return outs, nil
}

// stepScratch holds what a step of one pass needs beside its buffer: all
// of a pass's in one allocation rather than three small ones a step.
type stepScratch struct {
	out   tensor.Tensor
	shape [4]int
	ep    kernels.Epilogue
	// resFree says the step may write its output over its residual's
	// buffer (the residual's last use); tookRes that it did.
	resFree, tookRes bool
}

// tensor returns s.out shaped n x h x w x c on data.
func (s *stepScratch) tensor(data []float32, n, h, w, c int) *tensor.Tensor {
	s.shape = [4]int{n, h, w, c}
	s.out = tensor.Tensor{Shape: s.shape[:], Data: data}
	return &s.out
}

// runPair runs a step of two convolutions whose outputs are summed: the
// first (kp) reads x1, the second x2.
func runPair(st *pstep, kp kernels.Conv2DParams, x1 []float32, x2 *tensor.Tensor, out []float32, ep *kernels.Epilogue) error {
	o := st.pair
	kp2 := kernels.Conv2DParams{N: x2.Shape[0], H: x2.Shape[1], W: x2.Shape[2], C: x2.Shape[3], KH: 1, KW: 1, F: o.filters,
		SH: o.strides[0], SW: o.strides[1], DH: 1, DW: 1, Groups: 1}
	kp2.OH = outLen(kp2.H, 1, kp2.SH, 1, o.padding)
	kp2.OW = outLen(kp2.W, 1, kp2.SW, 1, o.padding)
	if kp2.N != kp.N || kp2.OH != kp.OH || kp2.OW != kp.OW {
		return fmt.Errorf("Add of outputs %v and %v", []int{kp.N, kp.OH, kp.OW, kp.F}, []int{kp2.N, kp2.OH, kp2.OW, kp2.F})
	}
	kernels.ConvPairForward(kp, x1, kp2, x2.Data, st.packed[0], out, ep)
	return nil
}

// run executes one step; own says the output came from the buffer pool.
func (p *Plan) run(st *pstep, vals []*tensor.Tensor, s *stepScratch) (*tensor.Tensor, bool, error) {
	x := vals[st.ins[0]]
	switch {
	case st.conv != nil:
		o := st.conv
		n := x.Shape[0]
		kp, ok := st.convParams(n, x.Shape[1], x.Shape[2], x.Shape[3])
		if !ok {
			return nil, false, fmt.Errorf("input %v is too small", x.Shape)
		}
		size := n * kp.OH * kp.OW * o.filters
		var res []float32
		if st.residual >= 0 {
			res = vals[st.residual].Data
		}
		// The output goes onto the residual where that is free, else into
		// a buffer of its own.
		data := res
		if s.tookRes = s.resFree && st.pair == nil && len(res) == size; !s.tookRes {
			data = p.get(size)
		}
		out := s.tensor(data, n, kp.OH, kp.OW, o.filters)
		s.ep = kernels.Epilogue{Bias: st.bias, Res: res, LdRes: o.filters, Relu: st.relu}
		ep := &s.ep
		if st.pair != nil {
			if err := runPair(st, kp, x.Data, vals[st.ins[1]], out.Data, ep); err != nil {
				p.put(out.Data)
				return nil, false, err
			}
			return out, true, nil
		}
		switch wk := p.winogradFor(st, n, kp); {
		case wk != nil: // reading each residual value where it then writes the output
			kernels.WinogradConv(kp, x.Data, wk, out.Data, ep)
		case s.tookRes: // the products add onto the residual from their first sums on
			ep.Res = nil
			kernels.ConvAccumulatePacked(kp, x.Data, st.packed, out.Data, ep)
		default:
			kernels.ConvForwardPacked(kp, x.Data, st.packed, out.Data, ep)
		}
		return out, true, nil
	case st.dense != nil:
		o := st.dense
		k := x.Shape[len(x.Shape)-1]
		rows := len(x.Data) / k
		s.shape = [4]int{}
		shape := append(append(s.shape[:0], x.Shape[:len(x.Shape)-1]...), o.units)
		s.out = tensor.Tensor{Shape: shape, Data: p.get(rows * o.units)}
		out := &s.out
		s.ep = kernels.Epilogue{Bias: st.bias}
		kernels.GemmPackedEpilogue(rows, kernels.Mat{Data: x.Data, Stride: k}, st.packed[0], out.Data, o.units, &s.ep)
		activate(o.activation, out.Shape, out.Data)
		return out, true, nil
	case st.pool != nil:
		o := st.pool
		n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		kp := kernels.PoolParams{N: n, H: h, W: w, C: c, KH: o.size, KW: o.size, SH: o.strides[0], SW: o.strides[1],
			PadT: st.pads[0], PadL: st.pads[2]}
		ph, pw := h+st.pads[0]+st.pads[1], w+st.pads[2]+st.pads[3]
		kp.OH, kp.OW = outLen(ph, o.size, kp.SH, 1, o.padding), outLen(pw, o.size, kp.SW, 1, o.padding)
		if kp.OH < 1 || kp.OW < 1 {
			return nil, false, fmt.Errorf("input %v is too small", x.Shape)
		}
		if o.padding == "same" {
			kp.PadT += samePad(ph, kp.OH, o.size, kp.SH, 1)
			kp.PadL += samePad(pw, kp.OW, o.size, kp.SW, 1)
		}
		out := s.tensor(p.get(n*kp.OH*kp.OW*c), n, kp.OH, kp.OW, c)
		if o.max {
			kernels.MaxPool(kp, x.Data, out.Data)
		} else {
			kernels.AvgPool(kp, x.Data, out.Data)
		}
		return out, true, nil
	}
	if st.norm != nil {
		copy(s.shape[:], x.Shape)
		s.out = tensor.Tensor{Shape: s.shape[:len(x.Shape)], Data: p.get(len(x.Data))}
		if c := len(st.scale); st.relu {
			kernels.AffineRelu(x.Data, s.out.Data, c, st.scale, st.bias)
		} else {
			kernels.Affine(x.Data, s.out.Data, c, st.scale, st.bias)
		}
		return &s.out, true, nil
	}
	if st.gpool != nil {
		n, c := x.Shape[0], x.Shape[3]
		s.shape = [4]int{n, c}
		s.out = tensor.Tensor{Shape: s.shape[:2], Data: p.get(n * c)}
		st.gpool.poolInto(x, s.out.Data)
		return &s.out, true, nil
	}
	if f, ok := st.layer.op.(filler); ok { // padding, a shortcut: into the pool, no garbage
		sh := f.outShape(x)
		out := s.tensor(p.get(sh[0]*sh[1]*sh[2]*sh[3]), sh[0], sh[1], sh[2], sh[3])
		f.fill(x, out)
		return out, true, nil
	}
	ins := make([]*tensor.Tensor, len(st.ins))
	for i, v := range st.ins {
		ins[i] = vals[v]
	}
	out, err := st.layer.op.forward(ins, st.layer.values(), p.format, nil)
	return out, false, err
}

package nn

import (
	"sync"
	"unsafe"

	"github.com/resnet-go/resnet/tensor"
)

// arena hands out the buffers of one training step (activations, caches,
// gradients) and takes them all back when the next step begins, so that
// steady training allocates nothing: fresh buffers every step cost page
// faults and zeroing, and let the garbage collector grow the heap to twice
// what a step holds. A nil arena allocates.
type arena struct {
	mu   sync.Mutex
	free map[int][][]float32    // by length
	used map[*float32][]float32 // handed out, by first element
	// The step's small objects, handed out again by the next step: tensor
	// headers, BatchNorm caches, and lists of tensors (layers' inputs,
	// backward passes' results).
	heads  pile[tensor.Tensor]
	caches pile[bnCache]
	lists  []*tensor.Tensor // lists are cut from here, n used
	nlists int
	tape   Tape      // the step's Tape
	m      *stepMaps // the step's maps
}

// stepMaps are the maps a training step fills: with an arena the same
// ones every step, cleared, so that their storage is kept.
type stepMaps struct {
	// ForwardTrain's, kept in the Tape
	vals        map[*Layer]*tensor.Tensor
	caches      map[*Layer]any
	bnOf, padOf map[*Layer]*Layer
	folded      map[*Layer]bool
	// ForwardTrain's own
	readers map[*Layer]int
	reluOf  map[*Layer]*Layer
	ends    map[*Layer]residualEnd
	applied map[*Layer]bool
	// Backward's
	grads, masks map[*Layer]*tensor.Tensor
	fromLogits   map[*Layer]bool
	reads        map[*float32]int
	keep         map[*float32]bool
}

// maps returns the arena's step maps, or without an arena fresh ones.
func (a *arena) maps() *stepMaps {
	if a == nil {
		return new(stepMaps)
	}
	if a.m == nil {
		a.m = new(stepMaps)
	}
	return a.m
}

// cleared returns *m emptied, made if nil.
func cleared[K comparable, V any](m *map[K]V) map[K]V {
	if *m == nil {
		*m = make(map[K]V)
	}
	clear(*m)
	return *m
}

// newTape returns the step's tape for m: with an arena, the one the
// previous step used.
func (a *arena) newTape(m *Model) *Tape {
	if a == nil {
		return &Tape{m: m}
	}
	a.tape = Tape{m: m, al: a}
	return &a.tape
}

// pile hands out *T values and, after reset, the same ones again.
type pile[T any] struct {
	items []*T
	n     int
}

// get returns a *T as its last user left it.
func (p *pile[T]) get() *T {
	if p.n == len(p.items) {
		p.items = append(p.items, new(T))
	}
	t := p.items[p.n]
	p.n++
	return t
}

// floats returns n zeroed floats.
func (a *arena) floats(n int) []float32 { return a.take(n, true) }

// take returns n floats, zeroed if zero is set (else what a previous user
// left: for buffers the caller overwrites whole).
func (a *arena) take(n int, zero bool) []float32 {
	if a == nil {
		return make([]float32, n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var b []float32
	if l := a.free[n]; len(l) > 0 {
		b = l[len(l)-1]
		a.free[n] = l[:len(l)-1]
		if zero {
			clear(b)
		}
	} else {
		b = make([]float32, n)
	}
	if a.used == nil {
		a.used = map[*float32][]float32{}
	}
	if n > 0 {
		a.used[&b[0]] = b
	}
	return b
}

// float64s returns n zeroed float64s: 2n floats of the arena seen as
// float64s (Go aligns any allocation of 8 bytes or more to 8 bytes).
func (a *arena) float64s(n int) []float64 {
	if a == nil || n == 0 {
		return make([]float64, n)
	}
	b := a.take(2*n, true)
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), n)
}

// release takes back a buffer before the step ends, if it came from the
// arena; the caller knows nothing else reads it.
func (a *arena) release(b []float32) {
	if a == nil || len(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if full, ok := a.used[&b[0]]; ok && len(full) == len(b) {
		delete(a.used, &b[0])
		a.free[len(b)] = append(a.free[len(b)], full)
	}
}

// New returns a zeroed tensor of the shape.
func (a *arena) New(shape ...int) *tensor.Tensor { return a.tensor(shape, true) }

// NewUninit returns a tensor of the shape for the caller to overwrite
// whole: its values are undefined (zero without an arena).
func (a *arena) NewUninit(shape ...int) *tensor.Tensor { return a.tensor(shape, false) }

func (a *arena) tensor(shape []int, zero bool) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return a.header(shape, a.take(n, zero))
}

// header returns a tensor of the shape (copied) over data, which it does
// not take from the arena: a view, or the arena's buffer.
func (a *arena) header(shape []int, data []float32) *tensor.Tensor {
	if a == nil {
		return &tensor.Tensor{Shape: append([]int(nil), shape...), Data: data}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.heads.get()
	t.Shape, t.Data = append(t.Shape[:0], shape...), data
	return t
}

// list returns a list of ts, valid until the step ends.
func (a *arena) list(ts ...*tensor.Tensor) []*tensor.Tensor {
	l := a.slots(len(ts))
	copy(l, ts)
	return l
}

// slots returns a list of n nil tensors, valid until the step ends.
func (a *arena) slots(n int) []*tensor.Tensor {
	if a == nil {
		return make([]*tensor.Tensor, n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nlists+n > len(a.lists) {
		// A fresh slab; lists cut from the old one stay valid. The slab
		// doubles until one holds a whole step.
		a.lists = make([]*tensor.Tensor, max(2*len(a.lists), 64, n))
		a.nlists = 0
	}
	l := a.lists[a.nlists : a.nlists+n : a.nlists+n]
	a.nlists += n
	clear(l)
	return l
}

// bnCache returns a zeroed BatchNorm cache.
func (a *arena) bnCache() *bnCache {
	if a == nil {
		return new(bnCache)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.caches.get()
	*c = bnCache{}
	return c
}

// Clone returns a copy of t.
func (a *arena) Clone(t *tensor.Tensor) *tensor.Tensor {
	c := a.NewUninit(t.Shape...)
	copy(c.Data, t.Data)
	return c
}

// reset takes back every buffer handed out.
func (a *arena) reset() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.free == nil {
		a.free = map[int][][]float32{}
	}
	for _, b := range a.used {
		a.free[len(b)] = append(a.free[len(b)], b)
	}
	clear(a.used)
	a.heads.n, a.caches.n = 0, 0
	clear(a.lists[:a.nlists])
	a.nlists = 0
}

// ReuseBuffers makes each ForwardTrain reuse the buffers of the step
// before, so that steady training allocates nothing: the Tape, the outputs
// of ForwardTrain and the gradients of a step are then valid only until
// the next ForwardTrain. The train package's Trainer turns it on.
func (m *Model) ReuseBuffers(on bool) {
	switch {
	case !on:
		m.arena = nil
	case m.arena == nil:
		m.arena = &arena{}
	}
}

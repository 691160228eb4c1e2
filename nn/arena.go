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
	return &tensor.Tensor{Shape: append([]int(nil), shape...), Data: a.take(n, zero)}
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

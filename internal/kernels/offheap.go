package kernels

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// OffHeap hands out float32 slices outside the Go heap, for memory that
// lives exactly as long as its owner: a compiled plan's weights and
// activation buffers. The collector lets the heap grow to twice what is
// live before it collects (GOGC=100), so 100 MB of weights on the heap let
// a serving process's garbage grow to 100 MB more; outside the heap they
// do not count. On Linux the memory is mapped and advised into 2 MB pages
// (the weights are streamed once per image; small pages cost a TLB miss
// every 4 KB); elsewhere, or when mapping fails, it comes from the heap.
type OffHeap struct {
	mu    sync.Mutex
	maps  [][]byte
	bytes int
}

// Floats returns n zeroed floats that stay valid until Free.
func (h *OffHeap) Floats(n int) []float32 {
	if n == 0 {
		return nil
	}
	b := mapBytes(4 * n)
	if b == nil {
		return make([]float32, n)
	}
	h.mu.Lock()
	h.maps = append(h.maps, b)
	h.bytes += len(b)
	h.mu.Unlock()
	mapped.Add(int64(len(b)))
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

// Copy returns an off-heap copy of s.
func (h *OffHeap) Copy(s []float32) []float32 {
	d := h.Floats(len(s))
	copy(d, s)
	return d
}

// Free returns the memory of every slice Floats gave. None of them may be
// used afterwards: their memory is gone, and reading it faults.
func (h *OffHeap) Free() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.maps {
		unmapBytes(b)
		mapped.Add(-int64(len(b)))
	}
	h.maps, h.bytes = nil, 0
}

// mapped counts the bytes every OffHeap holds outside the heap.
var mapped atomic.Int64

// OffHeapBytes is the memory all OffHeaps hold outside the Go heap: what
// a process's plans keep there.
func OffHeapBytes() int64 { return mapped.Load() }

// Bytes is the memory h holds.
func (h *OffHeap) Bytes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes
}

// CopyTo returns pb with its data copied into h.
func (pb *PackedB) CopyTo(h *OffHeap) *PackedB {
	c := *pb
	c.data = h.Copy(pb.data)
	return &c
}

// CopyTo returns wk with its transformed kernels copied into h.
func (wk *WinogradKernel) CopyTo(h *OffHeap) *WinogradKernel {
	c := *wk
	c.u = make([]*PackedB, len(wk.u))
	for i, u := range wk.u {
		c.u[i] = u.CopyTo(h)
	}
	return &c
}

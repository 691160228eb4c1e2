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
//
// Small slices are carved out of 4 MB slabs: a process may hold many plans,
// and Linux allows a process some 65,000 mappings.
type OffHeap struct {
	mu    sync.Mutex
	maps  [][]byte
	bytes int
	slab  []byte // the slab small slices come from, used up to used
	used  int
}

// slabBytes is the size of the mappings small slices share.
const slabBytes = 4 << 20

// Floats returns n zeroed floats that stay valid until Free, 64-byte
// aligned.
func (h *OffHeap) Floats(n int) []float32 {
	if n == 0 {
		return nil
	}
	size := (4*n + 63) &^ 63
	h.mu.Lock()
	defer h.mu.Unlock()
	var b []byte
	if size > slabBytes/4 {
		b = h.mapLocked(size)
	} else {
		if h.used+size > len(h.slab) {
			h.slab, h.used = h.mapLocked(slabBytes), 0
		}
		if h.slab != nil {
			b, h.used = h.slab[h.used:h.used+size], h.used+size
		}
	}
	if b == nil {
		return make([]float32, n)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

// mapLocked maps n bytes and records them, or returns nil.
func (h *OffHeap) mapLocked(n int) []byte {
	b := mapBytes(n)
	if b != nil {
		h.maps = append(h.maps, b)
		h.bytes += len(b)
		mapped.Add(int64(len(b)))
	}
	return b
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
	h.maps, h.bytes, h.slab, h.used = nil, 0, nil, 0
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

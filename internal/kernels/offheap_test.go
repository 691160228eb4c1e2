package kernels

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

func TestOffHeap(t *testing.T) {
	var h OffHeap
	for _, n := range []int{1, 1000, 3 << 20} { // one page, several, past a huge page
		s := h.Floats(n)
		if len(s) != n {
			t.Fatalf("Floats(%d) has %d floats", n, len(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("Floats(%d)[%d] = %v, want 0", n, i, v)
			}
		}
		s[0], s[n-1] = 1, 2
	}
	src := []float32{1, 2, 3}
	c := h.Copy(src)
	src[0] = 9
	if c[0] != 1 || c[2] != 3 {
		t.Errorf("Copy = %v, want [1 2 3] and no sharing", c)
	}
	if runtime.GOOS == "linux" && h.Bytes() < 4*(1+1000+3<<20+3) {
		t.Errorf("Bytes = %d, want at least the floats handed out", h.Bytes())
	}
	for _, n := range []int{1, 3, 100, 5000} { // small slices: 64-byte aligned, from shared slabs
		for range 200 {
			if p := uintptr(unsafe.Pointer(&h.Floats(n)[0])); p%64 != 0 {
				t.Fatalf("Floats(%d) at %#x, not 64-byte aligned", n, p)
			}
		}
	}
	if runtime.GOOS == "linux" && len(h.maps) > 6 {
		t.Errorf("%d mappings for the slices above, want a few slabs", len(h.maps))
	}
	h.Free()
	if h.Bytes() != 0 {
		t.Errorf("Bytes after Free = %d, want 0", h.Bytes())
	}
	if h.Floats(0) != nil {
		t.Error("Floats(0) is not nil")
	}
}

// A packed matrix moved off the heap multiplies as it did on it.
func TestPackedCopyTo(t *testing.T) {
	const m, k, n = 13, 300, 40
	r := rand.New(rand.NewPCG(1, 2))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	pb := PackB(Mat{Data: b, Stride: n}, k, n)
	var h OffHeap
	defer h.Free()
	moved := pb.CopyTo(&h)
	want, got := make([]float32, m*n), make([]float32, m*n)
	GemmPacked(m, Mat{Data: a, Stride: k}, pb, want, n, false)
	GemmPacked(m, Mat{Data: a, Stride: k}, moved, got, n, false)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("C[%d] = %v off the heap, %v on it", i, got[i], want[i])
		}
	}
}

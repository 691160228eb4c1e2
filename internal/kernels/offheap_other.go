//go:build !linux

package kernels

// mapBytes maps nothing here: OffHeap's slices come from the heap.
func mapBytes(int) []byte { return nil }

func unmapBytes([]byte) {}

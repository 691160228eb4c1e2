package kernels

import (
	"golang.org/x/sys/unix"
)

// hugePage is the size Linux maps transparent huge pages in.
const hugePage = 2 << 20

// mapBytes maps n zeroed bytes of anonymous memory, or returns nil.
func mapBytes(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	if n >= hugePage {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice: small pages still work
	}
	return b
}

func unmapBytes(b []byte) { _ = unix.Munmap(b) }

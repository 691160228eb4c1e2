// Package kernels holds the loops models spend their time in: convolution,
// pooling, matrix products, element-wise passes, and the parallel-for that
// spreads them over the cores. Nothing here knows about layers or files.
package kernels

import (
	"runtime"
	"sync"
)

// Workers is the number of goroutines the kernels spread work over.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor calls fn on contiguous chunks [lo, hi) covering [0, n), on up
// to GOMAXPROCS goroutines. Chunks are at least grain items so that small
// loops stay on one goroutine.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if max := (n + grain - 1) / grain; workers > max {
		workers = max
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	// More chunks than workers balances uneven rows (image borders).
	chunks := workers * 4
	if chunks > n {
		chunks = n
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				fn(c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}

// Package kernels holds the loops models spend their time in: convolution,
// pooling, matrix products, element-wise passes, and the parallel-for that
// spreads them over the cores. Nothing here knows about layers or files.
package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// InstructionSet names the kernels in use: "avx512", "avx2" (with FMA) or
// "go" (the portable loops). On amd64 it follows the CPU, and
// GODEBUG=cpu.avx512f=off or cpu.avx2=off turns a set off.
func InstructionSet() string {
	switch {
	case useAVX512:
		return "avx512"
	case useAVX2:
		return "avx2"
	}
	return "go"
}

// Workers is the number of goroutines the kernels spread work over.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor calls fn on contiguous chunks [lo, hi) covering [0, n), on up
// to GOMAXPROCS goroutines, the caller's among them. Chunks are at least
// grain items so that small loops stay on one goroutine.
//
// A network runs hundreds of parallel loops a second, each a fraction of a
// millisecond: waking a parked goroutine for each would cost a good part
// of it. So the helpers are kept: after a loop they spin for a while,
// watching for the next one, before they park.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers := min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
	if workers <= 1 {
		fn(0, n)
		return
	}
	// More chunks than workers balances uneven rows (image borders).
	j := &job{fn: fn, n: n, chunks: max(workers, min(4*workers, n/grain))}
	if !helpers.mu.TryLock() {
		j.spawn(workers) // another loop holds the helpers: plain goroutines
		return
	}
	defer helpers.mu.Unlock()
	helpers.start(j, workers-1)
	j.work()
	for spins := 0; j.done.Load() < int64(j.chunks); spins++ {
		if spins > 1000 {
			runtime.Gosched()
		}
	}
}

// job is one parallel loop: whoever claims chunk c runs it.
type job struct {
	fn        func(lo, hi int)
	n, chunks int
	next      atomic.Int64 // the next unclaimed chunk
	done      atomic.Int64 // chunks finished
}

// work runs chunks until none is left unclaimed.
func (j *job) work() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		j.fn(c*j.n/j.chunks, (c+1)*j.n/j.chunks)
		j.done.Add(1)
	}
}

// spawn runs the job on fresh goroutines and waits for them.
func (j *job) spawn(workers int) {
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() { defer wg.Done(); j.work() }()
	}
	j.work()
	wg.Wait()
}

// spinFor is how long an idle helper watches for the next loop before it
// parks: longer than the serial stretches between a network's layers.
const spinFor = 200 * time.Microsecond

// helpers are the goroutines that join ParallelFor's loops.
var helpers helperPool

// helperPool's mu is held by the loop using the helpers.
type helperPool struct {
	mu   sync.Mutex
	list []*helper
}

type helper struct {
	cur    atomic.Pointer[job] // the loop to join; a new pointer is new work
	parked atomic.Bool
	wake   chan struct{}
}

// start hands j to the first k helpers, starting any that do not exist.
func (p *helperPool) start(j *job, k int) {
	for len(p.list) < k {
		h := &helper{wake: make(chan struct{}, 1)}
		p.list = append(p.list, h)
		go h.run()
	}
	for _, h := range p.list[:k] {
		h.cur.Store(j)
		if h.parked.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
}

// run joins each loop handed to h, spinning between loops for spinFor,
// then parking until the next.
func (h *helper) run() {
	var last *job
	for {
		deadline := time.Now().Add(spinFor)
		for spins := 0; h.cur.Load() == last; spins++ {
			if spins%256 == 255 && time.Now().After(deadline) {
				h.parked.Store(true)
				if h.cur.Load() != last && h.parked.CompareAndSwap(true, false) {
					break // work came in while parking
				}
				<-h.wake // unparked by start (or its send is on the way)
				if !h.parked.Load() {
					break
				}
			}
		}
		last = h.cur.Load()
		last.work()
	}
}

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
//
// fn escapes to the heap (the helpers call it), so a closure costs an
// allocation a call; loops on hot paths run through Tasks instead.
func ParallelFor(n, grain int, fn func(lo, hi int)) { parallelFor(n, grain, funcBody(fn)) }

// Body is a parallel loop's work: Run does items [lo, hi).
type Body interface{ Run(lo, hi int) }

type funcBody func(lo, hi int)

func (f funcBody) Run(lo, hi int) { f(lo, hi) }

// Tasks runs parallel loops whose state is a T, kept in a pool between
// calls, rather than a closure: a steady stream of loops (a training step
// runs hundreds) then allocates nothing. Declare one Tasks per kind of loop
// as a package variable.
type Tasks[T any, P interface {
	*T
	Body
}] struct{ pool sync.Pool }

// Run runs t's loop over [0, n) as ParallelFor does; t is copied into the
// pool's value, which is cleared afterwards so that it holds no slices.
func (ts *Tasks[T, P]) Run(n, grain int, t T) {
	p, _ := ts.pool.Get().(P)
	if p == nil {
		p = new(T)
	}
	*p = t
	parallelFor(n, grain, p)
	var zero T
	*p = zero
	ts.pool.Put(p)
}

func parallelFor(n, grain int, b Body) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers := min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
	if workers <= 1 {
		b.Run(0, n)
		return
	}
	// More chunks than workers balances uneven rows (image borders).
	chunks := min(max(workers, min(4*workers, n/grain)), maxChunks)
	if !helpers.mu.TryLock() {
		// Another loop holds the helpers: plain goroutines.
		j := new(job)
		j.begin(b, n, chunks)
		j.spawn(workers)
		return
	}
	defer helpers.mu.Unlock()
	g, j := helpers.nextJob()
	j.begin(b, n, chunks)
	helpers.start(g, j, workers-1)
	j.work()
	for spins := 0; j.done.Load() < int64(chunks); spins++ {
		if spins > 1000 {
			runtime.Gosched()
		}
	}
}

// maxChunks bounds a loop's chunks to what job.state's field holds, with
// room for the claims that find none left (one a worker).
const maxChunks = 1 << 15

// job is one parallel loop at a time: whoever claims chunk c runs it.
type job struct {
	body Body
	n    int
	// state is the loop's chunks (high 16 bits) and the next unclaimed
	// chunk (low 16): one word, so that a claim reads the chunks of the
	// loop it claims from.
	state atomic.Uint32
	done  atomic.Int64 // chunks finished
	_     [88]byte     // a job to itself in a pair of cache lines (128 bytes)
}

// begin sets j up for a new loop. j's last loop must have finished (all
// its chunks done).
func (j *job) begin(b Body, n, chunks int) {
	j.body, j.n = b, n
	j.done.Store(0)
	j.state.Store(uint32(chunks) << 16)
}

// work runs chunks of the job's loop until none is left unclaimed. A
// helper that comes to it late (the loop it was called for is over, and
// the job taken by the next) may claim a chunk of the next loop: it then
// runs that chunk, which is as good as any other worker running it.
func (j *job) work() {
	for {
		s := j.state.Add(1) - 1
		next, chunks := int(s&0xffff), int(s>>16)
		if next >= chunks {
			return
		}
		j.body.Run(next*j.n/chunks, (next+1)*j.n/chunks)
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
	jobs [jobRing]job
	n    uint32              // loops run: a helper knows a new one by its number
	cur  atomic.Pointer[job] // the loop the helpers join
	list []*helper
}

// jobRing is how many jobs the loops take in turn. A job's memory is
// written by the caller and then by the helpers, and the cores share no
// cache: one job for all loops made the caller of each fetch it back from
// the other core (a loop of two chunks of no work, BenchmarkParallelFor:
// 0.75-0.85 us against 0.55 with a fresh job each loop, 0.56-0.58 with
// 16 in turn, whose lines a layer's data evicts between turns). ResNet-50
// at batch 1, 16 in turn against a fresh job each loop (pass by pass, six
// alternations): 1.0004-1.0093 times as fast, median 1.005.
const jobRing = 16

// nextJob returns the next loop's number and job.
func (p *helperPool) nextJob() (uint32, *job) {
	p.n++
	if p.n == 0 { // a helper's last loop before any is 0
		p.n++
	}
	return p.n, &p.jobs[p.n%jobRing]
}

type helper struct {
	cur    atomic.Uint32 // the number of the loop to join
	parked atomic.Bool
	wake   chan struct{}
}

// start hands loop g, job j, to the first k helpers, starting any that do
// not exist.
func (p *helperPool) start(g uint32, j *job, k int) {
	p.cur.Store(j)
	for len(p.list) < k {
		h := &helper{wake: make(chan struct{}, 1)}
		p.list = append(p.list, h)
		go h.run(p)
	}
	for _, h := range p.list[:k] {
		h.cur.Store(g)
		if h.parked.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
}

// run joins each loop handed to h, spinning between loops for spinFor,
// then parking until the next.
func (h *helper) run(p *helperPool) {
	var last uint32
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
		p.cur.Load().work() // last's job, or a later one: any claim is good
	}
}

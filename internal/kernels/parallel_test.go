package kernels

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/resnet-go/resnet/internal/race"
)

// Every item of every loop runs once, whatever the sizes and grains, and
// loops started from several goroutines at once (which find the helpers
// busy) each finish their own items.
func TestParallelForCoversOnce(t *testing.T) {
	for _, tt := range []struct{ n, grain int }{
		{0, 1}, {1, 1}, {2, 1}, {7, 1}, {8, 3}, {100, 1}, {100, 7}, {1000, 1000}, {1001, 10}, {1 << 16, 1},
	} {
		counts := make([]int32, tt.n)
		ParallelFor(tt.n, tt.grain, func(lo, hi int) {
			if hi-lo < min(tt.grain, tt.n) && hi != tt.n {
				t.Errorf("n=%d grain=%d: chunk [%d, %d) below the grain", tt.n, tt.grain, lo, hi)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&counts[i], 1)
			}
		})
		for i, c := range counts {
			if c != 1 {
				t.Fatalf("n=%d grain=%d: item %d ran %d times", tt.n, tt.grain, i, c)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 200 {
				n := 1 + (g*37+round*11)%300
				counts := make([]int32, n)
				ParallelFor(n, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&counts[i], 1)
					}
				})
				for i, c := range counts {
					if c != 1 {
						t.Errorf("goroutine %d round %d: item %d of %d ran %d times", g, round, i, n, c)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// sumTask adds its items' indices into total.
type sumTask struct{ total *atomic.Int64 }

func (s *sumTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		s.total.Add(int64(i))
	}
}

var sumTasks Tasks[sumTask, *sumTask]

// A loop run through Tasks allocates nothing once its pool holds a value,
// and a helper that comes late to one loop takes no chunk of the next
// (thousands of short loops back to back, each checked whole).
func TestTasksAllocateNothing(t *testing.T) {
	race.SkipAllocs(t)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: no helpers")
	}
	var total atomic.Int64
	run := func(n int) {
		total.Store(0)
		sumTasks.Run(n, 1, sumTask{&total})
		if want := int64(n * (n - 1) / 2); total.Load() != want {
			t.Fatalf("n=%d: sum %d, want %d", n, total.Load(), want)
		}
	}
	for i := range 5000 {
		run(2 + i%9)
	}
	// A collection would empty the pool (and the first loop after it
	// allocate the pool's value again), so none runs meanwhile.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	if a := testing.AllocsPerRun(100, func() { run(8) }); a != 0 {
		t.Errorf("%v allocations a loop, want 0", a)
	}
}

// BenchmarkParallelFor is the cost of a loop of two chunks of next to no
// work: what each of a network's hundreds of loops a pass pays.
func BenchmarkParallelFor(b *testing.B) {
	var total atomic.Int64
	for b.Loop() {
		sumTasks.Run(2, 1, sumTask{&total})
	}
}

func TestJobSize(t *testing.T) {
	if s := unsafe.Sizeof(job{}); s != 128 {
		t.Errorf("job is %d bytes", s)
	}
}

package data

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/resnet-go/resnet/tensor"
)

// Loader cuts a dataset into batches: shuffled by a seed, augmented, and
// assembled ahead of time on goroutines while the model trains. The same
// seed and epoch give the same batches, whatever the goroutines do.
type Loader struct {
	Data     Dataset
	Batch    int
	Shuffle  bool
	Seed     uint64
	Augment  []Augment
	DropLast bool
	// Workers decode and augment examples in parallel (default: GOMAXPROCS).
	Workers int
	// Prefetch is how many batches may wait ready (default 2).
	Prefetch int
}

// Batch is a batch of examples: X is (N, H, W, C).
type Batch struct {
	X       *tensor.Tensor
	Labels  []int
	Indices []int
}

// Batches is the number of batches in an epoch.
func (l *Loader) Batches() int {
	n := l.Data.Len()
	if l.DropLast {
		return n / l.Batch
	}
	return (n + l.Batch - 1) / l.Batch
}

// Order returns the order of the examples in an epoch.
func (l *Loader) Order(epoch int) []int {
	idx := make([]int, l.Data.Len())
	for i := range idx {
		idx[i] = i
	}
	if l.Shuffle {
		r := rand.New(rand.NewPCG(l.Seed, uint64(epoch)+1))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx
}

// Iterator yields the batches of one epoch.
type Iterator struct {
	ch   chan result
	stop chan struct{}
	once sync.Once
}

type result struct {
	b   *Batch
	err error
}

// Epoch starts producing the batches of an epoch.
func (l *Loader) Epoch(epoch int) *Iterator {
	prefetch := l.Prefetch
	if prefetch < 1 {
		prefetch = 2
	}
	it := &Iterator{ch: make(chan result, prefetch), stop: make(chan struct{})}
	order := l.Order(epoch)
	go func() {
		defer close(it.ch)
		for b := 0; b < l.Batches(); b++ {
			idx := order[b*l.Batch : min((b+1)*l.Batch, len(order))]
			batch, err := l.assemble(epoch, idx)
			select {
			case it.ch <- result{batch, err}:
			case <-it.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return it
}

// Next returns the next batch, or nil at the end of the epoch.
func (it *Iterator) Next() (*Batch, error) {
	r, ok := <-it.ch
	if !ok {
		return nil, nil
	}
	return r.b, r.err
}

// Close stops the producer early.
func (it *Iterator) Close() {
	it.once.Do(func() { close(it.stop) })
	for range it.ch {
	}
}

func (l *Loader) assemble(epoch int, idx []int) (*Batch, error) {
	imgs := make([]*tensor.Tensor, len(idx))
	labels := make([]int, len(idx))
	errs := make([]error, len(idx))
	workers := l.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := w; j < len(idx); j += workers {
				img, label, err := l.Data.Example(idx[j])
				if err != nil {
					errs[j] = err
					continue
				}
				// Each example's randomness depends only on the seed, the
				// epoch and the example.
				r := rand.New(rand.NewPCG(l.Seed^0x5DEECE66D, uint64(epoch)<<32|uint64(idx[j])))
				for _, a := range l.Augment {
					if img, err = a(img, r); err != nil {
						break
					}
				}
				if err != nil {
					errs[j] = fmt.Errorf("augment example %d: %w", idx[j], err)
					continue
				}
				imgs[j], labels[j] = img, label
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	shape := imgs[0].Shape
	per := len(imgs[0].Data)
	x := tensor.New(append([]int{len(idx)}, shape...)...)
	for j, img := range imgs {
		if len(img.Data) != per {
			return nil, fmt.Errorf("example %d has shape %v, example %d has %v; resize images to one size", idx[j], img.Shape, idx[0], shape)
		}
		copy(x.Data[j*per:], img.Data)
	}
	return &Batch{X: x, Labels: labels, Indices: idx}, nil
}

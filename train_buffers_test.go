package resnet

import (
	"slices"
	"testing"

	"github.com/resnet-go/resnet/internal/race"
	"github.com/resnet-go/resnet/internal/testgen"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// Reusing a step's buffers (and releasing them during Backward) changes
// nothing: three SGD-like steps give the same losses' gradients, bit for
// bit, with and without ReuseBuffers, on nets with projection, identity and
// option-A shortcuts, Dense + softmax and channels-first data.
func TestReuseBuffersChangesNothing(t *testing.T) {
	for _, tt := range []struct {
		arch string
		opts []Option
		in   []int
	}{
		{"resnet18", []Option{WithFlavor(Torch), InputShape(32, 32, 3), Classes(7)}, []int{4, 32, 32, 3}},
		{"resnet20", []Option{DataFormat(nn.ChannelsFirst)}, []int{3, 3, 32, 32}},
		{"resnet50", []Option{InputShape(32, 32, 3), Classes(5)}, []int{2, 32, 32, 3}},
	} {
		var grads [2][][]float32
		for i, reuse := range []bool{false, true} {
			m := mustBuild(t, tt.arch, tt.opts...)
			m.ReuseBuffers(reuse)
			for step := 0; step < 3; step++ {
				x := tensor.New(tt.in...)
				copy(x.Data, testgen.Uniform(string(rune('a'+step)), len(x.Data)))
				m.ZeroGrads()
				tape, out, err := m.ForwardTrain(x)
				if err != nil {
					t.Fatal(err)
				}
				g := out[0].Clone()
				for j := range g.Data {
					g.Data[j] -= 0.1 * float32(j%3)
				}
				if err := tape.Backward([]*tensor.Tensor{g}, false); err != nil {
					t.Fatal(err)
				}
				for _, p := range m.Params() { // a plain SGD step
					for j, d := range p.Grad.Data {
						p.Value.Data[j] -= 0.01 * d
					}
					grads[i] = append(grads[i], slices.Clone(p.Grad.Data))
				}
			}
		}
		for j := range grads[0] {
			if !slices.Equal(grads[0][j], grads[1][j]) {
				t.Fatalf("%s: gradient %d differs with reused buffers", tt.arch, j)
			}
		}
	}
}

// With ReuseBuffers, steady training allocates nothing: the activations,
// caches and gradients of a step (tens of megabytes here), the packed
// kernels, the BatchNorm layers' per-channel statistics and the sums'
// partial vectors come back from the arena and the scratch lists; the
// step's maps, tensor headers, input lists and BatchNorm caches are the
// last step's again; the parallel loops' state, the Winograd kernels'
// headers and the residual epilogues come from pools. On 2026-11-28 a
// step left 1,700-2,200 closures, jobs, headers and maps, 140-250 KB (and until
// that day 2 MB of BatchNorm statistics).
func TestTrainingStepAllocations(t *testing.T) {
	race.SkipAllocs(t)
	for _, tt := range []buildCase{
		{"resnet20", nil, []int{16, 32, 32, 3}},
		{"resnet50", []Option{WithFlavor(Torch), InputShape(32, 32, 3)}, []int{2, 32, 32, 3}},
		// Grouped: packed into scratch each step, the headers from a pool
		// (390 objects, 31 KB a step before them).
		{"resnext50_32x4d", []Option{WithFlavor(Torch), InputShape(32, 32, 3)}, []int{2, 32, 32, 3}},
	} {
		m := mustBuild(t, tt.arch, tt.opts...)
		m.ReuseBuffers(true)
		x := tensor.New(tt.in...)
		copy(x.Data, testgen.Uniform("x", len(x.Data)))
		step := func() {
			m.ZeroGrads()
			tape, out, err := m.ForwardTrain(x)
			if err != nil {
				t.Fatal(err)
			}
			if err := tape.Backward([]*tensor.Tensor{out[0]}, false); err != nil {
				t.Fatal(err)
			}
		}
		per, objs := steadyAllocs(2, 3, step)
		t.Logf("%s: %d bytes, %d objects allocated per training step", tt.arch, per, objs)
		if per > 4<<10 {
			t.Errorf("%s: %d bytes allocated per step, want < 4 KB", tt.arch, per)
		}
		if objs > 16 {
			t.Errorf("%s: %d objects allocated per step, want at most 16", tt.arch, objs)
		}
	}
}

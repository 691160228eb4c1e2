package train

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/data"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

// toyData is a small learnable dataset: bright blobs in one of four
// quadrants, labelled by quadrant.
func toyData(n int) *data.Memory {
	m := &data.Memory{H: 8, W: 8, C: 1, Names: []string{"tl", "tr", "bl", "br"}}
	for i := 0; i < n; i++ {
		q := i % 4
		img := make([]byte, 64)
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				img[(y+4*(q/2))*8+x+4*(q%2)] = byte(150 + (i*7+y*3+x)%100)
			}
		}
		m.Pixels = append(m.Pixels, img...)
		m.Labels = append(m.Labels, q)
	}
	return m
}

func toyModel(t *testing.T) *nn.Model {
	t.Helper()
	m, err := resnet.CIFARResNet(8, resnet.InputShape(8, 8, 1), resnet.Classes(4), resnet.WithFlavor(resnet.Torch))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func toyConfig(out string, epochs int) Config {
	return Config{Epochs: epochs, Batch: 16, Optimizer: &SGD{Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true},
		Schedule: Cosine{Base: 0.05, Warmup: 2, Total: 24}, Seed: 7, Augment: []data.Augment{data.PadCrop(1), data.Flip()},
		OutDir: out, Smoothing: 0.1}
}

func TestTrainerLearnsAndLogs(t *testing.T) {
	out := t.TempDir()
	var progress bytes.Buffer
	cfg := toyConfig(out, 3)
	cfg.Progress = &progress
	tr := &Trainer{Model: toyModel(t), Train: toyData(64), Val: toyData(32), Config: cfg}
	hist, err := tr.Fit()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[2].Loss >= hist[0].Loss {
		t.Errorf("history %+v: the loss should fall", hist)
	}
	for _, f := range []string{"last.safetensors", "best.safetensors", "log.csv", "curves.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(out, "log.csv"))
	if lines := strings.Count(string(csv), "\n"); lines != 4 || !strings.HasPrefix(string(csv), "epoch,lr,loss,accuracy") {
		t.Errorf("log.csv:\n%s", csv)
	}
	svg, _ := os.ReadFile(filepath.Join(out, "curves.svg"))
	if !strings.Contains(string(svg), "<polyline") || !strings.HasSuffix(strings.TrimSpace(string(svg)), "</svg>") {
		t.Errorf("curves.svg is not a plot")
	}
	if !strings.Contains(progress.String(), "epoch 3/3") || !strings.Contains(progress.String(), "ETA") {
		t.Errorf("progress: %q", progress.String())
	}
}

// Two epochs straight and one epoch, a resume, and one more give the same
// weights to the last bit.
func TestResumeIsExact(t *testing.T) {
	straight := &Trainer{Model: toyModel(t), Train: toyData(48), Val: toyData(16), Config: toyConfig(t.TempDir(), 2)}
	if _, err := straight.Fit(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	first := &Trainer{Model: toyModel(t), Train: toyData(48), Val: toyData(16), Config: toyConfig(out, 1)}
	if _, err := first.Fit(); err != nil {
		t.Fatal(err)
	}
	cfg := toyConfig(out, 2)
	cfg.Resume = true
	cfg.Optimizer = &SGD{Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true} // fresh, restored from the file
	second := &Trainer{Model: toyModel(t), Train: toyData(48), Val: toyData(16), Config: cfg}
	hist, err := second.Fit()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("resumed history has %d epochs", len(hist))
	}
	for _, w := range straight.Model.Weights() {
		a, _ := straight.Model.Weight(w.FullName())
		b, _ := second.Model.Weight(w.FullName())
		for i := range a.Data {
			if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
				t.Fatalf("%s[%d]: %v straight, %v resumed", w.FullName(), i, a.Data[i], b.Data[i])
			}
		}
	}
	cfg.Seed = 99
	bad := &Trainer{Model: toyModel(t), Train: toyData(48), Config: cfg}
	if _, err := bad.Fit(); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("resuming with another seed: %v", err)
	}
}

func TestDivergenceStops(t *testing.T) {
	cfg := toyConfig("", 1)
	cfg.Schedule = Constant(1e30)
	tr := &Trainer{Model: toyModel(t), Train: toyData(64), Config: cfg}
	_, err := tr.Fit()
	if !errors.Is(err, ErrDiverged) {
		t.Errorf("error %v, want ErrDiverged", err)
	}
}

func TestTrainerErrors(t *testing.T) {
	m := toyModel(t)
	for _, tt := range []struct {
		tr   *Trainer
		want string
	}{
		{&Trainer{Model: m, Train: toyData(8), Config: Config{Epochs: 1}}, "batch size"},
		{&Trainer{Model: m, Train: toyData(8), Config: Config{Batch: 4}}, "epochs"},
		{&Trainer{Model: m, Train: &data.Memory{H: 8, W: 8, C: 1}, Config: Config{Batch: 4, Epochs: 1}}, "empty"},
		{&Trainer{Model: m, Train: &data.Memory{H: 8, W: 8, C: 1, Labels: []int{9}, Pixels: make([]byte, 64), Names: make([]string, 10)},
			Config: Config{Batch: 4, Epochs: 1}}, "10 classes"},
	} {
		if _, err := tt.tr.Fit(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one mentioning %q", err, tt.want)
		}
	}
}

// Fine-tuning: a new head on a backbone, with the backbone frozen, changes
// only the head.
func TestFineTuneHead(t *testing.T) {
	backbone, err := resnet.CIFARResNet(8, resnet.InputShape(8, 8, 1), resnet.IncludeTop(false), resnet.WithFlavor(resnet.Torch))
	if err != nil {
		t.Fatal(err)
	}
	m, err := resnet.WithHead(backbone, 4, "softmax")
	if err != nil {
		t.Fatal(err)
	}
	FreezeAllBut(m, "predictions")
	before := map[string][]float32{}
	for _, w := range m.Weights() {
		v, _ := m.Weight(w.FullName())
		before[w.FullName()] = append([]float32(nil), v.Data...)
	}
	tr := &Trainer{Model: m, Train: toyData(32), Config: Config{Epochs: 1, Batch: 8, Schedule: Constant(0.1)}}
	if _, err := tr.Fit(); err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Weights() {
		v, _ := m.Weight(w.FullName())
		changed := false
		for i := range v.Data {
			changed = changed || v.Data[i] != before[w.FullName()][i]
		}
		if changed != strings.HasPrefix(w.FullName(), "predictions/") {
			t.Errorf("%s changed = %v", w.FullName(), changed)
		}
	}
	if tr, _ := m.ParamCounts(); tr != 64*4+4 {
		t.Errorf("%d trainable values, want the head's %d", tr, 64*4+4)
	}
	FreezeBatchNorm(m)
	for _, l := range m.Layers() {
		if l.Class() == "BatchNormalization" && !l.Frozen() {
			t.Errorf("%s is not frozen", l.Name())
		}
	}
}

func TestCrossEntropy(t *testing.T) {
	z, _ := tensor.FromData([]float32{2, 1, 0.1, -1, 3, 0}, 2, 3)
	labels := []int{0, 1}
	loss, g, err := CrossEntropy(z, labels, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	lse := func(a, b, c float64) float64 { return math.Log(math.Exp(a) + math.Exp(b) + math.Exp(c)) }
	want := ((lse(2, 1, 0.1) - 2) + (lse(-1, 3, 0) - 3)) / 2
	if math.Abs(loss-want) > 1e-9 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	// The same from probabilities, with the chain rule through softmax.
	p := z.Clone()
	for r := 0; r < 2; r++ {
		row := p.Data[r*3 : r*3+3]
		s := lse(float64(row[0]), float64(row[1]), float64(row[2]))
		for i := range row {
			row[i] = float32(math.Exp(float64(row[i]) - s))
		}
	}
	lp, _, _ := CrossEntropy(p, labels, 0, false)
	if math.Abs(lp-loss) > 1e-6 {
		t.Errorf("from probabilities %v, from logits %v", lp, loss)
	}
	// Gradient rows sum to zero (softmax minus a distribution).
	for r := 0; r < 2; r++ {
		if s := g.Data[r*3] + g.Data[r*3+1] + g.Data[r*3+2]; math.Abs(float64(s)) > 1e-7 {
			t.Errorf("row %d of the gradient sums to %v", r, s)
		}
	}
	ls, _, _ := CrossEntropy(z, labels, 0.3, true)
	if ls <= loss {
		t.Errorf("label smoothing should raise the loss of confident predictions: %v <= %v", ls, loss)
	}
	if _, _, err := CrossEntropy(z, []int{0, 3}, 0, true); err == nil || !strings.Contains(err.Error(), "label 3") {
		t.Errorf("label out of range: %v", err)
	}
	big, _ := tensor.FromData([]float32{1000, -1000}, 1, 2)
	if l, _, _ := CrossEntropy(big, []int{1}, 0, true); math.IsInf(l, 0) || math.Abs(l-2000) > 1e-6 {
		t.Errorf("extreme logits: loss %v, want 2000", l)
	}
	if TopK(z, labels, 1) != 2 || TopK(z, []int{2, 2}, 2) != 1 {
		t.Error("top-k counts")
	}
}

func TestOptimizers(t *testing.T) {
	param := func(v, g float32) []nn.Param {
		return []nn.Param{{Name: "w", Kind: "kernel", Value: &tensor.Tensor{Shape: []int{1}, Data: []float32{v}}, Grad: &tensor.Tensor{Shape: []int{1}, Data: []float32{g}}}}
	}
	// PyTorch: v1 = g + wd*w; w1 = w - lr*v1; v2 = m*v1 + g2 + wd*w1.
	p := param(1, 0.5)
	sgd := &SGD{Momentum: 0.9, WeightDecay: 0.1}
	sgd.Step(p, 0.1)
	if w := p[0].Value.Data[0]; math.Abs(float64(w)-(1-0.1*0.6)) > 1e-6 {
		t.Errorf("SGD step 1: %v", w)
	}
	sgd.Step(p, 0.1)
	v2 := 0.9*0.6 + 0.5 + 0.1*0.94
	if w := p[0].Value.Data[0]; math.Abs(float64(w)-(0.94-0.1*v2)) > 1e-6 {
		t.Errorf("SGD step 2: %v", w)
	}
	// Adam's first step moves every weight by lr (sign of the gradient).
	a := NewAdam()
	p = param(1, 0.5)
	a.Step(p, 0.01)
	if w := p[0].Value.Data[0]; math.Abs(float64(w)-0.99) > 1e-6 {
		t.Errorf("Adam step 1: %v", w)
	}
	// AdamW decays the weight directly.
	aw := NewAdam()
	aw.WeightDecay, aw.Decoupled = 0.1, true
	p = param(1, 0)
	aw.Step(p, 0.01)
	if w := p[0].Value.Data[0]; math.Abs(float64(w)-0.999) > 1e-6 {
		t.Errorf("AdamW with zero gradient: %v", w)
	}
	st := a.State()
	b := NewAdam()
	if err := b.SetState(st); err != nil || b.t != 1 {
		t.Errorf("Adam state round trip: %v, t=%v", err, b.t)
	}
}

func TestSchedules(t *testing.T) {
	ms := MultiStep{Base: 0.1, Milestones: []int{32000, 48000}, Gamma: 0.1}
	for step, want := range map[int]float64{0: 0.1, 31999: 0.1, 32000: 0.01, 48000: 0.001, 63999: 0.001} {
		if got := ms.LR(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("multistep(%d) = %v, want %v", step, got, want)
		}
	}
	c := Cosine{Base: 1, Min: 0, Warmup: 10, Total: 110}
	if c.LR(0) != 0.1 || c.LR(9) != 1 || math.Abs(c.LR(60)-0.5) > 1e-12 || c.LR(110) != 0 {
		t.Errorf("cosine: %v %v %v %v", c.LR(0), c.LR(9), c.LR(60), c.LR(110))
	}
	if s := (StepDecay{Base: 1, Every: 10, Gamma: 0.5}); s.LR(25) != 0.25 {
		t.Errorf("step decay %v", s.LR(25))
	}
}

func TestEvaluateMatchesPredict(t *testing.T) {
	m := toyModel(t)
	ds := toyData(20)
	r, err := Evaluate(m, ds, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Examples != 20 || r.Accuracy < 0 || r.Accuracy > 1 || r.Top5 != 1 {
		t.Errorf("result %+v", r)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	weights.Save(path, m, nil)
	back, _, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Evaluate(back, ds, 7, nil)
	if r2 != r {
		t.Errorf("reloaded model evaluates differently: %+v vs %+v", r2, r)
	}
}

func TestMaxSteps(t *testing.T) {
	cfg := toyConfig("", 5)
	cfg.MaxSteps = 6 // 4 steps an epoch: stops inside the second epoch
	tr := &Trainer{Model: toyModel(t), Train: toyData(64), Config: cfg}
	hist, err := tr.Fit()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || tr.step != 6 {
		t.Errorf("%d epochs, %d steps; want 2 and 6", len(hist), tr.step)
	}
}

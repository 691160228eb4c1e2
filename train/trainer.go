package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/resnet-go/resnet/data"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

// Config is what a training run needs besides the model and the data.
type Config struct {
	Epochs int
	// MaxSteps, when positive, ends training after that many steps, in the
	// middle of an epoch if need be (that epoch is still logged and saved).
	MaxSteps  int
	Batch     int
	Optimizer Optimizer
	// Schedule gives the learning rate by step (default: Constant(0.1)).
	Schedule  Schedule
	Smoothing float64
	Seed      uint64
	// Augment is applied to training images only, in order.
	Augment []data.Augment
	// Prepare turns a batch of [0, 255] images into model input, for both
	// training and validation (default: x/255).
	Prepare func(x *tensor.Tensor)
	// OutDir receives last.safetensors, best.safetensors, log.csv and
	// curves.svg; empty writes nothing.
	OutDir string
	// Resume continues from OutDir/last.safetensors when it exists.
	Resume bool
	// Metadata is stored in every checkpoint (preprocessing, labels).
	Metadata map[string]string
	// Progress receives a progress bar (typically os.Stderr); nil is quiet.
	Progress io.Writer
}

// Epoch is one line of the training history.
type Epoch struct {
	Epoch        int     `json:"epoch"`
	LR           float64 `json:"lr"`
	Loss         float64 `json:"loss"`
	Accuracy     float64 `json:"accuracy"`
	Top5         float64 `json:"top5"`
	ValLoss      float64 `json:"val_loss"`
	ValAccuracy  float64 `json:"val_accuracy"`
	ValTop5      float64 `json:"val_top5"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
}

// Trainer trains a model on a dataset, validating on another.
type Trainer struct {
	Model *nn.Model
	Train data.Dataset
	Val   data.Dataset // may be nil
	Config

	History []Epoch
	step    int
	best    float64
}

// ErrDiverged is returned when the loss stops being a finite number.
var ErrDiverged = errors.New("training diverged")

// trainState is the part of the resume state that is not a tensor.
type trainState struct {
	Epoch   int     `json:"epoch"`
	Step    int     `json:"step"`
	Best    float64 `json:"best"`
	Seed    uint64  `json:"seed"`
	History []Epoch `json:"history"`
}

const metaTrain = "resnet-go.train"

func (t *Trainer) defaults() error {
	if t.Batch < 1 {
		return fmt.Errorf("train: batch size %d must be positive", t.Batch)
	}
	if t.Epochs < 1 {
		return fmt.Errorf("train: epochs %d must be positive", t.Epochs)
	}
	if t.Train == nil || t.Train.Len() == 0 {
		return errors.New("train: the training set is empty")
	}
	if t.Optimizer == nil {
		t.Optimizer = &SGD{Momentum: 0.9}
	}
	if t.Schedule == nil {
		t.Schedule = Constant(0.1)
	}
	if t.Prepare == nil {
		t.Prepare = func(x *tensor.Tensor) {
			for i, v := range x.Data {
				x.Data[i] = v / 255
			}
		}
	}
	out := t.Model.Outputs()[0].Shape()
	if len(out) != 1 {
		return fmt.Errorf("train: the model's output %v is not a vector of class scores", out)
	}
	if k := len(t.Train.Classes()); k > out[0] {
		return fmt.Errorf("train: the data has %d classes, the model's output %d", k, out[0])
	}
	return nil
}

// Fit trains for the configured epochs (continuing a resumed run), saving
// checkpoints, the log and the plot after each epoch.
func (t *Trainer) Fit() ([]Epoch, error) {
	if err := t.defaults(); err != nil {
		return nil, err
	}
	t.Model.ReuseBuffers(true) // each step's tensors die with it: reuse them
	defer t.Model.ReuseBuffers(false)
	start := 0
	if t.Resume && t.OutDir != "" {
		e, err := t.resume()
		if err != nil {
			return nil, err
		}
		start = e
	}
	if t.OutDir != "" {
		if err := os.MkdirAll(t.OutDir, 0o755); err != nil {
			return nil, err
		}
	}
	loader := &data.Loader{Data: t.Train, Batch: t.Batch, Shuffle: true, Seed: t.Seed, Augment: t.Augment}
	for epoch := start; epoch < t.Epochs; epoch++ {
		e, err := t.epoch(loader, epoch)
		if err != nil {
			return t.History, err
		}
		t.History = append(t.History, e)
		if err := t.save(epoch + 1); err != nil {
			return t.History, err
		}
		if t.MaxSteps > 0 && t.step >= t.MaxSteps {
			break
		}
	}
	return t.History, nil
}

func (t *Trainer) epoch(loader *data.Loader, epoch int) (Epoch, error) {
	began := time.Now()
	it := loader.Epoch(epoch)
	defer it.Close()
	bar := newProgress(t.Progress, fmt.Sprintf("epoch %d/%d", epoch+1, t.Epochs), loader.Batches())
	var loss float64
	seen, hits, hits5 := 0, 0, 0
	lr := 0.0
	for b := 0; ; b++ {
		batch, err := it.Next()
		if err != nil {
			return Epoch{}, fmt.Errorf("train: epoch %d: %w", epoch+1, err)
		}
		if batch == nil || (t.MaxSteps > 0 && t.step >= t.MaxSteps) {
			break
		}
		t.Prepare(batch.X)
		lr = t.Schedule.LR(t.step)
		l, scores, err := t.trainStep(batch, lr)
		if err != nil {
			return Epoch{}, fmt.Errorf("train: epoch %d, step %d: %w", epoch+1, t.step, err)
		}
		n := len(batch.Labels)
		loss += l * float64(n)
		seen += n
		hits += TopK(scores, batch.Labels, 1)
		hits5 += TopK(scores, batch.Labels, 5)
		t.step++
		bar.update(b+1, fmt.Sprintf("loss %.4f acc %5.2f%% %4.0f img/s", loss/float64(seen),
			100*float64(hits)/float64(seen), float64(seen)/time.Since(began).Seconds()))
	}
	if seen == 0 {
		return Epoch{}, fmt.Errorf("train: epoch %d had no batches", epoch+1)
	}
	secs := time.Since(began).Seconds()
	e := Epoch{Epoch: epoch + 1, LR: lr, Loss: loss / float64(seen), Accuracy: float64(hits) / float64(seen),
		Top5: float64(hits5) / float64(seen), Seconds: secs, ImagesPerSec: float64(seen) / secs}
	if t.Val != nil {
		r, err := Evaluate(t.Model, t.Val, t.Batch, t.Prepare)
		if err != nil {
			return Epoch{}, err
		}
		e.ValLoss, e.ValAccuracy, e.ValTop5 = r.Loss, r.Accuracy, r.Top5
	}
	bar.done(fmt.Sprintf("loss %.4f acc %5.2f%% val_loss %.4f val_acc %5.2f%% %.0fs", e.Loss, 100*e.Accuracy,
		e.ValLoss, 100*e.ValAccuracy, secs))
	return e, nil
}

// trainStep runs forward, loss, backward and the optimizer on one batch.
func (t *Trainer) trainStep(b *data.Batch, lr float64) (float64, *tensor.Tensor, error) {
	m := t.Model
	m.ZeroGrads()
	tape, out, err := m.ForwardTrain(b.X)
	if err != nil {
		return 0, nil, err
	}
	scores, fromLogits := tape.Logits(0)
	if !fromLogits {
		scores = out[0]
	}
	// A model ending in softmax is trained from its logits: the fused loss
	// is stable where log(softmax) is not.
	loss, grad, err := CrossEntropy(scores, b.Labels, t.Smoothing, fromLogits || lastActivation(m) != "softmax")
	if err != nil {
		return 0, nil, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, nil, fmt.Errorf("%w: the loss is %v (try a lower learning rate)", ErrDiverged, loss)
	}
	tape.SkipInputGrads()
	if err := tape.Backward([]*tensor.Tensor{grad}, fromLogits); err != nil {
		return 0, nil, err
	}
	t.Optimizer.Step(m.Params(), lr)
	return loss, scores, nil
}

func lastActivation(m *nn.Model) string {
	ls := m.Layers()
	return ls[len(ls)-1].Activation()
}

// Result is an evaluation's loss and accuracies.
type Result struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	Top5     float64 `json:"top5"`
	Examples int     `json:"examples"`
}

// Evaluate runs the model in inference mode over a dataset.
func Evaluate(m *nn.Model, ds data.Dataset, batch int, prepare func(*tensor.Tensor)) (Result, error) {
	loader := &data.Loader{Data: ds, Batch: batch}
	it := loader.Epoch(0)
	defer it.Close()
	var r Result
	var loss float64
	for {
		b, err := it.Next()
		if err != nil {
			return r, fmt.Errorf("evaluate: %w", err)
		}
		if b == nil {
			break
		}
		if prepare != nil {
			prepare(b.X)
		}
		out, err := m.Predict(b.X)
		if err != nil {
			return r, fmt.Errorf("evaluate: %w", err)
		}
		l, _, err := CrossEntropy(out[0], b.Labels, 0, lastActivation(m) != "softmax")
		if err != nil {
			return r, fmt.Errorf("evaluate: %w", err)
		}
		loss += l * float64(len(b.Labels))
		r.Accuracy += float64(TopK(out[0], b.Labels, 1))
		r.Top5 += float64(TopK(out[0], b.Labels, 5))
		r.Examples += len(b.Labels)
	}
	if r.Examples == 0 {
		return r, errors.New("evaluate: the dataset is empty")
	}
	n := float64(r.Examples)
	r.Loss, r.Accuracy, r.Top5 = loss/n, r.Accuracy/n, r.Top5/n
	return r, nil
}

// save writes last.safetensors (with everything needed to resume), the
// best checkpoint by validation accuracy, the CSV log and the plot.
func (t *Trainer) save(epochsDone int) error {
	if t.OutDir == "" {
		return nil
	}
	last := t.History[len(t.History)-1]
	score := last.ValAccuracy
	if t.Val == nil {
		score = last.Accuracy
	}
	isBest := score >= t.best
	if isBest {
		t.best = score
	}
	st, _ := json.Marshal(trainState{Epoch: epochsDone, Step: t.step, Best: t.best, Seed: t.Seed, History: t.History})
	meta := map[string]string{metaTrain: string(st)}
	for k, v := range t.Metadata {
		meta[k] = v
	}
	if err := weights.SaveWithState(filepath.Join(t.OutDir, "last.safetensors"), t.Model, t.Optimizer.State(), meta); err != nil {
		return err
	}
	if isBest {
		if err := weights.Save(filepath.Join(t.OutDir, "best.safetensors"), t.Model, meta); err != nil {
			return err
		}
	}
	if err := writeCSV(filepath.Join(t.OutDir, "log.csv"), t.History); err != nil {
		return err
	}
	return writeSVG(filepath.Join(t.OutDir, "curves.svg"), t.History)
}

// resume restores weights, optimizer state, step and history from
// OutDir/last.safetensors, returning the epoch to continue from.
func (t *Trainer) resume() (int, error) {
	path := filepath.Join(t.OutDir, "last.safetensors")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	f, err := weights.ReadSafetensors(path)
	if err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	var st trainState
	if err := json.Unmarshal([]byte(f.Metadata[metaTrain]), &st); err != nil {
		return 0, fmt.Errorf("resume %s: no training state: %w", path, err)
	}
	if st.Seed != t.Seed {
		return 0, fmt.Errorf("resume %s: the run used seed %d, this one %d", path, st.Seed, t.Seed)
	}
	if _, err := weights.LoadInto(t.Model, path); err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	if err := t.Optimizer.SetState(f.State()); err != nil {
		return 0, fmt.Errorf("resume %s: %w", path, err)
	}
	t.step, t.best, t.History = st.Step, st.Best, st.History
	return st.Epoch, nil
}

// FreezeBatchNorm freezes every BatchNormalization layer: they keep their
// moving statistics and run in inference mode while the rest trains, the
// usual choice when fine-tuning with small batches.
func FreezeBatchNorm(m *nn.Model) {
	for _, l := range m.Layers() {
		if l.Class() == "BatchNormalization" {
			l.SetFrozen(true)
		}
	}
}

// FreezeAllBut freezes every layer except the named ones (a new head on a
// pretrained backbone).
func FreezeAllBut(m *nn.Model, keep ...string) {
	k := map[string]bool{}
	for _, n := range keep {
		k[n] = true
	}
	for _, l := range m.Layers() {
		l.SetFrozen(!k[l.Name()])
	}
}

package main

import (
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/data"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/train"
	"github.com/resnet-go/resnet/weights"
)

//go:embed fashion/*.gz
var fashion embed.FS

// dataFlags choose the training and test data.
type dataFlags struct {
	folder, testFolder string
	fashionDir         string
	idx                [4]string
	cifarDir           string
	size               string
	grey               bool
	limit              int
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.folder, "data", "", "training images: a folder with one sub-folder per class")
	fs.StringVar(&d.testFolder, "test-data", "", "test images for --data, laid out the same way")
	fs.StringVar(&d.fashionDir, "fashion-mnist", "", "folder with the four Fashion-MNIST (or MNIST) IDX files, e.g. /usr/share/datasets/fashion-mnist")
	fs.StringVar(&d.idx[0], "idx-train-images", "", "IDX file of training images")
	fs.StringVar(&d.idx[1], "idx-train-labels", "", "IDX file of training labels")
	fs.StringVar(&d.idx[2], "idx-test-images", "", "IDX file of test images")
	fs.StringVar(&d.idx[3], "idx-test-labels", "", "IDX file of test labels")
	fs.StringVar(&d.cifarDir, "cifar10", "", "folder with CIFAR-10's binary batches (data_batch_*.bin, test_batch.bin)")
	fs.StringVar(&d.size, "size", "", "image size `H,W` for --data (default: the architecture's)")
	fs.BoolVar(&d.grey, "grey", false, "read --data images as one grey channel")
	fs.IntVar(&d.limit, "limit", 0, "use only the first N training images (0: all)")
}

// load returns the training and test sets; with no data flag, the embedded
// Fashion-MNIST subset.
func (d *dataFlags) load(defaultSize int) (trainSet, testSet data.Dataset, name string, err error) {
	limit := func(ds data.Dataset) data.Dataset {
		if m, ok := ds.(*data.Memory); ok && d.limit > 0 {
			return m.Subset(d.limit)
		}
		return ds
	}
	switch {
	case d.folder != "":
		h, w := defaultSize, defaultSize
		if d.size != "" {
			dims, err := parseDims(d.size)
			if err != nil || len(dims) != 2 || dims[0] < 1 || dims[1] < 1 {
				return nil, nil, "", usageErrorf("--size %q: want H,W", d.size)
			}
			h, w = dims[0], dims[1]
		}
		tr, err := data.ReadFolder(d.folder, h, w, d.grey)
		if err != nil {
			return nil, nil, "", err
		}
		var te data.Dataset
		if d.testFolder != "" {
			if te, err = data.ReadFolder(d.testFolder, h, w, d.grey); err != nil {
				return nil, nil, "", err
			}
		}
		return tr, te, filepath.Base(d.folder), nil
	case d.fashionDir != "":
		dir := d.fashionDir
		d.idx = [4]string{filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"),
			filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")}
		fallthrough
	case d.idx[0] != "":
		for i, p := range d.idx {
			if p == "" {
				return nil, nil, "", usageErrorf("the IDX files come in four: --idx-train-images, --idx-train-labels, --idx-test-images, --idx-test-labels (missing #%d)", i+1)
			}
		}
		tr, err := data.ReadIDX(d.idx[0], d.idx[1], data.FashionMNISTClasses)
		if err != nil {
			return nil, nil, "", err
		}
		te, err := data.ReadIDX(d.idx[2], d.idx[3], data.FashionMNISTClasses)
		if err != nil {
			return nil, nil, "", err
		}
		return limit(tr), te, "fashion-mnist", nil
	case d.cifarDir != "":
		var batches []string
		for i := 1; i <= 5; i++ {
			batches = append(batches, filepath.Join(d.cifarDir, fmt.Sprintf("data_batch_%d.bin", i)))
		}
		tr, err := data.ReadCIFAR(batches, false, data.CIFAR10Classes)
		if err != nil {
			return nil, nil, "", err
		}
		te, err := data.ReadCIFAR([]string{filepath.Join(d.cifarDir, "test_batch.bin")}, false, data.CIFAR10Classes)
		if err != nil {
			return nil, nil, "", err
		}
		return limit(tr), te, "cifar10", nil
	}
	tr, err := data.ReadIDXFS(fashion, "fashion/train-images-idx3-ubyte.gz", "fashion/train-labels-idx1-ubyte.gz", data.FashionMNISTClasses)
	if err != nil {
		return nil, nil, "", err
	}
	te, err := data.ReadIDXFS(fashion, "fashion/t10k-images-idx3-ubyte.gz", "fashion/t10k-labels-idx1-ubyte.gz", data.FashionMNISTClasses)
	if err != nil {
		return nil, nil, "", err
	}
	return limit(tr), te, "fashion-mnist-subset", nil
}

type trainSummary struct {
	Arch          string        `json:"arch"`
	Data          string        `json:"data"`
	Epochs        int           `json:"epochs"`
	TrainExamples int           `json:"train_examples"`
	TestExamples  int           `json:"test_examples"`
	TestAccuracy  float64       `json:"test_accuracy"`
	TestTop5      float64       `json:"test_top5"`
	TestLoss      float64       `json:"test_loss"`
	Seconds       float64       `json:"seconds"`
	Checkpoint    string        `json:"checkpoint"`
	History       []train.Epoch `json:"history"`
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "train [flags]   (no flags: ResNet-20 on the embedded Fashion-MNIST subset)", stderr)
	var d dataFlags
	d.register(fs)
	arch := fs.String("arch", "resnet20", "architecture (see 'resnet list'; resnetD for any CIFAR depth 6n+2)")
	flavor := fs.String("flavor", "torch", "layout: torch (BatchNorm momentum 0.1, trains fast) or keras")
	epochs := fs.Int("epochs", 6, "epochs")
	batch := fs.Int("batch", 64, "batch size")
	lr := fs.Float64("lr", 0.1, "peak learning rate")
	opt := fs.String("optimizer", "sgd", "sgd, adam or adamw")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	nesterov := fs.Bool("nesterov", false, "Nesterov momentum")
	wd := fs.Float64("wd", 5e-4, "weight decay (L2; decoupled with adamw or --decoupled)")
	decoupled := fs.Bool("decoupled", false, "decoupled weight decay for SGD")
	schedule := fs.String("schedule", "cosine", "learning rate schedule: cosine, multistep, step or constant")
	milestones := fs.String("milestones", "", "multistep: epochs at which the rate drops tenfold, e.g. 82,123 (default: half and three quarters)")
	warmup := fs.Float64("warmup", 0.5, "cosine: warm-up epochs")
	smoothing := fs.Float64("label-smoothing", 0, "label smoothing")
	augment := fs.String("augment", "auto", "augmentation: auto (pad-crop and flip for CIFAR, pad-crop for Fashion-MNIST), flip, padcrop, cifar, crop (torchvision's ImageNet training crops of 8-100% of the area, resized back, and flips) or none")
	seed := fs.Uint64("seed", 1, "random seed (shuffling, augmentation, initialisation order)")
	out := fs.String("out", "", "output folder for checkpoints, log.csv and curves.svg (default runs/ARCH-DATA)")
	resume := fs.Bool("resume", false, "continue from OUT/last.safetensors")
	asJSON := fs.Bool("json", false, "print one final JSON object")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("takes no arguments, got %q", pos)
	}
	switch {
	case *epochs < 1:
		return usageErrorf("--epochs must be at least 1, got %d", *epochs)
	case *batch < 1:
		return usageErrorf("--batch must be at least 1, got %d", *batch)
	case !(*lr > 0):
		return usageErrorf("--lr must be positive, got %v", *lr)
	case *smoothing < 0 || *smoothing >= 1:
		return usageErrorf("--label-smoothing must lie in [0, 1), got %v", *smoothing)
	}
	fl, err := resnet.ParseFlavor(*flavor)
	if err != nil {
		return usageErrorf("--flavor: %v", err)
	}
	isCIFARArch := strings.HasPrefix(*arch, "resnet") && !contains([]string{"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}, *arch) && !strings.HasSuffix(*arch, "v2")
	defaultSize := 224
	if isCIFARArch {
		defaultSize = 32
	}
	trainSet, testSet, dataName, err := d.load(defaultSize)
	if err != nil {
		return err
	}
	first, _, err := trainSet.Example(0)
	if err != nil {
		return err
	}
	shape := first.Shape
	m, err := resnet.New(*arch, resnet.WithFlavor(fl), resnet.Classes(len(trainSet.Classes())),
		resnet.InputShape(shape[0], shape[1], shape[2]), resnet.ClassifierActivation("softmax"))
	if err != nil {
		return err
	}
	steps := *epochs * ((trainSet.Len() + *batch - 1) / *batch)
	perEpoch := steps / *epochs
	sched, err := makeSchedule(*schedule, *lr, steps, perEpoch, *warmup, *milestones)
	if err != nil {
		return err
	}
	var optimizer train.Optimizer
	switch *opt {
	case "sgd":
		optimizer = &train.SGD{Momentum: *momentum, Nesterov: *nesterov, WeightDecay: *wd, Decoupled: *decoupled}
	case "adam", "adamw":
		a := train.NewAdam()
		a.WeightDecay, a.Decoupled = *wd, *opt == "adamw"
		optimizer = a
	default:
		return usageErrorf("--optimizer %q: want sgd, adam or adamw", *opt)
	}
	augs, err := makeAugment(*augment, dataName, shape)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("runs", *arch+"-"+dataName)
	}
	labels, _ := json.Marshal(trainSet.Classes())
	cfg := train.Config{Epochs: *epochs, Batch: *batch, Optimizer: optimizer, Schedule: sched, Smoothing: *smoothing,
		Seed: *seed, Augment: augs, OutDir: *out, Resume: *resume,
		Metadata: map[string]string{weights.MetaPreprocess: string(resnet.Unit), weights.MetaResize: string(resnet.Squash),
			weights.MetaLabels: string(labels)}}
	if !*quiet {
		cfg.Progress = stderr
		fmt.Fprintf(stderr, "training %s (%s flavour, %s parameters) on %s: %d images, %d test, input %v, %d epochs of %d steps\n",
			*arch, fl, nn.Thousands(int64(m.CountParams())), dataName, trainSet.Len(), lenOr0(testSet), shape, *epochs, perEpoch)
	}
	tr := &train.Trainer{Model: m, Train: trainSet, Val: testSet, Config: cfg}
	began := time.Now()
	hist, err := tr.Fit()
	if err != nil {
		return err
	}
	sum := trainSummary{Arch: *arch, Data: dataName, Epochs: *epochs, TrainExamples: trainSet.Len(), TestExamples: lenOr0(testSet),
		Seconds: time.Since(began).Seconds(), Checkpoint: filepath.Join(*out, "best.safetensors"), History: hist}
	if testSet != nil {
		best, _, err := weights.Load(sum.Checkpoint)
		if err != nil {
			return err
		}
		r, err := train.Evaluate(best, testSet, *batch, unit)
		if err != nil {
			return err
		}
		sum.TestAccuracy, sum.TestTop5, sum.TestLoss = r.Accuracy, r.Top5, r.Loss
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%% (top-5 %.2f%%, loss %.4f) on %d images after %d epochs, %.0fs\n",
		100*sum.TestAccuracy, 100*sum.TestTop5, sum.TestLoss, sum.TestExamples, *epochs, sum.Seconds)
	fmt.Fprintf(stdout, "checkpoint %s; log %s; curves %s\n", sum.Checkpoint, filepath.Join(*out, "log.csv"), filepath.Join(*out, "curves.svg"))
	fmt.Fprintf(stdout, "try: resnet predict --weights %s IMAGE\n", sum.Checkpoint)
	return nil
}

func lenOr0(d data.Dataset) int {
	if d == nil {
		return 0
	}
	return d.Len()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unit scales a batch of [0, 255] images to [0, 1], the "unit"
// preprocessing the checkpoints record.
func unit(x *tensor.Tensor) {
	for i, v := range x.Data {
		x.Data[i] = v / 255
	}
}

func makeSchedule(name string, lr float64, steps, perEpoch int, warmup float64, milestones string) (train.Schedule, error) {
	switch name {
	case "constant":
		return train.Constant(lr), nil
	case "cosine":
		return train.Cosine{Base: lr, Warmup: int(warmup * float64(perEpoch)), Total: steps}, nil
	case "step":
		return train.StepDecay{Base: lr, Every: max(1, steps/3), Gamma: 0.1}, nil
	case "multistep":
		ms := []int{steps / 2, steps * 3 / 4}
		if milestones != "" {
			ms = nil
			for _, f := range strings.Split(milestones, ",") {
				e, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || e <= 0 {
					return nil, usageErrorf("--milestones %q: want epochs such as 82,123", milestones)
				}
				ms = append(ms, int(e*float64(perEpoch)))
			}
		}
		return train.MultiStep{Base: lr, Milestones: ms, Gamma: 0.1}, nil
	}
	return nil, usageErrorf("--schedule %q: want cosine, multistep, step or constant", name)
}

func makeAugment(name, dataName string, shape []int) ([]data.Augment, error) {
	pad := max(2, shape[0]/8)
	switch name {
	case "none":
		return nil, nil
	case "flip":
		return []data.Augment{data.Flip()}, nil
	case "padcrop":
		return []data.Augment{data.PadCrop(pad)}, nil
	case "cifar":
		return []data.Augment{data.PadCrop(pad), data.Flip()}, nil
	case "crop":
		return []data.Augment{data.RandomResizedCrop(shape[0], shape[1], 0.08), data.Flip()}, nil
	case "auto":
		if strings.HasPrefix(dataName, "fashion") {
			return []data.Augment{data.PadCrop(2)}, nil
		}
		return []data.Augment{data.PadCrop(pad), data.Flip()}, nil
	}
	return nil, usageErrorf("--augment %q: want auto, flip, padcrop, cifar, crop or none", name)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "eval --weights PATH [data flags]   (default data: the embedded Fashion-MNIST test subset)", stderr)
	var d dataFlags
	d.register(fs)
	path := fs.String("weights", "", "checkpoint to evaluate")
	batch := fs.Int("batch", 128, "batch size")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *path == "" {
		return usageErrorf("--weights is required")
	}
	if len(pos) != 0 {
		return usageErrorf("takes no arguments, got %q", pos)
	}
	if *batch < 1 {
		return usageErrorf("--batch must be at least 1, got %d", *batch)
	}
	m, meta, err := weights.Load(*path)
	if err != nil {
		return err
	}
	in := m.Inputs()[0].Shape()
	tr, te, _, err := d.load(in[0])
	if err != nil {
		return err
	}
	if te == nil {
		te = tr // a single folder: evaluate on it
	}
	prepare := unit
	if mode := meta[weights.MetaPreprocess]; mode != "" && mode != string(resnet.Unit) {
		md, err := resnet.ParseMode(mode)
		if err != nil {
			return err
		}
		prepare = func(x *tensor.Tensor) { resnet.Preprocess(x, md) }
	}
	r, err := train.Evaluate(m, te, *batch, prepare)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"weights": *path, "test_accuracy": r.Accuracy, "test_top5": r.Top5, "test_loss": r.Loss, "examples": r.Examples})
	}
	fmt.Fprintf(stdout, "%s: accuracy %.2f%%, top-5 %.2f%%, loss %.4f on %d images\n", *path, 100*r.Accuracy, 100*r.Top5, r.Loss, r.Examples)
	return nil
}

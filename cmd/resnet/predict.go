package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/resnet-go/resnet"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

// predictor is a loaded model with what it takes to feed it and name its
// classes.
type predictor struct {
	model  *nn.Model
	images resnet.ImageConfig
	labels []string
}

// loadPredictor opens a native checkpoint (.safetensors) or a Keras model
// in the TF.js layers format (model.json, or the folder holding it).
func loadPredictor(path string) (*predictor, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "model.json")
	}
	p := &predictor{}
	meta := map[string]string{}
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		p.model, err = weights.ReadKerasTFJS(path)
		meta[weights.MetaPreprocess] = string(resnet.Caffe) // Keras' ResNet v1
	} else {
		p.model, meta, err = weights.Load(path)
	}
	if err != nil {
		return nil, err
	}
	in := p.model.Inputs()[0].Shape()
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: the model's input %v is not an image", path, in)
	}
	p.images = resnet.ImageConfig{Height: in[0], Width: in[1], Channels: in[2], Mode: resnet.Caffe, Resize: resnet.Squash}
	if m, ok := meta[weights.MetaPreprocess]; ok {
		if p.images.Mode, err = resnet.ParseMode(m); err != nil {
			return nil, fmt.Errorf("%s: metadata %s: %w", path, weights.MetaPreprocess, err)
		}
	}
	if r, ok := meta[weights.MetaResize]; ok {
		p.images.Resize = resnet.Resize(r)
	}
	out := p.model.Outputs()[0].Shape()
	if len(out) != 1 {
		return nil, fmt.Errorf("%s: the model's output %v is not a vector of class scores (a model without top?)", path, out)
	}
	if l, ok := meta[weights.MetaLabels]; ok {
		if err := json.Unmarshal([]byte(l), &p.labels); err != nil || len(p.labels) != out[0] {
			return nil, fmt.Errorf("%s: metadata %s must list %d class names", path, weights.MetaLabels, out[0])
		}
	} else if out[0] == len(resnet.ImageNetClasses()) {
		for _, c := range resnet.ImageNetClasses() {
			p.labels = append(p.labels, c.Name)
		}
	}
	return p, nil
}

// probabilities turns the model's output into probabilities, applying
// softmax when the model ends in logits.
func (p *predictor) probabilities(out *tensor.Tensor) {
	layers := p.model.Layers()
	if layers[len(layers)-1].Activation() == "softmax" {
		return
	}
	k := out.Shape[1]
	for r := 0; r < out.Shape[0]; r++ {
		nn.Softmax(out.Data[r*k : (r+1)*k])
	}
}

type predictionJSON struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float64 `json:"prob"`
}

type imageJSON struct {
	Image string           `json:"image"`
	Top   []predictionJSON `json:"top"`
}

func runPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", "predict --weights PATH [flags] IMAGE...", stderr)
	weightsPath := fs.String("weights", "", "model to run: a resnet-go checkpoint (.safetensors) or a Keras TF.js model.json (or its folder)")
	top := fs.Int("top", 5, "how many classes to show per image")
	asJSON := fs.Bool("json", false, "print the predictions as JSON")
	mode := fs.String("mode", "", "override the preprocessing: caffe, tf, torch, unit or raw")
	resize := fs.String("resize", "", "override how images are fitted: squash (Keras) or crop (torchvision)")
	batch := fs.Int("batch", 8, "images per forward pass")
	images, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *weightsPath == "":
		return usageErrorf("--weights is required")
	case len(images) == 0:
		return usageErrorf("no images given")
	case *top < 1:
		return usageErrorf("--top must be at least 1, got %d", *top)
	case *batch < 1:
		return usageErrorf("--batch must be at least 1, got %d", *batch)
	}
	p, err := loadPredictor(*weightsPath)
	if err != nil {
		return err
	}
	if *mode != "" {
		if p.images.Mode, err = resnet.ParseMode(*mode); err != nil {
			return usageErrorf("--mode: %v", err)
		}
	}
	switch *resize {
	case "":
	case string(resnet.Squash), string(resnet.Crop):
		p.images.Resize = resnet.Resize(*resize)
	default:
		return usageErrorf("--resize %q: want squash or crop", *resize)
	}
	plan, err := p.model.Compile(nn.ConsumeWeights())
	if err != nil {
		return err
	}
	var results []imageJSON
	for lo := 0; lo < len(images); lo += *batch {
		chunk := images[lo:min(lo+*batch, len(images))]
		x, err := resnet.LoadImages(chunk, p.images)
		if err != nil {
			return err
		}
		outs, err := plan.Predict(x)
		if err != nil {
			return err
		}
		p.probabilities(outs[0])
		ranked, err := resnet.TopK(outs[0], *top, nil)
		if err != nil {
			return err
		}
		for i, preds := range ranked {
			r := imageJSON{Image: chunk[i]}
			for _, pr := range preds {
				label := fmt.Sprintf("class %d", pr.Index)
				if p.labels != nil {
					label = p.labels[pr.Index]
				}
				r.Top = append(r.Top, predictionJSON{Index: pr.Index, Label: label, Prob: float64(pr.Score)})
			}
			results = append(results, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		fmt.Fprintln(stdout, r.Image)
		for i, pr := range r.Top {
			fmt.Fprintf(stdout, "  %d  %6.2f%%  %s\n", i+1, 100*pr.Prob, pr.Label)
		}
	}
	return nil
}

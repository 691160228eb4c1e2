package weights

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// Metadata keys of a native checkpoint.
const (
	// MetaModel holds the architecture as Keras' model_config JSON.
	MetaModel = "resnet-go.model"
	// MetaFormat marks the file as a resnet-go checkpoint.
	MetaFormat = "format"
	// MetaPreprocess names the preprocessing mode inputs need (caffe, tf,
	// torch, unit, raw).
	MetaPreprocess = "resnet-go.preprocess"
	// MetaResize says how images are fitted to the input (squash, crop).
	MetaResize = "resnet-go.resize"
	// MetaLabels holds the class names as a JSON list of strings.
	MetaLabels = "resnet-go.labels"
	// StatePrefix marks tensors that are not weights (optimizer state) in
	// a training checkpoint; loading a model ignores them.
	StatePrefix = "state/"
	formatName  = "resnet-go"
)

// Save writes the model's weights, keyed by Keras' full weight names, and
// its architecture, so that Load can rebuild the model from the file alone.
// extra metadata (preprocessing, labels, training state) is stored beside
// it. The file is replaced atomically.
func Save(path string, m *nn.Model, extra map[string]string) error {
	return SaveWithState(path, m, nil, extra)
}

// SaveWithState is Save plus extra tensors (optimizer state), stored under
// StatePrefix.
func SaveWithState(path string, m *nn.Model, state map[string]*tensor.Tensor, extra map[string]string) error {
	cfg, err := json.Marshal(m.KerasConfig())
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	meta := map[string]string{MetaFormat: formatName, MetaModel: string(cfg)}
	for k, v := range extra {
		if k == MetaModel || k == MetaFormat {
			return fmt.Errorf("save %s: metadata key %q is reserved", path, k)
		}
		meta[k] = v
	}
	tensors := map[string]*tensor.Tensor{}
	for _, w := range m.Weights() {
		t, err := m.Weight(w.FullName())
		if err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		tensors[w.FullName()] = t
	}
	for k, t := range state {
		tensors[StatePrefix+k] = t
	}
	return WriteSafetensors(path, tensors, meta)
}

// Load rebuilds the model a checkpoint describes and loads its weights. It
// returns the file's metadata too.
func Load(path string) (*nn.Model, map[string]string, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load %w", err)
	}
	m, err := ModelFromMetadata(f.Metadata)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := apply(m, modelTensors(f.Tensors), true); err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	return m, f.Metadata, nil
}

// modelTensors leaves out the training state of a checkpoint.
func modelTensors(all map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, t := range all {
		if !strings.HasPrefix(k, StatePrefix) {
			out[k] = t
		}
	}
	return out
}

// State returns the training state tensors of a checkpoint file's
// content, without their prefix.
func (f *File) State() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, t := range f.Tensors {
		if s, ok := strings.CutPrefix(k, StatePrefix); ok {
			out[s] = t
		}
	}
	return out
}

// ModelFromMetadata rebuilds the architecture stored in a checkpoint's
// metadata.
func ModelFromMetadata(meta map[string]string) (*nn.Model, error) {
	raw, ok := meta[MetaModel]
	if !ok {
		return nil, fmt.Errorf("no architecture: the metadata has no %q entry (not a resnet-go checkpoint; load its weights into a model you build with LoadInto)", MetaModel)
	}
	var cfg nn.KerasModelConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, fmt.Errorf("architecture: %w", err)
	}
	return nn.FromKerasConfig(cfg, nil)
}

// LoadInto loads a safetensors file's weights into m by name.
func LoadInto(m *nn.Model, path string) (map[string]string, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("load %w", err)
	}
	if err := apply(m, modelTensors(f.Tensors), true); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return f.Metadata, nil
}

// Apply sets every weight of m from tensors keyed by full weight name
// ("conv1_conv/kernel"). It checks everything before changing anything:
// weights the model has and the tensors lack, tensors the model has no
// weight for, shapes that differ, and values that are not finite are all
// reported, by name.
func Apply(m *nn.Model, tensors map[string]*tensor.Tensor) error {
	return apply(m, tensors, false)
}

// apply is Apply; with adopt the model keeps the tensors themselves
// (nn.Model.AdoptWeight), for loaders whose tensors nobody else holds.
func apply(m *nn.Model, tensors map[string]*tensor.Tensor, adopt bool) error {
	var missing, wrong []string
	want := map[string]bool{}
	for _, w := range m.Weights() {
		name := w.FullName()
		want[name] = true
		t, ok := tensors[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case !nn.Shape(t.Shape).Equal(w.Shape):
			wrong = append(wrong, fmt.Sprintf("%s has shape %v, the model wants %v", name, t.Shape, w.Shape))
		case t.Finite() >= 0:
			i := t.Finite()
			wrong = append(wrong, fmt.Sprintf("%s: value %d is %v", name, i, t.Data[i]))
		}
	}
	var unexpected []string
	for name := range tensors {
		if !want[name] {
			unexpected = append(unexpected, name)
		}
	}
	sort.Strings(unexpected)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing "+list(missing))
	}
	if len(unexpected) > 0 {
		problems = append(problems, "unexpected "+list(unexpected))
	}
	problems = append(problems, wrong...)
	if len(problems) > 0 {
		return fmt.Errorf("weights do not fit model %q: %s", m.Name(), strings.Join(problems, "; "))
	}
	set := m.SetWeight
	if adopt {
		set = m.AdoptWeight
	}
	for _, w := range m.Weights() {
		if err := set(w.FullName(), tensors[w.FullName()]); err != nil {
			return err
		}
	}
	return nil
}

// list names up to five items and counts the rest.
func list(names []string) string {
	if len(names) <= 5 {
		return fmt.Sprintf("%d: %s", len(names), strings.Join(names, ", "))
	}
	return fmt.Sprintf("%d: %s and %d more", len(names), strings.Join(names[:5], ", "), len(names)-5)
}

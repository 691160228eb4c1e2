package weights

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// MaxModelJSON bounds the size of a TF.js model.json.
const MaxModelJSON = 64 << 20

type tfjsModel struct {
	Format          string          `json:"format"`
	ModelTopology   json.RawMessage `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name         string          `json:"name"`
			Shape        []int           `json:"shape"`
			DType        string          `json:"dtype"`
			Quantization json.RawMessage `json:"quantization"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

type kerasClass struct {
	ClassName string              `json:"class_name"`
	Config    nn.KerasModelConfig `json:"config"`
}

// ReadKerasTFJS reads a Keras functional model saved in the TF.js layers
// format (model.json beside its binary shards): it builds the model from
// the stored topology, with Keras' own settings for every layer (the
// BatchNorm epsilon among them), renames the older Keras layer names
// ("conv1", "bn_conv1", "res2a_branch2a", "fc1000", unnamed activations and
// additions) to the current ones ("conv1_conv", "conv1_bn",
// "conv2_block1_1_conv", "predictions", ...), and loads the weights by name.
func ReadKerasTFJS(modelJSON string) (*nn.Model, error) {
	m, err := readKerasTFJS(modelJSON)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", modelJSON, err)
	}
	return m, nil
}

func readKerasTFJS(path string) (*nn.Model, error) {
	raw, err := readLimited(path, MaxModelJSON)
	if err != nil {
		return nil, err
	}
	var tm tfjsModel
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, fmt.Errorf("model.json: %w", err)
	}
	if tm.Format != "" && tm.Format != "layers-model" {
		return nil, fmt.Errorf("format %q is not a TF.js layers model", tm.Format)
	}
	cfg, err := topology(tm.ModelTopology)
	if err != nil {
		return nil, err
	}
	rename := kerasRenames(cfg)
	m, err := nn.FromKerasConfig(cfg, func(s string) string { return rename[s] })
	if err != nil {
		return nil, err
	}
	tensors, err := readShards(filepath.Dir(path), tm, rename)
	if err != nil {
		return nil, err
	}
	if err := apply(m, tensors, true); err != nil {
		return nil, err
	}
	return m, nil
}

// readLimited reads the file at path, refusing it, before reading, when
// it holds more than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", path, st.Size(), limit)
	}
	buf := make([]byte, st.Size())
	n, err := readInto(path, buf)
	return buf[:n], err
}

// readInto reads the file at path into the start of dst, which it must
// fit, and returns its size: a shard goes straight where the group's
// bytes are gathered (io.ReadAll's growing buffer and the copy after it
// took a quarter of loading ResNet-50).
func readInto(path string, dst []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() > int64(len(dst)) {
		return 0, fmt.Errorf("%s is %d bytes, more than the %d allowed", path, st.Size(), len(dst))
	}
	n, err := io.ReadFull(f, dst[:st.Size()])
	if err != nil {
		return n, fmt.Errorf("read %s: %w", path, err)
	}
	return n, nil
}

// topology accepts both layouts TF.js writes: {keras_version, backend,
// model_config: {class_name, config}} and {class_name, config}.
func topology(raw json.RawMessage) (nn.KerasModelConfig, error) {
	var wrapped struct {
		ModelConfig *kerasClass `json:"model_config"`
	}
	var direct kerasClass
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nn.KerasModelConfig{}, fmt.Errorf("modelTopology: %w", err)
	}
	c := wrapped.ModelConfig
	if c == nil {
		if err := json.Unmarshal(raw, &direct); err != nil {
			return nn.KerasModelConfig{}, fmt.Errorf("modelTopology: %w", err)
		}
		c = &direct
	}
	switch c.ClassName {
	case "Model", "Functional":
		return c.Config, nil
	}
	return nn.KerasModelConfig{}, fmt.Errorf("modelTopology: class %q is not a functional Model", c.ClassName)
}

func readShards(dir string, tm tfjsModel, rename map[string]string) (map[string]*tensor.Tensor, error) {
	tensors := map[string]*tensor.Tensor{}
	for g, group := range tm.WeightsManifest {
		var want int64
		for _, w := range group.Weights {
			if w.DType != "float32" || len(w.Quantization) > 0 && string(w.Quantization) != "null" {
				return nil, fmt.Errorf("weight %q: only unquantized float32 weights are supported, got %s", w.Name, w.DType)
			}
			n, err := tensor.Elements(w.Shape)
			if err != nil {
				return nil, fmt.Errorf("weight %q: %w", w.Name, err)
			}
			want += 4 * int64(n)
		}
		var have int64
		var files []string
		for _, p := range group.Paths {
			if filepath.IsAbs(p) || strings.Contains(p, "..") || strings.ContainsAny(p, `/\`) {
				return nil, fmt.Errorf("shard path %q must be a plain file name beside model.json", p)
			}
			full := filepath.Join(dir, p)
			st, err := os.Stat(full)
			if err != nil {
				return nil, err
			}
			have += st.Size()
			files = append(files, full)
		}
		if have != want {
			return nil, fmt.Errorf("weight group %d: the shards hold %d bytes, the manifest describes %d", g, have, want)
		}
		// The shards go straight into the weights' floats, which the
		// tensors then share: no second copy of the model in bytes.
		vals := make([]float32, want/4)
		buf := floatBytes(vals)
		read := 0
		for _, f := range files {
			n, err := readInto(f, buf[read:])
			if err != nil {
				return nil, err
			}
			read += n
		}
		if int64(read) != want {
			return nil, fmt.Errorf("weight group %d: read %d bytes, expected %d", g, read, want)
		}
		fromLittleEndian(vals)
		off := 0
		for _, w := range group.Weights {
			n, _ := tensor.Elements(w.Shape) // checked above
			t, err := tensor.FromData(vals[off:off+n:off+n], w.Shape...)
			if err != nil {
				return nil, fmt.Errorf("weight %q: %w", w.Name, err)
			}
			off += n
			layer, weight, ok := strings.Cut(w.Name, "/")
			if !ok {
				return nil, fmt.Errorf("weight %q is not named layer/weight", w.Name)
			}
			if r, ok := rename[layer]; ok {
				layer = r
			}
			name := layer + "/" + weight
			if _, dup := tensors[name]; dup {
				return nil, fmt.Errorf("weight %q appears twice", w.Name)
			}
			tensors[name] = t
		}
	}
	return tensors, nil
}

var oldBranch = regexp.MustCompile(`^(res|bn)(\d)([a-z]|b\d+)_branch(1|2a|2b|2c)$`)

// kerasRenames maps the layer names of keras_applications' original ResNet
// (Keras 2.2) to the names tf.keras uses, deriving the unnamed activations,
// additions and the stem's pooling from what feeds them. Names that follow
// no old pattern map to themselves.
func kerasRenames(cfg nn.KerasModelConfig) map[string]string {
	r := map[string]string{}
	for _, l := range cfg.Layers {
		r[l.Name] = l.Name
	}
	fixed := map[string]string{"conv1": "conv1_conv", "bn_conv1": "conv1_bn", "fc1000": "predictions"}
	branch := map[string]string{"1": "0", "2a": "1", "2b": "2", "2c": "3"}
	inbound := func(l nn.KerasLayerConfig) []string {
		var names []string
		for _, node := range l.InboundNodes {
			for _, ref := range node {
				if len(ref) > 0 {
					if s, ok := ref[0].(string); ok {
						names = append(names, r[s])
					}
				}
			}
		}
		return names
	}
	for _, l := range cfg.Layers {
		in := inbound(l)
		switch {
		case fixed[l.Name] != "":
			r[l.Name] = fixed[l.Name]
		case oldBranch.MatchString(l.Name):
			p := oldBranch.FindStringSubmatch(l.Name)
			block := 1
			if p[3] != "a" {
				block = int(p[3][0]-'a') + 1
				if len(p[3]) > 1 { // res4b1, res4b2, ... in the deeper networks
					n, _ := strconv.Atoi(p[3][1:])
					block = n + 1
				}
			}
			kind := "conv"
			if p[1] == "bn" {
				kind = "bn"
			}
			r[l.Name] = fmt.Sprintf("conv%s_block%d_%s_%s", p[2], block, branch[p[4]], kind)
		case l.ClassName == "Activation" && len(in) == 1:
			switch {
			case in[0] == "conv1_bn":
				r[l.Name] = "conv1_relu"
			case strings.HasSuffix(in[0], "_1_bn") || strings.HasSuffix(in[0], "_2_bn"):
				r[l.Name] = strings.TrimSuffix(in[0], "_bn") + "_relu"
			case strings.HasSuffix(in[0], "_add"):
				r[l.Name] = strings.TrimSuffix(in[0], "_add") + "_out"
			}
		case l.ClassName == "Add":
			for _, s := range in {
				if strings.HasSuffix(s, "_3_bn") {
					r[l.Name] = strings.TrimSuffix(s, "_3_bn") + "_add"
				}
			}
		case l.ClassName == "MaxPooling2D" && len(in) == 1 && in[0] == "pool1_pad":
			r[l.Name] = "pool1_pool"
		}
	}
	// A rename must not collide with a name kept as it is.
	seen := map[string]int{}
	for _, v := range r {
		seen[v]++
	}
	for k, v := range r {
		if seen[v] > 1 {
			r[k] = k
		}
	}
	return r
}

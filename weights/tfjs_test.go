package weights

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/nn"
)

type manifestWeight struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

// writeTFJS saves m the way the TF.js converter does: topology, manifest,
// and the weights split over two shards. edit may spoil the JSON first.
func writeTFJS(t *testing.T, m *nn.Model, edit func(map[string]any)) string {
	t.Helper()
	return writeTFJSDir(t, m, t.TempDir(), edit)
}

func writeTFJSDir(t testing.TB, m *nn.Model, dir string, edits ...func(map[string]any)) string {
	t.Helper()
	var ws []manifestWeight
	var blob []byte
	for _, w := range m.Weights() {
		v, _ := m.Weight(w.FullName())
		ws = append(ws, manifestWeight{w.FullName(), w.Shape, "float32"})
		for _, f := range v.Data {
			blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(f))
		}
	}
	half := len(blob) / 2
	os.WriteFile(filepath.Join(dir, "group1-shard1of2.bin"), blob[:half], 0o644)
	os.WriteFile(filepath.Join(dir, "group1-shard2of2.bin"), blob[half:], 0o644)
	doc := map[string]any{
		"format": "layers-model",
		"modelTopology": map[string]any{"keras_version": "2.2.4-tf", "backend": "tensorflow",
			"model_config": map[string]any{"class_name": "Model", "config": m.KerasConfig()}},
		"weightsManifest": []any{map[string]any{"paths": []string{"group1-shard1of2.bin", "group1-shard2of2.bin"}, "weights": ws}},
	}
	// Round-trip through JSON so that edit sees plain maps and slices.
	raw, _ := json.Marshal(doc)
	var plain map[string]any
	json.Unmarshal(raw, &plain)
	for _, edit := range edits {
		if edit != nil {
			edit(plain)
		}
	}
	raw, _ = json.Marshal(plain)
	path := filepath.Join(dir, "model.json")
	os.WriteFile(path, raw, 0o644)
	return path
}

func TestTFJSRoundTrip(t *testing.T) {
	m := smallModel(t, nn.ChannelsLast)
	back, err := ReadKerasTFJS(writeTFJS(t, m, nil))
	if err != nil {
		t.Fatal(err)
	}
	x := input(2, 12, 10, 3)
	p, q := predict(t, m, x), predict(t, back, x)
	for i := range p.Data {
		if p.Data[i] != q.Data[i] {
			t.Fatalf("outputs differ: %v vs %v", p.Data, q.Data)
		}
	}
}

func manifest(doc map[string]any) map[string]any {
	return doc["weightsManifest"].([]any)[0].(map[string]any)
}

func layers(doc map[string]any) []any {
	return doc["modelTopology"].(map[string]any)["model_config"].(map[string]any)["config"].(map[string]any)["layers"].([]any)
}

func TestTFJSHostile(t *testing.T) {
	m := smallModel(t, nn.ChannelsLast)
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"wrong format", func(d map[string]any) { d["format"] = "graph-model" }, "not a TF.js layers model"},
		{"sequential", func(d map[string]any) {
			d["modelTopology"].(map[string]any)["model_config"].(map[string]any)["class_name"] = "Sequential"
		}, `class "Sequential"`},
		{"path traversal", func(d map[string]any) { manifest(d)["paths"].([]any)[0] = "../../etc/passwd" }, "plain file name"},
		{"missing shard", func(d map[string]any) { manifest(d)["paths"].([]any)[1] = "nope.bin" }, "nope.bin"},
		{"short shards", func(d map[string]any) {
			ws := manifest(d)["weights"].([]any)
			ws[0].(map[string]any)["shape"] = []any{3, 3, 3, 9}
		}, "the shards hold"},
		{"quantized", func(d map[string]any) { manifest(d)["weights"].([]any)[0].(map[string]any)["dtype"] = "uint8" }, "only unquantized float32"},
		{"unsupported layer", func(d map[string]any) { layers(d)[3].(map[string]any)["class_name"] = "LayerNormalization" }, `"LayerNormalization" is not supported`},
		{"dangling inbound", func(d map[string]any) {
			layers(d)[2].(map[string]any)["inbound_nodes"] = []any{[]any{[]any{"ghost", 0, 0, map[string]any{}}}}
		}, `no layer "ghost"`},
		{"bad kernel", func(d map[string]any) {
			cfg := layers(d)[2].(map[string]any)["config"].(map[string]any)
			cfg["kernel_size"] = []any{3, 5}
		}, "only square"},
		{"weight missing", func(d map[string]any) {
			man := manifest(d)
			ws := man["weights"].([]any)
			man["weights"] = ws[:len(ws)-1]
		}, "shards hold"},
	}
	for _, tt := range tests {
		_, err := ReadKerasTFJS(writeTFJS(t, m, tt.edit))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestKerasRenames(t *testing.T) {
	cfg := nn.KerasModelConfig{Layers: []nn.KerasLayerConfig{
		{Name: "bn_conv1", ClassName: "BatchNormalization"},
		{Name: "activation", ClassName: "Activation", InboundNodes: [][][]any{{{"bn_conv1", 0.0, 0.0}}}},
		{Name: "res4b22_branch2c", ClassName: "Conv2D"},
		{Name: "bn4b22_branch2c", ClassName: "BatchNormalization"},
		{Name: "res4b22_branch1", ClassName: "Conv2D"},
		{Name: "add_40", ClassName: "Add", InboundNodes: [][][]any{{{"bn4b22_branch2c", 0.0, 0.0}, {"x", 0.0, 0.0}}}},
		{Name: "activation_99", ClassName: "Activation", InboundNodes: [][][]any{{{"add_40", 0.0, 0.0}}}},
		{Name: "res5c_branch2a", ClassName: "Conv2D"},
	}}
	r := kerasRenames(cfg)
	want := map[string]string{"bn_conv1": "conv1_bn", "activation": "conv1_relu", "res4b22_branch2c": "conv4_block23_3_conv",
		"bn4b22_branch2c": "conv4_block23_3_bn", "res4b22_branch1": "conv4_block23_0_conv", "add_40": "conv4_block23_add",
		"activation_99": "conv4_block23_out", "res5c_branch2a": "conv5_block3_1_conv"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s -> %s, want %s", k, r[k], v)
		}
	}
}

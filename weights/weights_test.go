package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/internal/testgen"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// smallModel is a branching model using most layer kinds.
func smallModel(t testing.TB, f nn.DataFormat) *nn.Model {
	t.Helper()
	shape := nn.Shape{12, 10, 3}
	if f == nn.ChannelsFirst {
		shape = nn.Shape{3, 12, 10}
	}
	x := nn.Input(shape, nn.Format(f))
	y := nn.ZeroPadding2D(x, 1, nn.Name("pad"))
	y = nn.Conv2D(y, 8, 3, nn.Strides(2), nn.Name("conv"))
	y = nn.BatchNormalization(y, nn.Epsilon(1e-3), nn.Name("bn"))
	y = nn.Activation(y, "relu", nn.Name("relu"))
	a := nn.Conv2D(y, 8, 3, nn.Padding("same"), nn.Groups(2), nn.UseBias(false), nn.Name("grouped"))
	b := nn.MaxPooling2D(y, 3, nn.Strides(1), nn.Padding("same"), nn.Name("maxpool"))
	y = nn.Add([]*nn.Tensor{a, b}, nn.Name("add"))
	y = nn.PaddedIdentity(y, 12, 2, nn.Name("shortcut"))
	y = nn.AveragePooling2D(y, 2, nn.Padding("same"), nn.Name("avgpool"))
	y = nn.GlobalAveragePooling2D(y, nn.Name("gap"))
	y = nn.Dense(y, 5, nn.WithActivation("softmax"), nn.Name("out"))
	m, err := nn.NewModel("small", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, m)
	return m
}

// randomize gives every weight generated, non-trivial values.
func randomize(t testing.TB, m *nn.Model) {
	t.Helper()
	for _, w := range m.Weights() {
		leaf := map[string]string{"kernel": "weight", "gamma": "weight", "moving_variance": "running_var"}[w.Name]
		if leaf == "" {
			leaf = "bias"
		}
		v := testgen.Torch(w.FullName()+"."+leaf, w.Shape...)
		if err := m.SetWeight(w.FullName(), v); err != nil {
			t.Fatal(err)
		}
	}
}

func input(shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	copy(x.Data, testgen.Uniform("input", len(x.Data)))
	return x
}

func TestSafetensorsRoundTrip(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"a":     {Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0}},
		"b/c":   {Shape: []int{}, Data: []float32{42}},
		"empty": {Shape: []int{0, 4}, Data: []float32{}},
	}
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := DecodeSafetensors(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" || len(f.Tensors) != 3 {
		t.Fatalf("decoded %+v", f)
	}
	for name, want := range in {
		got := f.Tensors[name]
		if !got.SameShape(want) {
			t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// file builds a safetensors file from a header written by hand.
func file(header string, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(body)
	return b.Bytes()
}

// DecodeSafetensors copies, so its caller may reuse the bytes; a file read
// by ReadSafetensors lends its float32 tensors its own bytes where they lie
// aligned (as EncodeSafetensors writes them), and copies them where not.
func TestSafetensorsSharesOnlyAlignedBytesItOwns(t *testing.T) {
	body := make([]byte, 8)
	binary.LittleEndian.PutUint32(body, math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(body[4:], math.Float32bits(-2))
	header := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	for pad := 0; pad < 4; pad++ {
		data := file(header+strings.Repeat(" ", pad), body)
		aligned := (8+len(header)+pad)%4 == 0
		for _, share := range []bool{false, true} {
			f, err := decodeSafetensors(slices.Clone(data), share)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Tensors["a"]
			if got.Data[0] != 1.5 || got.Data[1] != -2 || len(got.Data) != cap(got.Data) {
				t.Fatalf("pad %d share %v: %v (cap %d)", pad, share, got.Data, cap(got.Data))
			}
		}
		buf := slices.Clone(data)
		f, _ := decodeSafetensors(buf, true)
		binary.LittleEndian.PutUint32(buf[len(buf)-8:], math.Float32bits(7))
		if shared := f.Tensors["a"].Data[0] == 7; shared != aligned {
			t.Errorf("header padded by %d (body aligned: %v): tensor shares the file's bytes: %v", pad, aligned, shared)
		}
		path := filepath.Join(t.TempDir(), "a.safetensors")
		os.WriteFile(path, data, 0o644)
		if f, err := ReadSafetensors(path); err != nil || f.Tensors["a"].Data[1] != -2 {
			t.Errorf("ReadSafetensors, header padded by %d: %v, %v", pad, f, err)
		}
	}
	var enc bytes.Buffer
	in := map[string]*tensor.Tensor{"x": {Shape: []int{3}, Data: []float32{1, 2, 3}}}
	if err := EncodeSafetensors(&enc, in, nil); err != nil {
		t.Fatal(err)
	}
	data := enc.Bytes()
	f, _ := DecodeSafetensors(data)
	clear(data)
	if x := f.Tensors["x"].Data; x[2] != 3 {
		t.Errorf("DecodeSafetensors' tensors changed with the caller's bytes: %v", x)
	}
}

func TestSafetensorsOtherFloatTypes(t *testing.T) {
	body := []byte{0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f} // F16 1, F16 -2, BF16 1
	f, err := DecodeSafetensors(file(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}`, body))
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Tensors["h"].Data; h[0] != 1 || h[1] != -2 || f.Tensors["b"].Data[0] != 1 {
		t.Errorf("decoded %v %v", f.Tensors["h"].Data, f.Tensors["b"].Data)
	}
}

func TestSafetensorsHostile(t *testing.T) {
	four := make([]byte, 16)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "too short"},
		{"header beyond file", append([]byte{0xff, 0, 0, 0, 0, 0, 0, 0}, '{', '}'), "does not fit"},
		{"absurd header", append([]byte{0, 0, 0, 0, 0, 0, 0, 0x10}, '{', '}'), "does not fit"},
		{"not json", file(`{"a":`, nil), "header"},
		{"integer dtype", file(`{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, four), `"a": dtype "I64"`},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}`, four), `"a": shape [5]`},
		{"offsets outside", file(`{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`, four), "outside"},
		{"negative offset", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, four), "outside"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}`, four), "negative"},
		{"huge shape", file(`{"a":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,16]}}`, four), "more than"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, four), "overlap"},
		{"trailing data", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four), "cover 8 of 16"},
		{"bad metadata", file(`{"__metadata__":{"k":1}}`, nil), "__metadata__"},
		{"missing offsets", file(`{"a":{"dtype":"F32","shape":[4]}}`, four), "data_offsets"},
	}
	for _, tt := range tests {
		_, err := DecodeSafetensors(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestReadSafetensorsNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(p, []byte{1, 2}, 0o644)
	if _, err := ReadSafetensors(p); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Errorf("error %v does not name the file", err)
	}
}

func predict(t testing.TB, m *nn.Model, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	out, err := m.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, f := range []nn.DataFormat{nn.ChannelsLast, nn.ChannelsFirst} {
		m := smallModel(t, f)
		path := filepath.Join(t.TempDir(), "small.safetensors")
		if err := Save(path, m, map[string]string{MetaPreprocess: "tf"}); err != nil {
			t.Fatal(err)
		}
		back, meta, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if meta[MetaPreprocess] != "tf" {
			t.Errorf("metadata lost: %v", meta)
		}
		// The rebuilt graph is the same, layer for layer.
		a, b := m.JSON(), back.JSON()
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%v: rebuilt model differs:\n%s\n%s", f, ja, jb)
		}
		for _, w := range m.Weights() {
			x, _ := m.Weight(w.FullName())
			y, err := back.Weight(w.FullName())
			if err != nil {
				t.Fatal(err)
			}
			for i := range x.Data {
				if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
					t.Fatalf("%s[%d]: %v after the round trip, was %v", w.FullName(), i, y.Data[i], x.Data[i])
				}
			}
		}
		shape := []int{2, 12, 10, 3}
		if f == nn.ChannelsFirst {
			shape = []int{2, 3, 12, 10}
		}
		x := input(shape...)
		p, q := predict(t, m, x), predict(t, back, x)
		for i := range p.Data {
			if p.Data[i] != q.Data[i] {
				t.Fatalf("%v: outputs differ after the round trip: %v vs %v", f, p.Data, q.Data)
			}
		}
	}
}

// The same weights give the same outputs in both data formats.
func TestChannelsFirstMatchesLast(t *testing.T) {
	last, first := smallModel(t, nn.ChannelsLast), smallModel(t, nn.ChannelsFirst)
	x := input(2, 12, 10, 3)
	xf, _ := x.Transpose(0, 3, 1, 2)
	p, q := predict(t, last, x), predict(t, first, xf)
	diff, _, _ := tensor.MaxAbsDiff(p, q)
	if diff > 1e-6 {
		t.Errorf("channels_first differs by %g: %v vs %v", diff, p.Data, q.Data)
	}
}

func TestApplyErrors(t *testing.T) {
	m := smallModel(t, nn.ChannelsLast)
	good := map[string]*tensor.Tensor{}
	for _, w := range m.Weights() {
		v, _ := m.Weight(w.FullName())
		good[w.FullName()] = v.Clone()
	}
	edit := func(fn func(map[string]*tensor.Tensor)) map[string]*tensor.Tensor {
		c := map[string]*tensor.Tensor{}
		for k, v := range good {
			c[k] = v.Clone()
		}
		fn(c)
		return c
	}
	tests := []struct {
		name    string
		tensors map[string]*tensor.Tensor
		want    string
	}{
		{"missing layer", edit(func(c map[string]*tensor.Tensor) { delete(c, "conv/kernel"); delete(c, "conv/bias") }), "missing 2: conv/kernel, conv/bias"},
		{"unexpected", edit(func(c map[string]*tensor.Tensor) { c["extra/kernel"] = tensor.New(1) }), "unexpected 1: extra/kernel"},
		{"shape", edit(func(c map[string]*tensor.Tensor) { c["out/kernel"] = tensor.New(5, 12) }), "out/kernel has shape [5 12], the model wants [12 5]"},
		{"nan", edit(func(c map[string]*tensor.Tensor) { c["bn/gamma"].Data[3] = float32(math.NaN()) }), "bn/gamma: value 3 is NaN"},
		{"inf", edit(func(c map[string]*tensor.Tensor) { c["conv/bias"].Data[0] = float32(math.Inf(-1)) }), "conv/bias: value 0 is -Inf"},
	}
	before := predict(t, m, input(1, 12, 10, 3))
	for _, tt := range tests {
		err := Apply(m, tt.tensors)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	after := predict(t, m, input(1, 12, 10, 3))
	for i := range before.Data {
		if before.Data[i] != after.Data[i] {
			t.Fatal("a rejected Apply changed the model")
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.safetensors")
	WriteSafetensors(plain, map[string]*tensor.Tensor{"x": tensor.New(2)}, nil)
	if _, _, err := Load(plain); err == nil || !strings.Contains(err.Error(), "no architecture") {
		t.Errorf("checkpoint without architecture: %v", err)
	}
	m := smallModel(t, nn.ChannelsLast)
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, m, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, raw[:len(raw)-10], 0o644)
	if _, _, err := Load(trunc); err == nil || !strings.Contains(err.Error(), "trunc.safetensors") {
		t.Errorf("truncated checkpoint: %v", err)
	}
	if err := Save(good, m, map[string]string{MetaModel: "x"}); err == nil {
		t.Error("a reserved metadata key was accepted")
	}
}

// A write that fails half way leaves the previous file whole and no
// temporary file behind.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	m := smallModel(t, nn.ChannelsLast)
	if err := Save(path, m, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := WriteAtomic(path, func(w io.Writer) error {
		w.Write(before[:len(before)/2])
		return errors.New("killed half way")
	})
	if err == nil {
		t.Fatal("the failed write reported success")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the previous checkpoint was changed")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if _, _, err := Load(path); err != nil {
		t.Errorf("previous checkpoint no longer loads: %v", err)
	}
}

package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// FuzzDecodeSafetensors: any bytes give a file or an error, never a panic
// or an allocation beyond the input's size.
func FuzzDecodeSafetensors(f *testing.F) {
	var b bytes.Buffer
	EncodeSafetensors(&b, map[string]*tensor.Tensor{"a": tensor.New(2, 3), "b": tensor.New(1)}, map[string]string{"k": "v"})
	f.Add(b.Bytes())
	f.Add(file(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(file(`{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeSafetensors(data)
		if err != nil {
			return
		}
		total := 0
		for _, x := range got.Tensors {
			total += len(x.Data)
		}
		if total*2 > len(data) { // every value takes at least 2 bytes
			t.Fatalf("%d values decoded from %d bytes", total, len(data))
		}
	})
}

// FuzzReadKerasTFJS: any model.json beside valid shards gives a model or
// an error, never a panic.
func FuzzReadKerasTFJS(f *testing.F) {
	m := smallModel(f, nn.ChannelsLast)
	dir := f.TempDir()
	src := writeTFJSDir(f, m, dir)
	seed, err := os.ReadFile(src)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"format":"layers-model","modelTopology":{"class_name":"Model","config":{"layers":[]}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p := filepath.Join(dir, "fuzz.json")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := ReadKerasTFJS(p); err == nil {
			m.KerasConfig()
		}
	})
}

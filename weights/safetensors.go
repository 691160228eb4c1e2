// Package weights reads and writes model weights: native checkpoints in
// the safetensors format, Keras models in the TF.js layers format, and
// torchvision state dicts. Readers treat every file as hostile: sizes are
// checked before anything is allocated, and errors name the file and the
// tensor.
package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/resnet-go/resnet/tensor"
)

// MaxHeader bounds a safetensors header (the format's own limit is 100 MB).
const MaxHeader = 100 << 20

// File is the content of a safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  map[string]*tensor.Tensor
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type tensorInfo struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

var dtypeSize = map[string]int{"F32": 4, "F64": 8, "F16": 2, "BF16": 2}

// ReadSafetensors reads a safetensors file. Float tensors of any width
// (F16, BF16, F32, F64) are converted to float32; F32 tensors stored
// aligned (as EncodeSafetensors writes them) share the memory the file was
// read into, so holding any one of them holds all of it.
func ReadSafetensors(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := decodeSafetensors(data, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// DecodeSafetensors parses a safetensors file held in memory. The tensors
// are copies: data can be reused.
func DecodeSafetensors(data []byte) (*File, error) { return decodeSafetensors(data, false) }

// decodeSafetensors is DecodeSafetensors; with share, float32 tensors
// whose bytes lie aligned in data (as this package writes them) are data
// itself rather than copies of it: ResNet-50's Load spent half a second on
// copying them into fresh memory, the copy's page faults most of it.
func decodeSafetensors(data []byte, share bool) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes is too short for a header", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeader || n > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors: header of %d bytes does not fit in a file of %d bytes (limit %d)", n, len(data), MaxHeader)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data[8 : 8+n]))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	body := data[8+n:]
	f := &File{Metadata: map[string]string{}, Tensors: map[string]*tensor.Tensor{}}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var info tensorInfo
		if err := json.Unmarshal(msg, &info); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		t, err := decodeTensor(name, info, body, share)
		if err != nil {
			return nil, err
		}
		f.Tensors[name] = t
		spans = append(spans, span{name, info.DataOffsets[0], info.DataOffsets[1]})
	}
	// The format requires the tensors to tile the data without gaps.
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	var at int64
	for _, s := range spans {
		if s.begin != at {
			return nil, fmt.Errorf("safetensors: tensor %q starts at byte %d, expected %d (overlap or gap)", s.name, s.begin, at)
		}
		at = s.end
	}
	if at != int64(len(body)) {
		return nil, fmt.Errorf("safetensors: tensors cover %d of %d data bytes", at, len(body))
	}
	return f, nil
}

func decodeTensor(name string, info tensorInfo, body []byte, share bool) (*tensor.Tensor, error) {
	size, ok := dtypeSize[info.DType]
	if !ok {
		return nil, fmt.Errorf("safetensors: tensor %q: dtype %q is not a float type (F16, BF16, F32, F64)", name, info.DType)
	}
	n, err := tensor.Elements(info.Shape)
	if err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if len(info.DataOffsets) != 2 {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must be [begin, end]", name)
	}
	b, e := info.DataOffsets[0], info.DataOffsets[1]
	if b < 0 || e < b || e > int64(len(body)) {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] fall outside the %d data bytes", name, b, e, len(body))
	}
	if e-b != int64(n)*int64(size) {
		return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", name, info.Shape, info.DType, int64(n)*int64(size), e-b)
	}
	raw := body[b:e]
	t := &tensor.Tensor{Shape: append([]int{}, info.Shape...)}
	if share && info.DType == "F32" {
		if d, ok := asFloats(raw); ok {
			t.Data = d
			return t, nil
		}
	}
	t.Data = make([]float32, n)
	switch d := t.Data; info.DType {
	case "F32": // a copy of the bytes (loading ResNet-50 spent 0.3 s converting them one by one)
		copy(floatBytes(d), raw)
		fromLittleEndian(d)
	case "F64":
		for i := range d {
			d[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case "BF16":
		for i := range d {
			d[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F16":
		for i := range d {
			d[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return t, nil
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: the value is frac * 2^-24.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// EncodeSafetensors writes tensors (as F32, in sorted order) and metadata
// in the safetensors format.
func EncodeSafetensors(w io.Writer, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	names := (&File{Tensors: tensors}).Names()
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		if size, err := tensor.Elements(t.Shape); err != nil || size != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v does not match its %d values", n, t.Shape, len(t.Data))
		}
		end := off + 4*int64(len(t.Data))
		header[n] = tensorInfo{DType: "F32", Shape: append([]int{}, t.Shape...), DataOffsets: []int64{off, end}}
		off = end
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 { // keeps the data 8-byte aligned, as the format recommends
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// WriteSafetensors writes a safetensors file atomically: to a temporary
// file in the same folder, synced, then renamed over path, so that a crash
// leaves either the old file or the new one, never half of one.
func WriteSafetensors(path string, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	return WriteAtomic(path, func(w io.Writer) error { return EncodeSafetensors(w, tensors, metadata) })
}

// WriteAtomic writes a file through write into a temporary file beside
// path and renames it into place once it is complete and synced.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// idxFile builds an IDX file of unsigned bytes.
func idxFile(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func write(t *testing.T, dir, name string, content []byte, gz bool) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(content)
		w.Close()
		content = b.Bytes()
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	pixels := make([]byte, 3*2*2)
	for i := range pixels {
		pixels[i] = byte(i * 10)
	}
	for _, gz := range []bool{false, true} {
		ext := map[bool]string{false: "", true: ".gz"}[gz]
		imgs := write(t, dir, "img"+ext, idxFile([]int{3, 2, 2}, pixels), gz)
		labs := write(t, dir, "lab"+ext, idxFile([]int{3}, []byte{2, 0, 1}), gz)
		m, err := ReadIDX(imgs, labs, nil)
		if err != nil {
			t.Fatal(err)
		}
		img, label, err := m.Example(1)
		if err != nil || label != 0 || !reflect.DeepEqual(img.Shape, []int{2, 2, 1}) || img.Data[0] != 40 {
			t.Errorf("gz=%v: example 1 = %v %v %v", gz, img, label, err)
		}
		if len(m.Classes()) != 3 {
			t.Errorf("classes %v", m.Classes())
		}
	}
}

func TestBadData(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good", idxFile([]int{2, 2, 2}, make([]byte, 8)), false)
	labels := write(t, dir, "labels", idxFile([]int{2}, []byte{0, 1}), false)
	full := idxFile([]int{2, 2, 2}, make([]byte, 8))
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"truncated IDX", func() error {
			_, err := ReadIDX(write(t, dir, "trunc", full[:len(full)-3], false), labels, nil)
			return err
		}, "truncated"},
		{"truncated gzip", func() error {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(full)
			w.Close()
			_, err := ReadIDX(write(t, dir, "trunc.gz", b.Bytes()[:b.Len()/2], false), labels, nil)
			return err
		}, "trunc.gz"},
		{"not IDX", func() error {
			_, err := ReadIDX(write(t, dir, "text", []byte("hello world"), false), labels, nil)
			return err
		}, "not an IDX file"},
		{"huge dims", func() error {
			_, err := ReadIDX(write(t, dir, "huge", idxFile([]int{1 << 20, 1 << 20, 1 << 20}, nil), false), labels, nil)
			return err
		}, "too large"},
		{"label count", func() error {
			_, err := ReadIDX(good, write(t, dir, "three", idxFile([]int{3}, []byte{0, 1, 2}), false), nil)
			return err
		}, "labels for 2 images"},
		{"label out of range", func() error {
			_, err := ReadIDX(good, write(t, dir, "big", idxFile([]int{2}, []byte{0, 12}), false), FashionMNISTClasses)
			return err
		}, "label 12 of example 1"},
		{"CIFAR partial record", func() error {
			_, err := ReadCIFAR([]string{write(t, dir, "batch.bin", make([]byte, 3073+100), false)}, false, nil)
			return err
		}, "not a whole number"},
		{"CIFAR label out of range", func() error {
			rec := make([]byte, 3073)
			rec[0] = 11
			_, err := ReadCIFAR([]string{write(t, dir, "b2.bin", rec, false)}, false, CIFAR10Classes)
			return err
		}, "label 11"},
		{"empty folder", func() error {
			os.MkdirAll(filepath.Join(dir, "empty", "cats"), 0o755)
			os.WriteFile(filepath.Join(dir, "empty", "cats", "notes.txt"), []byte("x"), 0o644)
			_, err := ReadFolder(filepath.Join(dir, "empty"), 8, 8, false)
			return err
		}, "no images"},
		{"unreadable image", func() error {
			root := filepath.Join(dir, "folder")
			os.MkdirAll(filepath.Join(root, "a"), 0o755)
			os.WriteFile(filepath.Join(root, "a", "broken.png"), []byte("not a png"), 0o644)
			f, err := ReadFolder(root, 8, 8, false)
			if err != nil {
				return err
			}
			_, _, err = f.Example(0)
			return err
		}, "broken.png"},
	}
	for _, tt := range tests {
		err := tt.run()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestReadFolder(t *testing.T) {
	root := t.TempDir()
	for _, class := range []string{"b_dogs", "a_cats"} {
		os.MkdirAll(filepath.Join(root, class), 0o755)
		for _, n := range []string{"1.png", "2.png"} {
			f, _ := os.Create(filepath.Join(root, class, n))
			png.Encode(f, image.NewGray(image.Rect(0, 0, 5, 3)))
			f.Close()
		}
	}
	f, err := ReadFolder(root, 4, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Classes(), []string{"a_cats", "b_dogs"}) || f.Len() != 4 {
		t.Errorf("classes %v, %d images", f.Classes(), f.Len())
	}
	img, label, err := f.Example(3)
	if err != nil || label != 1 || !reflect.DeepEqual(img.Shape, []int{4, 6, 1}) {
		t.Errorf("example 3: %v %v %v", img.Shape, label, err)
	}
}

func TestLoaderIsDeterministic(t *testing.T) {
	m := &Memory{H: 4, W: 4, C: 1, Names: []string{"a", "b"}}
	for i := 0; i < 10; i++ {
		m.Pixels = append(m.Pixels, bytes.Repeat([]byte{byte(i * 20)}, 16)...)
		m.Labels = append(m.Labels, i%2)
	}
	run := func(workers int) [][]float32 {
		l := &Loader{Data: m, Batch: 4, Shuffle: true, Seed: 3, Augment: []Augment{PadCrop(1), Flip()}, Workers: workers}
		it := l.Epoch(2)
		defer it.Close()
		var out [][]float32
		for {
			b, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				return out
			}
			out = append(out, b.X.Data)
		}
	}
	a, b := run(1), run(4)
	if len(a) != 3 || !reflect.DeepEqual(a, b) {
		t.Error("the same seed and epoch gave different batches")
	}
	l := &Loader{Data: m, Batch: 4, Shuffle: true, Seed: 3}
	if reflect.DeepEqual(l.Order(0), l.Order(1)) {
		t.Error("two epochs share an order")
	}
}

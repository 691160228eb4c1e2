package data

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/resnet-go/resnet/tensor"
)

// Dataset is a labelled set of images, read by index.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Example returns image i as an (H, W, C) tensor with values in
	// [0, 255] and its label.
	Example(i int) (*tensor.Tensor, int, error)
	// Classes names the labels; len(Classes()) is the number of classes.
	Classes() []string
}

// Memory is a dataset held as bytes: N images of H x W x C, as IDX and
// CIFAR files store them, plus labels.
type Memory struct {
	H, W, C int
	Pixels  []byte // N*H*W*C, HWC order
	Labels  []int
	Names   []string
}

// Len is the number of examples.
func (m *Memory) Len() int { return len(m.Labels) }

// Classes names the labels.
func (m *Memory) Classes() []string { return m.Names }

// Example returns image i and its label.
func (m *Memory) Example(i int) (*tensor.Tensor, int, error) {
	if i < 0 || i >= len(m.Labels) {
		return nil, 0, fmt.Errorf("example %d out of range [0, %d)", i, len(m.Labels))
	}
	n := m.H * m.W * m.C
	t := tensor.New(m.H, m.W, m.C)
	for j, b := range m.Pixels[i*n : (i+1)*n] {
		t.Data[j] = float32(b)
	}
	return t, m.Labels[i], nil
}

// Subset returns the first n examples (all if n exceeds the size).
func (m *Memory) Subset(n int) *Memory {
	n = min(n, m.Len())
	s := m.H * m.W * m.C
	return &Memory{H: m.H, W: m.W, C: m.C, Pixels: m.Pixels[:n*s], Labels: m.Labels[:n], Names: m.Names}
}

// checkLabels reports the first label outside [0, classes).
func checkLabels(labels []int, classes int, file string) error {
	for i, l := range labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("%s: label %d of example %d is outside [0, %d)", file, l, i, classes)
		}
	}
	return nil
}

// open returns a reader of the file, decompressing .gz files, and the
// size limit for what it may produce.
func open(path string, limit int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(z, limit), f}, nil
}

// MaxIDXBytes bounds the data an IDX file may hold.
const MaxIDXBytes = 1 << 32

// readIDX reads an IDX file of unsigned bytes (MNIST's format): a magic
// number giving the element type and rank, the dimensions, then the data.
func readIDX(fsys fs.FS, path string) (dims []int, data []byte, err error) {
	var r io.ReadCloser
	if fsys == nil {
		r, err = open(path, MaxIDXBytes)
	} else {
		r, err = fsys.Open(path)
		if err == nil && strings.HasSuffix(path, ".gz") {
			var z *gzip.Reader
			if z, err = gzip.NewReader(r); err == nil {
				r = struct {
					io.Reader
					io.Closer
				}{io.LimitReader(z, MaxIDXBytes), r}
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil, fmt.Errorf("%s: reading the IDX header: %w", path, err)
	}
	if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4 {
		return nil, nil, fmt.Errorf("%s: not an IDX file of unsigned bytes (magic % x)", path, magic)
	}
	total := int64(1)
	for i := 0; i < int(magic[3]); i++ {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: reading dimension %d: %w", path, i, err)
		}
		if d == 0 || total*int64(d) > MaxIDXBytes {
			return nil, nil, fmt.Errorf("%s: dimension %d of size %d is empty or too large", path, i, d)
		}
		total *= int64(d)
		dims = append(dims, int(d))
	}
	data = make([]byte, total)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("%s: the header promises %d bytes of data: %w (truncated?)", path, total, err)
	}
	return dims, data, nil
}

// ReadIDX reads an MNIST-style pair of IDX files (images N x H x W, labels
// N), gzipped or not, into a dataset of one-channel images.
func ReadIDX(imagesPath, labelsPath string, classes []string) (*Memory, error) {
	return ReadIDXFS(nil, imagesPath, labelsPath, classes)
}

// ReadIDXFS is ReadIDX on files of fsys (the operating system's when nil).
func ReadIDXFS(fsys fs.FS, imagesPath, labelsPath string, classes []string) (*Memory, error) {
	dims, pixels, err := readIDX(fsys, imagesPath)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("%s: images must have 3 dimensions (N, H, W), got %v", imagesPath, dims)
	}
	ldims, lab, err := readIDX(fsys, labelsPath)
	if err != nil {
		return nil, err
	}
	if len(ldims) != 1 || ldims[0] != dims[0] {
		return nil, fmt.Errorf("%s: %v labels for %d images in %s", labelsPath, ldims, dims[0], imagesPath)
	}
	m := &Memory{H: dims[1], W: dims[2], C: 1, Pixels: pixels, Labels: make([]int, len(lab)), Names: classes}
	for i, b := range lab {
		m.Labels[i] = int(b)
	}
	if len(classes) == 0 {
		m.Names = numberedClasses(m.Labels)
	}
	return m, checkLabels(m.Labels, len(m.Names), labelsPath)
}

func numberedClasses(labels []int) []string {
	n := 0
	for _, l := range labels {
		n = max(n, l+1)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint(i)
	}
	return names
}

// FashionMNISTClasses are Fashion-MNIST's ten class names.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// CIFAR10Classes are CIFAR-10's ten class names.
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// ReadCIFAR reads CIFAR binary batch files: records of one label byte
// (CIFAR-10) or two (CIFAR-100: coarse then fine; fine is used) followed by
// a 32x32 image stored channel by channel.
func ReadCIFAR(paths []string, cifar100 bool, classes []string) (*Memory, error) {
	labelBytes := 1
	if cifar100 {
		labelBytes = 2
	}
	const px = 32 * 32
	rec := labelBytes + 3*px
	m := &Memory{H: 32, W: 32, C: 3, Names: classes}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.Size()%int64(rec) != 0 || st.Size() > MaxIDXBytes {
			return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte CIFAR records", p, st.Size(), rec)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for off := 0; off < len(raw); off += rec {
			m.Labels = append(m.Labels, int(raw[off+labelBytes-1]))
			img := raw[off+labelBytes : off+rec]
			for i := 0; i < px; i++ { // CHW -> HWC
				m.Pixels = append(m.Pixels, img[i], img[px+i], img[2*px+i])
			}
		}
	}
	if len(m.Names) == 0 {
		m.Names = numberedClasses(m.Labels)
	}
	return m, checkLabels(m.Labels, len(m.Names), strings.Join(paths, ", "))
}

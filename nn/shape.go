package nn

import (
	"strconv"
	"strings"
)

// Unknown marks a dimension whose size is not known while building, shown by
// Keras as None (for example the height of an image model built without a
// fixed input size).
const Unknown = -1

// Shape is the shape of a symbolic tensor without its batch dimension.
// A dimension may be Unknown.
type Shape []int

// Known reports whether every dimension has a fixed size.
func (s Shape) Known() bool {
	for _, d := range s {
		if d == Unknown {
			return false
		}
	}
	return true
}

// Size is the number of elements per example, or Unknown if any dimension
// is unknown.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		if d == Unknown {
			return Unknown
		}
		n *= d
	}
	return n
}

// Equal reports whether s and t have the same rank and dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// String formats the shape with its batch dimension the way Keras prints a
// Python tuple, e.g. "(None, 56, 56, 256)".
func (s Shape) String() string {
	var b strings.Builder
	b.WriteString("(None")
	for _, d := range s {
		b.WriteString(", ")
		b.WriteString(dimString(d))
	}
	b.WriteString(")")
	return b.String()
}

func (s Shape) clone() Shape { return append(Shape(nil), s...) }

func dimString(d int) string {
	if d == Unknown {
		return "None"
	}
	return strconv.Itoa(d)
}

// DataFormat says where the channel axis of an image tensor is.
type DataFormat int

const (
	// ChannelsLast is (height, width, channels), Keras' default and the
	// layout the kernels run on.
	ChannelsLast DataFormat = iota
	// ChannelsFirst is (channels, height, width), PyTorch's layout.
	ChannelsFirst
)

// String returns Keras' name for the format.
func (f DataFormat) String() string {
	if f == ChannelsFirst {
		return "channels_first"
	}
	return "channels_last"
}

// hwc returns height, width and channels of a rank-3 image shape.
func (f DataFormat) hwc(s Shape) (h, w, c int) {
	if f == ChannelsFirst {
		return s[1], s[2], s[0]
	}
	return s[0], s[1], s[2]
}

// image builds a rank-3 image shape from height, width and channels.
func (f DataFormat) image(h, w, c int) Shape {
	if f == ChannelsFirst {
		return Shape{c, h, w}
	}
	return Shape{h, w, c}
}

// Package tensor is the dense float32 tensor the models compute on: a shape
// and a contiguous row-major slice of values. Images are NHWC.
package tensor

import (
	"fmt"
	"math"
)

// MaxElements bounds the size of one tensor (4 GiB of float32), so that a
// shape read from a hostile file cannot ask for an absurd allocation.
const MaxElements = 1 << 30

// Tensor is a shape and its values in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Elements returns the number of values a shape holds, or an error if a
// dimension is negative or the total exceeds MaxElements.
func Elements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d > 0 && n > MaxElements/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, MaxElements)
		}
		n *= d
	}
	return n, nil
}

// New returns a zero tensor of the given shape. It panics on a shape that
// Elements rejects; use Zeros for shapes from outside the program.
func New(shape ...int) *Tensor {
	t, err := Zeros(shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// Zeros returns a zero tensor of the given shape.
func Zeros(shape ...int) (*Tensor, error) {
	n, err := Elements(shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, n)}, nil
}

// FromData wraps data (not copied) as a tensor of the given shape.
func FromData(data []float32, shape ...int) (*Tensor, error) {
	n, err := Elements(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("shape %v holds %d values, got %d", shape, n, len(data))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}, nil
}

// Len is the number of values.
func (t *Tensor) Len() int { return len(t.Data) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// SameShape reports whether t and u have equal shapes.
func (t *Tensor) SameShape(u *Tensor) bool {
	if len(t.Shape) != len(u.Shape) {
		return false
	}
	for i := range t.Shape {
		if t.Shape[i] != u.Shape[i] {
			return false
		}
	}
	return true
}

// Finite returns the index of the first NaN or infinite value, or -1.
func (t *Tensor) Finite() int {
	for i, v := range t.Data {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // exponent all ones: Inf or NaN
			return i
		}
	}
	return -1
}

// MaxAbsDiff returns the largest absolute difference between t and u and the
// largest absolute value of u (the scale to judge it by).
func MaxAbsDiff(t, u *Tensor) (diff, scale float64, err error) {
	if !t.SameShape(u) {
		return 0, 0, fmt.Errorf("shapes %v and %v differ", t.Shape, u.Shape)
	}
	for i := range t.Data {
		diff = math.Max(diff, math.Abs(float64(t.Data[i])-float64(u.Data[i])))
		scale = math.Max(scale, math.Abs(float64(u.Data[i])))
	}
	return diff, scale, nil
}

// Transpose permutes the axes: result axis i is t's axis perm[i].
func (t *Tensor) Transpose(perm ...int) (*Tensor, error) {
	r := len(t.Shape)
	if len(perm) != r {
		return nil, fmt.Errorf("transpose of rank %d needs %d axes, got %v", r, r, perm)
	}
	seen := make([]bool, r)
	shape := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("%v is not a permutation of %d axes", perm, r)
		}
		seen[p] = true
		shape[i] = t.Shape[p]
	}
	stride := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = s
		s *= t.Shape[i]
	}
	out := New(shape...)
	idx := make([]int, r)
	for o := range out.Data {
		src := 0
		for i := range idx {
			src += idx[i] * stride[perm[i]]
		}
		out.Data[o] = t.Data[src]
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

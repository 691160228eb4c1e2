package tensor

import (
	"math"
	"testing"
)

func TestElements(t *testing.T) {
	for _, tt := range []struct {
		shape []int
		n     int
		ok    bool
	}{
		{[]int{}, 1, true},
		{[]int{2, 3}, 6, true},
		{[]int{0, 5}, 0, true},
		{[]int{-1}, 0, false},
		{[]int{1 << 20, 1 << 20}, 0, false},
		{[]int{1 << 40, 1 << 40, 0}, 0, false},
	} {
		n, err := Elements(tt.shape)
		if (err == nil) != tt.ok || (tt.ok && n != tt.n) {
			t.Errorf("Elements(%v) = %d, %v", tt.shape, n, err)
		}
	}
}

func TestTranspose(t *testing.T) {
	x, _ := FromData([]float32{0, 1, 2, 3, 4, 5}, 2, 3)
	y, err := x.Transpose(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 3, 1, 4, 2, 5}
	for i := range want {
		if y.Data[i] != want[i] || y.Shape[0] != 3 {
			t.Fatalf("transpose = %v %v", y.Shape, y.Data)
		}
	}
	// NCHW -> NHWC -> NCHW is the identity.
	z := New(2, 3, 4, 5)
	for i := range z.Data {
		z.Data[i] = float32(i)
	}
	a, _ := z.Transpose(0, 2, 3, 1)
	b, _ := a.Transpose(0, 3, 1, 2)
	if d, _, _ := MaxAbsDiff(z, b); d != 0 {
		t.Error("round trip changed the tensor")
	}
	if _, err := z.Transpose(0, 0, 1, 2); err == nil {
		t.Error("a repeated axis was accepted")
	}
}

func TestFiniteAndFromData(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		data []float32
		want int
	}{
		{[]float32{1, float32(math.NaN())}, 1},
		{[]float32{0, -inf, 2}, 1},
		{[]float32{inf}, 0},
		{[]float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 0, float32(math.Copysign(0, -1))}, -1},
		{[]float32{3, 4, math.Float32frombits(0x7f800001)}, 2}, // a signalling NaN
		{nil, -1},
	} {
		x := &Tensor{Shape: []int{len(tc.data)}, Data: tc.data}
		if got := x.Finite(); got != tc.want {
			t.Errorf("Finite(%v) = %d, want %d", tc.data, got, tc.want)
		}
	}
	if _, err := FromData(make([]float32, 5), 2, 3); err == nil {
		t.Error("5 values accepted for shape (2, 3)")
	}
}

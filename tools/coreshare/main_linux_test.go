package main

import (
	"slices"
	"strings"
	"testing"
)

func TestInts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{in: "0,1", want: []int{0, 1}},
		{in: " 2, 16 ", want: []int{2, 16}},
		{in: "8", want: []int{8}},
		{in: "", err: "-mb"},
		{in: "1,x", err: `"1,x"`},
		{in: "-1", err: "non-negative"},
	} {
		got, err := ints("mb", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ints(%q) = %v, %v; want an error naming %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ints(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// touch reads every line: a buffer of one value per line sums to its length.
func TestTouchReadsEveryLine(t *testing.T) {
	a := make([]float32, 16*100)
	for i := 0; i < len(a); i += 16 {
		a[i] = 1
	}
	before := sink
	touch(a)
	if got := sink - before; got != 100 {
		t.Errorf("touch summed %v, want 100", got)
	}
}

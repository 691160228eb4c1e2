package nn

import (
	"bytes"
	"strings"
	"testing"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Conv2D":                 "conv2d",
		"BatchNormalization":     "batch_normalization",
		"MaxPooling2D":           "max_pooling2d",
		"GlobalAveragePooling2D": "global_average_pooling2d",
		"ZeroPadding2D":          "zero_padding2d",
		"Dense":                  "dense",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAutoNames(t *testing.T) {
	x := Input(Shape{8, 8, 3})
	a := Conv2D(x, 4, 3)
	b := Conv2D(a, 4, 3, Padding("same"))
	c := MaxPooling2D(b, 2)
	got := []string{x.Layer().Name(), a.Layer().Name(), b.Layer().Name(), c.Layer().Name()}
	if strings.Join(got, " ") != "input_1 conv2d conv2d_1 max_pooling2d" {
		t.Errorf("names %v", got)
	}
}

// Shapes follow Keras' conv_output_length.
func TestShapes(t *testing.T) {
	x := Input(Shape{15, 16, 6})
	tests := []struct {
		got  *Tensor
		want Shape
		macs int64
	}{
		{Conv2D(x, 8, 3), Shape{13, 14, 8}, 13 * 14 * 8 * 9 * 6},
		{Conv2D(x, 8, 3, Padding("same"), Strides(2)), Shape{8, 8, 8}, 8 * 8 * 8 * 9 * 6},
		{Conv2D(x, 8, 3, Dilation(2)), Shape{11, 12, 8}, 11 * 12 * 8 * 9 * 6},
		{Conv2D(x, 8, 3, Groups(2), Strides(2, 1)), Shape{7, 14, 8}, 7 * 14 * 8 * 9 * 3},
		{ZeroPadding2D(x, 0, Pads(1, 2, 3, 4)), Shape{18, 23, 6}, 0},
		{MaxPooling2D(x, 2), Shape{7, 8, 6}, 0},
		{AveragePooling2D(x, 3, Strides(2), Padding("same")), Shape{8, 8, 6}, 0},
		{GlobalMaxPooling2D(x), Shape{6}, 0},
		{Flatten(x), Shape{15 * 16 * 6}, 0},
		{Dense(x, 5), Shape{15, 16, 5}, 15 * 16 * 6 * 5},
		{PaddedIdentity(x, 10, 2), Shape{8, 8, 10}, 0},
		{BatchNormalization(x, Axis(1)), Shape{15, 16, 6}, 0},
	}
	for i, tt := range tests {
		if tt.got.Layer().failed {
			t.Errorf("case %d (%s) failed: %v", i, tt.got.Layer().Class(), x.g.err())
			continue
		}
		if !tt.got.Shape().Equal(tt.want) || tt.got.Layer().MACs() != tt.macs {
			t.Errorf("case %d (%s): shape %v, macs %d; want %v, %d", i, tt.got.Layer().Class(),
				tt.got.Shape(), tt.got.Layer().MACs(), tt.want, tt.macs)
		}
	}
	if ws := tests[11].got.Layer().Weights(); ws[0].Shape[0] != 15 {
		t.Errorf("BatchNormalization on axis 1 has %v weights, want 15", ws[0].Shape)
	}
	if ws := tests[3].got.Layer().Weights(); !Shape(ws[0].Shape).Equal(Shape{3, 3, 3, 8}) {
		t.Errorf("grouped kernel %v, want (3, 3, 3, 8)", ws[0].Shape)
	}
}

func TestChannelsFirstLayers(t *testing.T) {
	x := Input(Shape{3, 32, 30}, Format(ChannelsFirst))
	y := Conv2D(x, 8, 3, Strides(2))
	z := BatchNormalization(y)
	p := GlobalAveragePooling2D(z)
	if !y.Shape().Equal(Shape{8, 15, 14}) || !p.Shape().Equal(Shape{8}) {
		t.Errorf("shapes %v %v", y.Shape(), p.Shape())
	}
	if w := z.Layer().Weights()[0]; w.Shape[0] != 8 {
		t.Errorf("BatchNormalization normalises %d features, want 8 channels", w.Shape[0])
	}
}

func TestBuildErrors(t *testing.T) {
	other := Input(Shape{4})
	tests := []struct {
		name  string
		build func(x *Tensor) *Tensor
		want  string
	}{
		{"negative size", func(x *Tensor) *Tensor { return Conv2D(x, 4, 9, Name("big")) }, `"big" (Conv2D): input (None, 8, 8, 3) is too small`},
		{"zero filters", func(x *Tensor) *Tensor { return Conv2D(x, 0, 3, Name("c")) }, "filters 0"},
		{"bad padding", func(x *Tensor) *Tensor { return Conv2D(x, 4, 3, Padding("full"), Name("c")) }, `padding "full"`},
		{"bad strides", func(x *Tensor) *Tensor { return Conv2D(x, 4, 3, Strides(1, 2, 3), Name("c")) }, "strides"},
		{"groups", func(x *Tensor) *Tensor { return Conv2D(x, 4, 3, Groups(2), Name("g")) }, "groups 2"},
		{"misplaced option", func(x *Tensor) *Tensor { return Dense(Flatten(x), 3, Strides(2), Name("d")) }, "option Strides does not apply to Dense"},
		{"rank", func(x *Tensor) *Tensor { return MaxPooling2D(Flatten(x), 2, Name("p")) }, "rank-3"},
		{"add shapes", func(x *Tensor) *Tensor {
			return Add([]*Tensor{x, Conv2D(x, 5, 1)}, Name("sum"))
		}, `"sum" (Add): inputs must have the same shape`},
		{"add one input", func(x *Tensor) *Tensor { return Add([]*Tensor{x}, Name("sum")) }, "at least 2"},
		{"other graph", func(x *Tensor) *Tensor { return Add([]*Tensor{Flatten(x), other}, Name("sum")) }, "another graph"},
		{"nil input", func(x *Tensor) *Tensor { return Add([]*Tensor{x, nil}, Name("sum")) }, "input 1 is nil"},
		{"activation", func(x *Tensor) *Tensor { return Activation(x, "swish", Name("a")) }, `"swish"`},
		{"bn axis", func(x *Tensor) *Tensor { return BatchNormalization(x, Axis(4), Name("bn")) }, "axis 4"},
		{"duplicate", func(x *Tensor) *Tensor {
			return Activation(Activation(x, "relu", Name("r")), "relu", Name("r"))
		}, `"r" (Activation): the name is already used`},
		{"padded identity", func(x *Tensor) *Tensor { return PaddedIdentity(x, 4, 2, Name("s")) }, "evenly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Input(Shape{8, 8, 3})
			_, err := NewModel("m", []*Tensor{x}, []*Tensor{tt.build(x)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// One mistake is reported once, not by every layer after it.
func TestErrorsDoNotCascade(t *testing.T) {
	x := Input(Shape{8, 8, 3})
	y := Conv2D(x, 4, 11, Name("first"))
	for i := 0; i < 5; i++ {
		y = Conv2D(y, 4, 3)
	}
	_, err := NewModel("m", []*Tensor{x}, []*Tensor{y})
	if err == nil || strings.Count(err.Error(), "layer") != 1 {
		t.Errorf("error %v, want exactly one layer named", err)
	}
}

func TestDisconnected(t *testing.T) {
	a := Input(Shape{4}, Name("a"))
	b := Input(Shape{4}, Name("b"))
	_, err := NewModel("m", []*Tensor{a}, []*Tensor{Dense(b, 2)})
	if err == nil || !strings.Contains(err.Error(), "another graph") {
		t.Errorf("error %v", err)
	}
	if _, err := NewModel("m", []*Tensor{Dense(a, 2)}, []*Tensor{a}); err == nil {
		t.Error("a non-input layer was accepted as an input")
	}
	if _, err := NewModel("m", nil, []*Tensor{a}); err == nil {
		t.Error("a model without inputs was accepted")
	}
}

func TestRowCutsLikeKeras(t *testing.T) {
	var b bytes.Buffer
	row(&b, []string{"conv2_block1_1_bn (BatchNormalization)", "[(None, 224, 224, 3)]", "256", "x[0][0]"}, []int{32, 53, 65, 98})
	want := "conv2_block1_1_bn (BatchNormali [(None, 224, 224, 3) 256         x[0][0]"
	if got := b.String(); got != want+strings.Repeat(" ", 98-len(want))+"\n" {
		t.Errorf("row\n got %q\nwant %q", got, want)
	}
}

// A model without branches prints Keras' narrow three-column table.
func TestSequentialSummary(t *testing.T) {
	x := Input(Shape{28, 28, 1})
	y := Conv2D(x, 8, 3, Name("conv"))
	y = Flatten(y, Name("flat"))
	y = Dense(y, 10, WithActivation("softmax"), Name("out"))
	m, err := NewModel("seq", []*Tensor{x}, []*Tensor{y})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := m.Summary(&b, Keras2); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if lines[1] != strings.Repeat("_", 65) {
		t.Errorf("rule %q", lines[1])
	}
	want := "conv (Conv2D)                (None, 26, 26, 8)         80        "
	if lines[6] != want {
		t.Errorf("row\n got %q\nwant %q", lines[6], want)
	}
	if !strings.Contains(b.String(), "Total params: 54,170\n") {
		t.Errorf("totals missing:\n%s", b.String())
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 25636712: "25,636,712", -53120: "-53,120"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("conv2_block1_0_bn[0][0], conv2_block1_3_bn[0][0]", 26)
	if strings.Join(got, "|") != "conv2_block1_0_bn[0][0],|conv2_block1_3_bn[0][0]" {
		t.Errorf("wrap: %q", got)
	}
	if got := wrap("abcdefghij", 4); strings.Join(got, "|") != "abcd|efgh|ij" {
		t.Errorf("fold: %q", got)
	}
}

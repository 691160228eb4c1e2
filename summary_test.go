package resnet

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/resnet-go/resnet/nn"
)

func summary(t *testing.T, m *nn.Model, style nn.SummaryStyle) []string {
	t.Helper()
	var b bytes.Buffer
	if err := m.Summary(&b, style); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// The excerpt of Keras' ResNet50 summary in REFERENCE.md: its header and
// totals are our first and last lines, and each of its rows (with its
// continuation lines) stands in our table in the same order.
func TestKeras2SummaryMatchesReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/resnet50_summary_excerpt.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	got := summary(t, mustBuild(t, "resnet50"), nn.Keras2)

	for i := 0; i < 4; i++ {
		if got[i] != want[i] {
			t.Errorf("header line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
	for i := 1; i <= 5; i++ {
		if g, w := got[len(got)-i], want[len(want)-i]; g != w {
			t.Errorf("footer line -%d:\n got %q\nwant %q", i, g, w)
		}
	}
	// Group the excerpt's rows between rules and find each group in order.
	var groups [][]string
	var cur []string
	for _, l := range want[4 : len(want)-5] {
		if strings.Trim(l, "_=") == "" {
			if cur != nil {
				groups = append(groups, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	if cur != nil {
		groups = append(groups, cur)
	}
	if len(groups) < 5 {
		t.Fatalf("excerpt has only %d rows", len(groups))
	}
	pos := 0
	for _, g := range groups {
		found := false
		for ; pos+len(g) <= len(got); pos++ {
			if strings.Join(got[pos:pos+len(g)], "\n") == strings.Join(g, "\n") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("row not found in order:\n%s", strings.Join(g, "\n"))
			return
		}
		if strings.Trim(got[pos-1], "_=") != "" || strings.Trim(got[pos+len(g)], "_=") != "" {
			t.Errorf("row %q is not framed by rules", g[0])
		}
	}
	for i, l := range got[1 : len(got)-4] {
		if len(l) != 98 {
			t.Errorf("line %d is %d characters, want 98: %q", i+1, len(l), l)
		}
	}
	// One row (plus continuation) per layer and one rule after each.
	rows := 0
	for _, l := range got {
		if strings.HasPrefix(l, "___") || strings.HasPrefix(l, "===") {
			rows++
		}
	}
	if want := len(mustBuild(t, "resnet50").Layers()) + 3; rows != want {
		t.Errorf("%d rules, want %d", rows, want)
	}
}

func TestKeras3Summary(t *testing.T) {
	got := summary(t, mustBuild(t, "resnet50"), nn.Keras3)
	if got[0] != `Model: "resnet50"` {
		t.Errorf("first line %q", got[0])
	}
	for i, l := range got[1 : len(got)-3] {
		if n := utf8.RuneCountInString(l); n != 108 {
			t.Fatalf("table line %d is %d wide, want 108: %q", i+1, n, l)
		}
	}
	tail := strings.Join(got[len(got)-3:], "\n")
	want := " Total params: 25,636,712 (97.80 MB)\n Trainable params: 25,583,592 (97.59 MB)\n Non-trainable params: 53,120 (207.50 KB)"
	if tail != want {
		t.Errorf("totals:\n%s\nwant\n%s", tail, want)
	}
	joined := strings.Join(got, "\n")
	for _, s := range []string{"┃ Layer (type)", "│ predictions (Dense)", "2,049,000 │", "│ conv2_block1_0_bn[0][0],", "│ conv2_block1_3_bn[0][0]"} {
		if !strings.Contains(joined, s) {
			t.Errorf("Keras 3 table lacks %q", s)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	m := mustBuild(t, "resnet50")
	var b bytes.Buffer
	if err := m.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Name         string `json:"name"`
		Total        int    `json:"total"`
		Trainable    int    `json:"trainable"`
		NonTrainable int    `json:"non_trainable"`
		MACs         int64  `json:"macs"`
		Layers       []struct {
			Name        string   `json:"name"`
			Class       string   `json:"class"`
			OutputShape []any    `json:"output_shape"`
			Params      int      `json:"params"`
			Inbound     []string `json:"inbound"`
		} `json:"layers"`
	}
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "resnet50" || s.Total != 25_636_712 || s.Trainable != 25_583_592 || s.NonTrainable != 53_120 || s.MACs != 3_857_973_248 {
		t.Errorf("totals %+v", s)
	}
	if len(s.Layers) != 177 {
		t.Fatalf("%d layers", len(s.Layers))
	}
	for _, l := range s.Layers {
		if l.Name != "conv2_block1_add" {
			continue
		}
		if l.Class != "Add" || len(l.OutputShape) != 4 || l.OutputShape[0] != nil || l.OutputShape[3] != float64(256) ||
			strings.Join(l.Inbound, ",") != "conv2_block1_0_bn,conv2_block1_3_bn" {
			t.Errorf("conv2_block1_add: %+v", l)
		}
	}
	if s.Layers[0].Inbound == nil || len(s.Layers[0].Inbound) != 0 {
		t.Errorf("the input layer's inbound should be an empty list, got %v", s.Layers[0].Inbound)
	}
}

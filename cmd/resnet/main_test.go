package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestSummaryCommand(t *testing.T) {
	code, out, errOut := runCLI("summary", "resnet50")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{`Model: "resnet50"`, "Total params: 25,636,712", "Multiply-adds: 3,857,973,248 (3.858 G"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	code, out, _ = runCLI("summary", "resnet50", "--flavor", "torch", "--style", "keras3", "--classes", "10")
	if code != 0 || !strings.Contains(out, "┏") || !strings.Contains(out, "(None, 10)") {
		t.Errorf("keras3 torch summary: exit %d\n%s", code, out)
	}
}

func TestSummaryJSONCommand(t *testing.T) {
	code, out, errOut := runCLI("summary", "--json", "resnet18", "--flavor=torch", "--no-top", "--pooling", "avg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s struct {
		Name      string `json:"name"`
		Trainable int    `json:"trainable"`
		MACs      int64  `json:"macs"`
		Layers    []struct {
			Name string `json:"name"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	// torchvision's resnet18 without its fc layer (512*1000 + 1000).
	if s.Name != "resnet18" || s.Trainable != 11_689_512-513_000 || s.Layers[len(s.Layers)-1].Name != "avg_pool" {
		t.Errorf("got %s with %d trainable parameters ending in %s", s.Name, s.Trainable, s.Layers[len(s.Layers)-1].Name)
	}
}

func TestListCommand(t *testing.T) {
	code, out, errOut := runCLI("list", "--json", "--flavor", "torch")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	found := map[string]listEntry{}
	for _, e := range entries {
		found[e.Name] = e
	}
	for _, name := range []string{"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2",
		"resnet152v2", "resnext50_32x4d", "resnext101_32x8d", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"} {
		if _, ok := found[name]; !ok {
			t.Errorf("list lacks %s", name)
		}
	}
	if e := found["resnet50"]; e.Trainable != 25_557_032 || e.GMACs < 4.089 || e.GMACs >= 4.0895 {
		t.Errorf("resnet50 entry %+v", e)
	}
	code, out, _ = runCLI("list")
	if code != 0 || !strings.Contains(out, "resnet50 ") || !strings.Contains(out, "25,636,712") {
		t.Errorf("text list: exit %d\n%s", code, out)
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"summary"}, 2, "exactly one architecture"},
		{[]string{"summary", "resnet51"}, 1, `unknown architecture "resnet51"`},
		{[]string{"summary", "resnet50", "--classes", "0"}, 2, "--classes must be at least 1"},
		{[]string{"summary", "resnet50", "--classes", "-5"}, 2, "--classes"},
		{[]string{"summary", "resnet50", "--input", "16,16,3"}, 1, "at least 32x32"},
		{[]string{"summary", "resnet50", "--input", "224,224"}, 1, "3 dimensions"},
		{[]string{"summary", "resnet50", "--input", "224,x,3"}, 2, `--input "224,x,3"`},
		{[]string{"summary", "resnet50", "--no-top", "--pooling", "mean"}, 2, `--pooling "mean"`},
		{[]string{"summary", "resnet50", "--pooling", "avg"}, 2, "only with --no-top"},
		{[]string{"summary", "resnet50", "--flavor", "caffe"}, 2, "--flavor"},
		{[]string{"summary", "resnet50", "--style", "keras4"}, 2, "--style"},
		{[]string{"summary", "resnet50", "--bogus"}, 2, "bogus"},
		{[]string{"list", "extra"}, 2, "takes no arguments"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("resnet %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, _, errOut := runCLI("summary", "-h")
	if code != 0 || !strings.Contains(errOut, "-flavor") || !strings.Contains(errOut, "-no-top") {
		t.Errorf("summary -h: exit %d\n%s", code, errOut)
	}
}

func TestBenchCommand(t *testing.T) {
	code, out, errOut := runCLI("bench", "--model", "resnet20", "--batch", "2", "--seconds", "0", "--runs", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model", "batch", "threads", "mode", "images_per_sec", "gflops"} {
		if _, ok := r[k]; !ok {
			t.Errorf("bench JSON lacks %q: %s", k, out)
		}
	}
	if len(r) != 6 || r["mode"] != "infer" || r["images_per_sec"].(float64) <= 0 {
		t.Errorf("bench JSON %s", out)
	}
	code, out, errOut = runCLI("bench", "--model", "resnet20", "--batch", "4", "--seconds", "0", "--runs", "1", "--train")
	if code != 0 || !strings.Contains(out, "train, batch 4") || !strings.Contains(out, "images/s") {
		t.Errorf("train bench: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI("bench", "--batch", "0"); code != 2 || !strings.Contains(errOut, "--batch") {
		t.Errorf("--batch 0: exit %d %s", code, errOut)
	}
}

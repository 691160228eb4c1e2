package resnet

import (
	"testing"

	"github.com/resnet-go/resnet/internal/goldens"
	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
	"github.com/resnet-go/resnet/weights"
)

func torchWeights(t *testing.T, m *nn.Model) {
	t.Helper()
	if err := goldens.TorchWeights(m); err != nil {
		t.Fatal(err)
	}
}

// checkGolden runs m on the golden's input and compares the logits and
// every stored intermediate output with PyTorch's.
func checkGolden(t *testing.T, m *nn.Model, golden string) {
	t.Helper()
	g, err := weights.ReadSafetensors("testdata/golden/" + golden + ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var taps []string
	outs := []*nn.Tensor{m.Outputs()[0]}
	for name := range g.Tensors {
		if name == "input" || name == "logits" {
			continue
		}
		l, err := m.Layer(name)
		if err != nil {
			t.Fatal(err)
		}
		taps = append(taps, name)
		outs = append(outs, l.Output())
	}
	sub, err := nn.NewModel("taps", m.Inputs(), outs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sub.Predict(g.Tensors["input"])
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range append([]string{"logits"}, taps...) {
		want := g.Tensors[name]
		have := &tensor.Tensor{Shape: want.Shape, Data: got[i].Data}
		if len(got[i].Data) != len(want.Data) {
			t.Fatalf("%s: %v values, golden %v", name, got[i].Shape, want.Shape)
		}
		diff, scale, _ := tensor.MaxAbsDiff(have, want)
		t.Logf("%s %-18s max |error| %.3g, scale %.4g, relative %.2g", golden, name, diff, scale, diff/scale)
		if diff > 1e-4*scale {
			t.Errorf("%s: %s differs from PyTorch by %g (scale %g)", golden, name, diff, scale)
		}
	}
	checkPlanGolden(t, m, golden, g)
}

// checkPlanGolden compares the compiled plan's logits with PyTorch's, with
// the default choice of algorithms, matrix products only and Winograd
// wherever it applies.
func checkPlanGolden(t *testing.T, m *nn.Model, golden string, g *weights.File) {
	t.Helper()
	for _, mode := range []struct {
		name string
		opts []nn.CompileOption
	}{{"default", nil}, {"matrix products", []nn.CompileOption{nn.NoWinograd()}}, {"Winograd", []nn.CompileOption{nn.ForceWinograd()}}} {
		plan, err := m.Compile(mode.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := plan.Predict(g.Tensors["input"])
		if err != nil {
			t.Fatal(err)
		}
		want := g.Tensors["logits"]
		diff, scale, err := tensor.MaxAbsDiff(&tensor.Tensor{Shape: want.Shape, Data: got[0].Data}, want)
		t.Logf("%s plan (%s, %d Winograd layers) logits max |error| %.3g, relative %.2g", golden, mode.name, plan.WinogradLayers(g.Tensors["input"].Shape[0]), diff, diff/scale)
		if err != nil || diff > 1e-4*scale {
			t.Errorf("%s: the plan (%s) differs from PyTorch by %g (scale %g) %v", golden, mode.name, diff, scale, err)
		}
	}
}

func TestGoldenTorchvision(t *testing.T) {
	for _, arch := range []string{"resnet18", "resnet50", "resnext50_32x4d"} {
		t.Run(arch, func(t *testing.T) {
			m := mustBuild(t, arch, WithFlavor(Torch), InputShape(64, 64, 3), ClassifierActivation("linear"))
			torchWeights(t, m)
			checkGolden(t, m, arch)
		})
	}
}

// ResNet-20 loads the state dict torch itself wrote.
func TestGoldenCIFARResNet20(t *testing.T) {
	m := mustBuild(t, "resnet20", WithFlavor(Torch), ClassifierActivation("linear"))
	if err := weights.LoadTorchvision(m, "testdata/golden/resnet20_state_dict.safetensors"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, m, "resnet20")
}

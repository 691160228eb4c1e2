package weights

import (
	"slices"
	"strings"
	"testing"

	"github.com/resnet-go/resnet/tensor"
)

func TestTorchNames(t *testing.T) {
	for torch, keras := range map[string]string{
		"conv1.weight":                 "conv1_conv/kernel",
		"bn1.running_var":              "conv1_bn/moving_variance",
		"layer1.0.conv1.weight":        "conv2_block1_1_conv/kernel",
		"layer3.22.bn3.bias":           "conv4_block23_3_bn/beta",
		"layer2.0.downsample.0.weight": "conv3_block1_0_conv/kernel",
		"layer4.0.downsample.1.weight": "conv5_block1_0_bn/gamma",
		"layer4.2.bn2.running_mean":    "conv5_block3_2_bn/moving_mean",
		"fc.weight":                    "predictions/kernel",
		"fc.bias":                      "predictions/bias",
	} {
		got, err := KerasName(torch)
		if err != nil || got != keras {
			t.Errorf("KerasName(%s) = %s, %v; want %s", torch, got, err, keras)
		}
		back, err := TorchName(keras)
		if err != nil || back != torch {
			t.Errorf("TorchName(%s) = %s, %v; want %s", keras, back, err, torch)
		}
	}
	for _, bad := range []string{"encoder.weight", "layer1.0.conv1.running_mean", "layer1.0.relu.weight"} {
		if _, err := KerasName(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("KerasName(%s): %v", bad, err)
		}
	}
}

func TestFromTorchLayouts(t *testing.T) {
	k := tensor.New(4, 3, 2, 1) // (out, in, h, w)
	for i := range k.Data {
		k.Data[i] = float32(i)
	}
	fc := tensor.New(10, 4)
	got, err := FromTorch(map[string]*tensor.Tensor{"conv1.weight": k, "fc.weight": fc, "bn1.num_batches_tracked": tensor.New()})
	if err != nil {
		t.Fatal(err)
	}
	c := got["conv1_conv/kernel"]
	if !c.SameShape(tensor.New(2, 1, 3, 4)) || c.Data[1] != 6 { // kernel[0][0][0][1] = torch[1][0][0][0]
		t.Errorf("kernel %v %v", c.Shape, c.Data[:4])
	}
	if !got["predictions/kernel"].SameShape(tensor.New(4, 10)) || len(got) != 2 {
		t.Errorf("converted %v", got)
	}
	if _, err := FromTorch(map[string]*tensor.Tensor{"head.weight": fc}); err == nil {
		t.Error("a foreign key was accepted")
	}
}

// ToTorch undoes FromTorch on a real torchvision-layout state dict (the
// CIFAR ResNet-20 golden, written by tools/goldens.py): every key, shape
// and value comes back.
func TestToTorchInvertsFromTorch(t *testing.T) {
	f, err := ReadSafetensors("../testdata/golden/resnet20_state_dict.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	keras, err := FromTorch(f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ToTorch(keras)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for key, want := range f.Tensors {
		if batchesTracked.MatchString(key) {
			continue
		}
		kept++
		got := back[key]
		if got == nil || !got.SameShape(want) || !slices.Equal(got.Data, want.Data) {
			t.Errorf("%s: came back as %v", key, got)
		}
	}
	if len(back) != kept || kept < 60 {
		t.Errorf("%d tensors back for %d sent", len(back), kept)
	}
	if _, err := ToTorch(map[string]*tensor.Tensor{"head/kernel": tensor.New(2, 2)}); err == nil || !strings.Contains(err.Error(), "head/kernel") {
		t.Errorf("a foreign name: %v", err)
	}
}

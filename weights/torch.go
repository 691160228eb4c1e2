package weights

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// torchvision names a ResNet's tensors conv1, bn1, layerL.B.convK,
// layerL.B.bnK, layerL.B.downsample.{0,1} and fc; the Keras names of the
// torch flavour are conv1_conv, conv1_bn, conv{L+1}_block{B+1}_K_conv,
// ..._K_bn, ..._0_conv, ..._0_bn and predictions.
var (
	torchKey       = regexp.MustCompile(`^(?:(conv1|bn1|fc)|layer(\d+)\.(\d+)\.(?:(conv|bn)(\d)|downsample\.([01])))\.(weight|bias|running_mean|running_var)$`)
	batchesTracked = regexp.MustCompile(`(^|\.)num_batches_tracked$`)
	kerasKey       = regexp.MustCompile(`^(?:(conv1)_(conv|bn)|conv(\d+)_block(\d+)_(\d)_(conv|bn)|(predictions))/(kernel|bias|gamma|beta|moving_mean|moving_variance)$`)
)

var bnToKeras = map[string]string{"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
var bnToTorch = map[string]string{"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}

// KerasName maps a torchvision ResNet state-dict key to the Keras weight
// name of the torch flavour ("layer1.0.conv1.weight" ->
// "conv2_block1_1_conv/kernel").
func KerasName(key string) (string, error) {
	p := torchKey.FindStringSubmatch(key)
	if p == nil {
		return "", fmt.Errorf("torch key %q is not part of a torchvision ResNet", key)
	}
	leaf := p[7]
	var layer string
	isBN := false
	switch p[1] {
	case "conv1":
		layer = "conv1_conv"
	case "bn1":
		layer, isBN = "conv1_bn", true
	case "fc":
		layer = "predictions"
	default:
		stage, _ := strconv.Atoi(p[2])
		block, _ := strconv.Atoi(p[3])
		prefix := fmt.Sprintf("conv%d_block%d", stage+1, block+1)
		if p[6] != "" { // downsample.0 is the conv, downsample.1 the BatchNorm
			isBN = p[6] == "1"
			layer = prefix + "_0_conv"
			if isBN {
				layer = prefix + "_0_bn"
			}
		} else {
			isBN = p[4] == "bn"
			layer = fmt.Sprintf("%s_%s_%s", prefix, p[5], p[4])
		}
	}
	if isBN {
		return layer + "/" + bnToKeras[leaf], nil
	}
	switch leaf {
	case "weight":
		return layer + "/kernel", nil
	case "bias":
		return layer + "/bias", nil
	}
	return "", fmt.Errorf("torch key %q: %s belongs to BatchNorm, not to a convolution or fc", key, leaf)
}

// TorchName is KerasName's inverse.
func TorchName(name string) (string, error) {
	p := kerasKey.FindStringSubmatch(name)
	if p == nil {
		return "", fmt.Errorf("weight %q has no torchvision name", name)
	}
	leaf := p[8]
	var module string
	kind := p[2] + p[6]
	switch {
	case p[1] != "":
		module = "conv1"
		if kind == "bn" {
			module = "bn1"
		}
	case p[7] != "":
		module = "fc"
	default:
		stage, _ := strconv.Atoi(p[3])
		block, _ := strconv.Atoi(p[4])
		if stage < 2 || block < 1 {
			return "", fmt.Errorf("weight %q has no torchvision name", name)
		}
		module = fmt.Sprintf("layer%d.%d.%s%s", stage-1, block-1, kind, p[5])
		if p[5] == "0" {
			module = fmt.Sprintf("layer%d.%d.downsample.0", stage-1, block-1)
			if kind == "bn" {
				module = fmt.Sprintf("layer%d.%d.downsample.1", stage-1, block-1)
			}
		}
	}
	if kind == "bn" {
		return module + "." + bnToTorch[leaf], nil
	}
	if leaf == "kernel" {
		return module + ".weight", nil
	}
	return module + "." + leaf, nil
}

// FromTorch converts a torchvision ResNet state dict to Keras weight names
// and layouts: convolution kernels from (out, in, h, w) to (h, w, in, out),
// the fc weight from (out, in) to (in, out). num_batches_tracked entries
// are dropped; any other key that is not a ResNet's is an error.
func FromTorch(sd map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for key, t := range sd {
		if batchesTracked.MatchString(key) {
			continue
		}
		name, err := KerasName(key)
		if err != nil {
			return nil, err
		}
		out[name] = relayout(t, 2, 3, 1, 0)
	}
	return out, nil
}

// ToTorch converts Keras-named weights back to a torchvision state dict.
func ToTorch(weights map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for name, t := range weights {
		key, err := TorchName(name)
		if err != nil {
			return nil, err
		}
		out[key] = relayout(t, 3, 2, 0, 1)
	}
	return out, nil
}

// relayout transposes a convolution kernel by conv (a permutation of 4
// axes) and a dense weight's two axes; other tensors keep their layout.
func relayout(t *tensor.Tensor, conv ...int) *tensor.Tensor {
	var u *tensor.Tensor
	switch len(t.Shape) {
	case 4:
		u, _ = t.Transpose(conv...) // a valid permutation of the right rank
	case 2:
		u, _ = t.Transpose(1, 0)
	default:
		u = t
	}
	return u
}

// LoadTorchvision loads a torchvision ResNet state dict saved as
// safetensors (tools/torch_to_safetensors.py) into a torch-flavour model.
func LoadTorchvision(m *nn.Model, path string) error {
	f, err := ReadSafetensors(path)
	if err != nil {
		return fmt.Errorf("load %w", err)
	}
	kw, err := FromTorch(f.Tensors)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	if err := Apply(m, kw); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

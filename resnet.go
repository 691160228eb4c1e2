// Package resnet builds the ResNet family of image classifiers the way
// keras.applications builds them: ResNet(stackFn, ...) with Keras' options,
// the block and stack functions, and constructors for ResNet-18 to 152,
// ResNetV2, ResNeXt, wide ResNets and the paper's CIFAR networks, in Keras'
// layout and names or torchvision's (WithFlavor(Torch)).
package resnet

import (
	"fmt"

	"github.com/resnet-go/resnet/nn"
)

// StackFn builds the residual stacks between the stem and the head, as the
// stack_fn argument of Keras' ResNet does.
type StackFn func(x *nn.Tensor) *nn.Tensor

// ResNet builds a model around stackFn: the stem (conv1_pad, conv1_conv,
// conv1_bn, conv1_relu, pool1_pad, pool1_pool; without the BatchNorm and
// ReLU when Preact), the stacks, post_bn and post_relu when Preact, then
// the head: avg_pool and predictions with IncludeTop (the default),
// otherwise the Pooling asked for. Options: IncludeTop, InputShape,
// Pooling, Classes, ClassifierActivation, ModelName, Preact, UseBias,
// WithFlavor, DataFormat.
func ResNet(stackFn StackFn, opts ...Option) (*nn.Model, error) {
	c := configure(opts)
	name := c.modelName
	if name == "" {
		name = "resnet"
	}
	if stackFn == nil {
		return nil, fmt.Errorf("model %q: stackFn is nil", name)
	}
	shape, err := c.resolveInput()
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	if err := c.checkHead(); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	in := nn.Input(shape, nn.Format(c.format))
	x := c.stem(in)
	x = stackFn(x)
	if x == nil {
		return nil, fmt.Errorf("model %q: stackFn returned nil", name)
	}
	if c.preact {
		x = c.flavor.bn(x, "post_bn")
		x = nn.Activation(x, "relu", nn.Name("post_relu"))
	}
	x = c.head(x)
	return nn.NewModel(name, []*nn.Tensor{in}, []*nn.Tensor{x})
}

func (c *config) stem(x *nn.Tensor) *nn.Tensor {
	bias := or(c.useBias, c.flavor == Keras)
	if c.cifarStem {
		x = conv(x, 16, 3, 1, false, "conv1", nn.UseBias(bias))
		x = c.flavor.bn(x, "conv1_bn")
		return nn.Activation(x, "relu", nn.Name("conv1_relu"))
	}
	x = nn.ZeroPadding2D(x, 3, nn.Name("conv1_pad"))
	x = nn.Conv2D(x, 64, 7, nn.Strides(2), nn.UseBias(bias), nn.Name("conv1_conv"))
	if !c.preact {
		x = c.flavor.bn(x, "conv1_bn")
		x = nn.Activation(x, "relu", nn.Name("conv1_relu"))
	}
	x = nn.ZeroPadding2D(x, 1, nn.Name("pool1_pad"))
	return nn.MaxPooling2D(x, 3, nn.Strides(2), nn.Name("pool1_pool"))
}

func (c *config) head(x *nn.Tensor) *nn.Tensor {
	if c.includeTop {
		x = nn.GlobalAveragePooling2D(x, nn.Name("avg_pool"))
		return nn.Dense(x, c.classes, nn.WithActivation(c.activation), nn.Name("predictions"))
	}
	switch c.pooling {
	case "avg":
		return nn.GlobalAveragePooling2D(x, nn.Name("avg_pool"))
	case "max":
		return nn.GlobalMaxPooling2D(x, nn.Name("max_pool"))
	}
	return x
}

func (c *config) checkHead() error {
	switch c.pooling {
	case "", "none", "avg", "max":
	default:
		return fmt.Errorf("pooling %q is not one of none, avg, max", c.pooling)
	}
	if !c.includeTop {
		return nil
	}
	if c.classes < 1 {
		return fmt.Errorf("classes must be at least 1, got %d", c.classes)
	}
	switch c.activation {
	case "none", "":
		c.activation = "linear"
	case "softmax", "linear", "sigmoid":
	default:
		return fmt.Errorf("classifier activation %q is not one of softmax, linear (none), sigmoid", c.activation)
	}
	return nil
}

// resolveInput applies Keras' obtain_input_shape: the default is
// (size, size, 3) with a top and (None, None, 3) without; a given shape must
// have rank 3 and spatial sizes of at least the minimum, and with a top no
// free sizes.
func (c *config) resolveInput() (nn.Shape, error) {
	s := nn.Shape(c.inputShape)
	if s == nil {
		d := c.defaultSize
		if !c.includeTop {
			d = nn.Unknown
		}
		s = nn.Shape{d, d, 3}
		if c.format == nn.ChannelsFirst {
			s = nn.Shape{3, d, d}
		}
		return s, nil
	}
	if len(s) != 3 {
		return nil, fmt.Errorf("input shape %v must have 3 dimensions (height, width, channels), got %d", []int(s), len(s))
	}
	h, w, ch := s[0], s[1], s[2]
	if c.format == nn.ChannelsFirst {
		ch, h, w = s[0], s[1], s[2]
	}
	if ch < 1 {
		return nil, fmt.Errorf("input shape %v: the channel count must be known and positive", []int(s))
	}
	for _, d := range []int{h, w} {
		if d == nn.Unknown {
			if c.includeTop {
				return nil, fmt.Errorf("input shape %v: with a top the height and width must be fixed", []int(s))
			}
			continue
		}
		if d < c.minSize {
			return nil, fmt.Errorf("input size must be at least %dx%d; got input shape %v", c.minSize, c.minSize, []int(s))
		}
	}
	return s, nil
}

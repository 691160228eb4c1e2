package nn

import (
	"fmt"
	"strings"
)

// Option configures a layer. Each layer accepts the options that make sense
// for it (listed in its doc comment); any other is reported as an error by
// NewModel, so a misplaced option never goes unnoticed.
type Option func(*config)

type optBit uint32

const (
	optName optBit = 1 << iota
	optStrides
	optPadding
	optUseBias
	optGroups
	optDilation
	optEpsilon
	optMomentum
	optAxis
	optActivation
	optFormat
	optPads
	optBessel
)

var optNames = []string{"Name", "Strides", "Padding", "UseBias", "Groups", "Dilation",
	"Epsilon", "Momentum", "Axis", "Activation", "Format", "Pads", "BesselCorrection"}

type config struct {
	set        optBit
	name       string
	strides    [2]int
	padding    string
	useBias    bool
	groups     int
	dilation   int
	epsilon    float64
	momentum   float64
	axis       int
	activation string
	format     DataFormat
	pads       [4]int
	bessel     bool
}

func configure(opts []Option) *config {
	c := &config{useBias: true, groups: 1, dilation: 1, padding: "valid",
		epsilon: 1e-3, momentum: 0.99, activation: "linear"}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// check returns an error naming every option given to a layer that does not
// take it.
func (c *config) check(class, name string, allowed optBit) error {
	var bad []string
	for i, n := range optNames {
		if c.set&(1<<i) != 0 && allowed&(1<<i) == 0 {
			bad = append(bad, n)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("layer %q (%s): option %s does not apply to %s", name, class, strings.Join(bad, ", "), class)
}

// Name sets the layer's name. Names are unique in a model; Keras' names are
// the contract by which weights are loaded.
func Name(name string) Option {
	return func(c *config) { c.name = name; c.set |= optName }
}

// Strides sets the strides of a convolution or pooling: one value for both
// axes, or height then width.
func Strides(s ...int) Option {
	return func(c *config) {
		c.set |= optStrides
		switch len(s) {
		case 1:
			c.strides = [2]int{s[0], s[0]}
		case 2:
			c.strides = [2]int{s[0], s[1]}
		default:
			c.strides = [2]int{0, 0} // rejected by the layer
		}
	}
}

// Padding sets Keras' padding mode of a convolution or pooling: "valid"
// (the default) or "same".
func Padding(mode string) Option {
	return func(c *config) { c.padding = strings.ToLower(mode); c.set |= optPadding }
}

// UseBias says whether a Conv2D or Dense layer adds a bias (default true).
func UseBias(b bool) Option {
	return func(c *config) { c.useBias = b; c.set |= optUseBias }
}

// Groups splits a Conv2D's input and output channels into that many groups
// convolved separately, as ResNeXt does (default 1).
func Groups(g int) Option {
	return func(c *config) { c.groups = g; c.set |= optGroups }
}

// Dilation sets a Conv2D's dilation rate (default 1).
func Dilation(d int) Option {
	return func(c *config) { c.dilation = d; c.set |= optDilation }
}

// Epsilon sets BatchNormalization's epsilon (Keras' default 1e-3).
func Epsilon(e float64) Option {
	return func(c *config) { c.epsilon = e; c.set |= optEpsilon }
}

// Momentum sets BatchNormalization's moving-average momentum (default 0.99,
// Keras' meaning: new = momentum*old + (1-momentum)*batch).
func Momentum(m float64) Option {
	return func(c *config) { c.momentum = m; c.set |= optMomentum }
}

// Axis sets BatchNormalization's feature axis, counted as Keras counts it:
// with the batch dimension at 0, negative values from the end. By default it
// is the graph's channel axis.
func Axis(a int) Option {
	return func(c *config) { c.axis = a; c.set |= optAxis }
}

// WithActivation sets a Dense layer's activation: "linear" (the default),
// "relu", "softmax", "sigmoid" or "tanh".
func WithActivation(name string) Option {
	return func(c *config) { c.activation = strings.ToLower(name); c.set |= optActivation }
}

// Format sets an Input's data format; every layer of the graph follows it.
func Format(f DataFormat) Option {
	return func(c *config) { c.format = f; c.set |= optFormat }
}

// Pads sets ZeroPadding2D's padding per side, overriding its symmetric size.
func Pads(top, bottom, left, right int) Option {
	return func(c *config) { c.pads = [4]int{top, bottom, left, right}; c.set |= optPads }
}

// BesselCorrection makes a BatchNormalization update its moving variance
// with the unbiased batch variance, as PyTorch does (Keras uses the biased
// one). Normalisation during training uses the biased variance either way.
func BesselCorrection(b bool) Option {
	return func(c *config) { c.bessel = b; c.set |= optBessel }
}

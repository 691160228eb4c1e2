package nn

import (
	"encoding/json"
	"fmt"
)

// KerasModelConfig is a functional model in the JSON form Keras' to_json()
// writes under "config" (and TF.js stores as modelTopology.model_config):
// layers with their class, settings and inbound nodes. It is how a
// checkpoint carries its architecture, and how Keras models are imported.
type KerasModelConfig struct {
	Name         string             `json:"name"`
	Layers       []KerasLayerConfig `json:"layers"`
	InputLayers  [][]any            `json:"input_layers"`
	OutputLayers [][]any            `json:"output_layers"`
}

// KerasLayerConfig is one layer of a KerasModelConfig. InboundNodes is
// Keras' [[[layer, node, tensor, kwargs], ...]]: one node per call.
type KerasLayerConfig struct {
	Name         string          `json:"name"`
	ClassName    string          `json:"class_name"`
	Config       json.RawMessage `json:"config"`
	InboundNodes [][][]any       `json:"inbound_nodes"`
}

// layerSettings holds every setting the supported layers take, under
// Keras' names. Unknown keys are ignored, as Keras' from_config ignores
// what it does not need (initialisers, regularisers).
type layerSettings struct {
	BatchInputShape []*int          `json:"batch_input_shape,omitempty"`
	DataFormat      string          `json:"data_format,omitempty"`
	Filters         int             `json:"filters,omitempty"`
	KernelSize      json.RawMessage `json:"kernel_size,omitempty"`
	Strides         json.RawMessage `json:"strides,omitempty"`
	Padding         json.RawMessage `json:"padding,omitempty"`
	DilationRate    json.RawMessage `json:"dilation_rate,omitempty"`
	Groups          int             `json:"groups,omitempty"`
	UseBias         *bool           `json:"use_bias,omitempty"`
	Activation      string          `json:"activation,omitempty"`
	Axis            json.RawMessage `json:"axis,omitempty"`
	Epsilon         float64         `json:"epsilon,omitempty"`
	Momentum        float64         `json:"momentum,omitempty"`
	Center          *bool           `json:"center,omitempty"`
	Scale           *bool           `json:"scale,omitempty"`
	PoolSize        json.RawMessage `json:"pool_size,omitempty"`
	Units           int             `json:"units,omitempty"`
	Channels        int             `json:"channels,omitempty"`
	Stride          int             `json:"stride,omitempty"`
	// BesselCorrection is resnet-go's: torch-style moving variance updates.
	BesselCorrection bool `json:"bessel_correction,omitempty"`
}

// KerasConfig describes the model as Keras' model_config, so that
// FromKerasConfig rebuilds the same graph with the same names.
func (m *Model) KerasConfig() KerasModelConfig {
	c := KerasModelConfig{Name: m.name}
	for _, l := range m.layers {
		s := l.settings(m.inputs[0].g.format)
		raw, _ := json.Marshal(s)
		lc := KerasLayerConfig{Name: l.name, ClassName: l.class, Config: raw, InboundNodes: [][][]any{}}
		if len(l.inputs) > 0 {
			node := [][]any{}
			for _, t := range l.inputs {
				node = append(node, []any{t.layer.name, 0, 0, map[string]any{}})
			}
			lc.InboundNodes = append(lc.InboundNodes, node)
		}
		c.Layers = append(c.Layers, lc)
	}
	for _, t := range m.inputs {
		c.InputLayers = append(c.InputLayers, []any{t.layer.name, 0, 0})
	}
	for _, t := range m.outputs {
		c.OutputLayers = append(c.OutputLayers, []any{t.layer.name, 0, 0})
	}
	return c
}

func ints(v ...int) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (l *Layer) settings(f DataFormat) layerSettings {
	t := true
	s := layerSettings{}
	switch o := l.op.(type) {
	case inputOp:
		s.BatchInputShape = []*int{nil}
		for _, d := range l.output.shape {
			if d == Unknown {
				s.BatchInputShape = append(s.BatchInputShape, nil)
			} else {
				s.BatchInputShape = append(s.BatchInputShape, &d)
			}
		}
		s.DataFormat = f.String()
	case *conv2DOp:
		s.Filters, s.KernelSize, s.Strides = o.filters, ints(o.kernel, o.kernel), ints(o.strides[0], o.strides[1])
		s.Padding, _ = json.Marshal(o.padding)
		s.DilationRate, s.Groups, s.UseBias, s.Activation = ints(o.dilation, o.dilation), o.groups, &o.useBias, "linear"
	case *zeroPaddingOp:
		s.Padding, _ = json.Marshal([][]int{{o.top, o.bottom}, {o.left, o.right}})
	case *batchNormOp:
		s.Axis, s.Epsilon, s.Momentum, s.Center, s.Scale = ints(o.axis), o.epsilon, o.momentum, &t, &t
		s.BesselCorrection = o.bessel
	case *activationOp:
		s.Activation = o.fn
	case *poolOp:
		s.PoolSize, s.Strides = ints(o.size, o.size), ints(o.strides[0], o.strides[1])
		s.Padding, _ = json.Marshal(o.padding)
	case *denseOp:
		s.Units, s.UseBias, s.Activation = o.units, &o.useBias, o.activation
	case *paddedIdentityOp:
		s.Channels, s.Stride = o.channels, o.stride
	}
	return s
}

// MaxLayers bounds the layers a config may describe.
const MaxLayers = 100_000

// FromKerasConfig builds a model from Keras' model_config. Layers are
// renamed by rename (nil keeps Keras' names). Every layer must be called
// once; classes and settings this package cannot compute are errors naming
// the layer.
func FromKerasConfig(c KerasModelConfig, rename func(string) string) (*Model, error) {
	if rename == nil {
		rename = func(s string) string { return s }
	}
	if len(c.Layers) > MaxLayers {
		return nil, fmt.Errorf("model %q: %d layers is more than %d", c.Name, len(c.Layers), MaxLayers)
	}
	b := &configBuilder{cfg: c, rename: rename, built: map[string]*Tensor{},
		byName: map[string]*KerasLayerConfig{}, visiting: map[string]bool{}}
	for i := range c.Layers {
		l := &c.Layers[i]
		if _, dup := b.byName[l.Name]; dup {
			return nil, fmt.Errorf("model %q: layer %q appears twice", c.Name, l.Name)
		}
		b.byName[l.Name] = l
	}
	ends := func(refs [][]any) ([]*Tensor, error) {
		var out []*Tensor
		for _, r := range refs {
			if len(r) == 0 {
				return nil, fmt.Errorf("model %q: empty input or output reference", c.Name)
			}
			name, _ := r[0].(string)
			t, err := b.build(name, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	ins, err := ends(c.InputLayers)
	if err != nil {
		return nil, err
	}
	outs, err := ends(c.OutputLayers)
	if err != nil {
		return nil, err
	}
	return NewModel(c.Name, ins, outs)
}

type configBuilder struct {
	cfg    KerasModelConfig
	rename func(string) string
	built  map[string]*Tensor
	byName map[string]*KerasLayerConfig
	format DataFormat
	// visiting holds the layers being built, to catch cycles at once.
	visiting map[string]bool
}

func (b *configBuilder) build(name string, depth int) (*Tensor, error) {
	if t, ok := b.built[name]; ok {
		return t, nil
	}
	if b.visiting[name] || depth > MaxLayers {
		return nil, fmt.Errorf("model %q: layer %q is part of a cycle", b.cfg.Name, name)
	}
	b.visiting[name] = true
	defer delete(b.visiting, name)
	l, ok := b.byName[name]
	if !ok {
		return nil, fmt.Errorf("model %q: no layer %q", b.cfg.Name, name)
	}
	fail := func(format string, args ...any) (*Tensor, error) {
		return nil, fmt.Errorf("model %q: layer %q (%s): %s", b.cfg.Name, name, l.ClassName, fmt.Sprintf(format, args...))
	}
	var s layerSettings
	if len(l.Config) > 0 {
		if err := json.Unmarshal(l.Config, &s); err != nil {
			return fail("config: %v", err)
		}
	}
	if len(l.InboundNodes) > 1 {
		return fail("called %d times; shared layers are not supported", len(l.InboundNodes))
	}
	var ins []*Tensor
	if len(l.InboundNodes) == 1 {
		for _, ref := range l.InboundNodes[0] {
			if len(ref) < 1 {
				return fail("empty inbound reference")
			}
			src, _ := ref[0].(string)
			if len(ref) > 1 {
				if n, ok := ref[1].(float64); ok && n != 0 {
					return fail("inbound node %v of %q: shared layers are not supported", n, src)
				}
			}
			t, err := b.build(src, depth+1)
			if err != nil {
				return nil, err
			}
			ins = append(ins, t)
		}
	}
	t, err := b.call(l, s, ins)
	if err != nil {
		return fail("%v", err)
	}
	b.built[name] = t
	return t, nil
}

// pair reads a Keras setting given as one int or a list of two.
func pair(raw json.RawMessage, def int) ([2]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return [2]int{def, def}, nil
	}
	var one int
	if json.Unmarshal(raw, &one) == nil {
		return [2]int{one, one}, nil
	}
	var two []int
	if err := json.Unmarshal(raw, &two); err != nil || len(two) != 2 {
		return [2]int{}, fmt.Errorf("%s is not an integer or a pair of integers", raw)
	}
	return [2]int{two[0], two[1]}, nil
}

func square(raw json.RawMessage, what string, def int) (int, error) {
	p, err := pair(raw, def)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if p[0] != p[1] {
		return 0, fmt.Errorf("%s %v: only square windows are supported", what, p)
	}
	return p[0], nil
}

func (b *configBuilder) call(l *KerasLayerConfig, s layerSettings, ins []*Tensor) (*Tensor, error) {
	name := Name(b.rename(l.Name))
	one := func() (*Tensor, error) {
		if len(ins) != 1 {
			return nil, fmt.Errorf("takes one input, got %d", len(ins))
		}
		return ins[0], nil
	}
	if s.DataFormat != "" && s.DataFormat != b.format.String() && l.ClassName != "InputLayer" {
		return nil, fmt.Errorf("data_format %s differs from the input's %s", s.DataFormat, b.format)
	}
	switch l.ClassName {
	case "InputLayer":
		if len(ins) != 0 || len(s.BatchInputShape) < 2 {
			return nil, fmt.Errorf("needs a batch_input_shape with at least one dimension")
		}
		shape := Shape{}
		for _, d := range s.BatchInputShape[1:] {
			if d == nil {
				shape = append(shape, Unknown)
			} else {
				shape = append(shape, *d)
			}
		}
		if s.DataFormat == "channels_first" {
			b.format = ChannelsFirst
		}
		return Input(shape, name, Format(b.format)), nil
	case "Add":
		return Add(ins, name), nil
	}
	x, err := one()
	if err != nil {
		return nil, err
	}
	switch l.ClassName {
	case "Conv2D":
		k, err := square(s.KernelSize, "kernel_size", 1)
		if err != nil {
			return nil, err
		}
		st, err1 := pair(s.Strides, 1)
		d, err2 := square(s.DilationRate, "dilation_rate", 1)
		pad, err3 := paddingMode(s.Padding)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		if s.Activation != "" && s.Activation != "linear" {
			return nil, fmt.Errorf("activation %q inside Conv2D is not supported", s.Activation)
		}
		opts := []Option{name, Strides(st[0], st[1]), Padding(pad), Dilation(d), UseBias(s.UseBias == nil || *s.UseBias)}
		if s.Groups > 1 {
			opts = append(opts, Groups(s.Groups))
		}
		return Conv2D(x, s.Filters, k, opts...), nil
	case "ZeroPadding2D":
		p, err := zeroPads(s.Padding)
		if err != nil {
			return nil, err
		}
		return ZeroPadding2D(x, 0, name, Pads(p[0], p[1], p[2], p[3])), nil
	case "BatchNormalization":
		if (s.Center != nil && !*s.Center) || (s.Scale != nil && !*s.Scale) {
			return nil, fmt.Errorf("center=False or scale=False is not supported")
		}
		axis, err := axisSetting(s.Axis)
		if err != nil {
			return nil, err
		}
		opts := []Option{name, Axis(axis), BesselCorrection(s.BesselCorrection)}
		if s.Epsilon != 0 {
			opts = append(opts, Epsilon(s.Epsilon))
		}
		if s.Momentum != 0 {
			opts = append(opts, Momentum(s.Momentum))
		}
		return BatchNormalization(x, opts...), nil
	case "Activation", "ReLU":
		fn := s.Activation
		if l.ClassName == "ReLU" {
			fn = "relu"
		}
		return Activation(x, fn, name), nil
	case "MaxPooling2D", "AveragePooling2D":
		size, err := square(s.PoolSize, "pool_size", 2)
		if err != nil {
			return nil, err
		}
		st, err1 := pair(s.Strides, size)
		pad, err2 := paddingMode(s.Padding)
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		if l.ClassName == "MaxPooling2D" {
			return MaxPooling2D(x, size, name, Strides(st[0], st[1]), Padding(pad)), nil
		}
		return AveragePooling2D(x, size, name, Strides(st[0], st[1]), Padding(pad)), nil
	case "GlobalAveragePooling2D":
		return GlobalAveragePooling2D(x, name), nil
	case "GlobalMaxPooling2D":
		return GlobalMaxPooling2D(x, name), nil
	case "Dense":
		act := s.Activation
		if act == "" {
			act = "linear"
		}
		return Dense(x, s.Units, name, UseBias(s.UseBias == nil || *s.UseBias), WithActivation(act)), nil
	case "Flatten":
		return Flatten(x, name), nil
	case "PaddedIdentity":
		return PaddedIdentity(x, s.Channels, s.Stride, name), nil
	}
	return nil, fmt.Errorf("layer class %q is not supported", l.ClassName)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func paddingMode(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "valid", nil
	}
	var p string
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("padding %s is not a string", raw)
	}
	return p, nil
}

// zeroPads reads ZeroPadding2D's padding: n, [h, w] or [[top, bottom],
// [left, right]]; it returns top, bottom, left, right.
func zeroPads(raw json.RawMessage) ([4]int, error) {
	if p, err := pair(raw, 1); err == nil {
		return [4]int{p[0], p[0], p[1], p[1]}, nil
	}
	var pp [][]int
	if err := json.Unmarshal(raw, &pp); err != nil || len(pp) != 2 || len(pp[0]) != 2 || len(pp[1]) != 2 {
		return [4]int{}, fmt.Errorf("padding %s is not n, [h, w] or [[top, bottom], [left, right]]", raw)
	}
	return [4]int{pp[0][0], pp[0][1], pp[1][0], pp[1][1]}, nil
}

func axisSetting(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return -1, nil
	}
	var a int
	if json.Unmarshal(raw, &a) == nil {
		return a, nil
	}
	var as []int
	if err := json.Unmarshal(raw, &as); err != nil || len(as) != 1 {
		return 0, fmt.Errorf("axis %s is not one axis", raw)
	}
	return as[0], nil
}

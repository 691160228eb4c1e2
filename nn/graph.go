package nn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// graph is the shared state of every symbolic tensor reachable from one
// Input: the layer names taken so far and the errors met while building.
// Keras keeps the same state in a global session; keeping it per graph makes
// two models built one after the other name their layers the same way.
type graph struct {
	format   DataFormat
	names    map[string]bool
	counters map[string]int
	errs     []error
}

func newGraph(format DataFormat) *graph {
	return &graph{format: format, names: map[string]bool{}, counters: map[string]int{}}
}

// uniqueName returns Keras' automatic name for a layer of the given class:
// "conv2d", "conv2d_1", ... (input layers start at "input_1").
func (g *graph) uniqueName(class string) string {
	prefix := snakeCase(class)
	if class == "InputLayer" {
		prefix = "input"
	}
	for {
		n := g.counters[prefix]
		g.counters[prefix] = n + 1
		name := prefix
		if class == "InputLayer" {
			name = fmt.Sprintf("%s_%d", prefix, n+1)
		} else if n > 0 {
			name = fmt.Sprintf("%s_%d", prefix, n)
		}
		if !g.names[name] {
			return name
		}
	}
}

func (g *graph) errorf(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
}

// err joins the errors met while building, or returns nil.
func (g *graph) err() error {
	return errors.Join(g.errs...)
}

var (
	camelBoundary1 = regexp.MustCompile(`(.)([A-Z][a-z0-9]+)`)
	camelBoundary2 = regexp.MustCompile(`([a-z])([A-Z])`)
)

// snakeCase converts a Keras class name the way Keras does when it names
// layers: BatchNormalization -> batch_normalization, Conv2D -> conv2d,
// MaxPooling2D -> max_pooling2d.
func snakeCase(s string) string {
	s = camelBoundary1.ReplaceAllString(s, "${1}_${2}")
	s = camelBoundary2.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(s)
}

// Tensor is a symbolic tensor: the output of a layer in a graph being built.
// Layer functions take tensors and return new ones; nothing is computed.
type Tensor struct {
	g     *graph
	layer *Layer
	shape Shape
}

// Shape returns the tensor's shape without the batch dimension.
func (t *Tensor) Shape() Shape { return t.shape.clone() }

// Layer returns the layer that produced t.
func (t *Tensor) Layer() *Layer { return t.layer }

// Format returns the data format of the graph t belongs to.
func (t *Tensor) Format() DataFormat { return t.g.format }

// Input starts a graph: a symbolic input with the given shape (without the
// batch dimension; Unknown for a free size). Options: Name, Format.
func Input(shape Shape, opts ...Option) *Tensor {
	c := configure(opts)
	g := newGraph(c.format)
	l := &Layer{op: inputOp{}, class: "InputLayer"}
	l.name = c.name
	if l.name == "" {
		l.name = g.uniqueName(l.class)
	}
	g.names[l.name] = true
	t := &Tensor{g: g, layer: l, shape: shape.clone()}
	l.output = t
	if len(shape) == 0 {
		g.errorf("layer %q (InputLayer): input shape must have at least one dimension", l.name)
		l.failed = true
	}
	for _, d := range shape {
		if d < 1 && d != Unknown {
			g.errorf("layer %q (InputLayer): dimension %d in shape %v is not positive", l.name, d, shape)
			l.failed = true
			break
		}
	}
	if err := c.check(l.class, l.name, optName|optFormat); err != nil {
		g.errs = append(g.errs, err)
		l.failed = true
	}
	return t
}

// UniqueName reserves and returns a name not yet used in t's graph: prefix
// itself, else prefix_1, prefix_2, ... Block functions use it to name their
// layers when the caller gave no name.
func (t *Tensor) UniqueName(prefix string) string {
	for i := 0; ; i++ {
		name := prefix
		if i > 0 {
			name = fmt.Sprintf("%s_%d", prefix, i)
		}
		if !t.g.names[name] {
			t.g.names[name] = true
			return name
		}
	}
}

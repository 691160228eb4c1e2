package train

import (
	"fmt"
	"math"

	"github.com/resnet-go/resnet/nn"
	"github.com/resnet-go/resnet/tensor"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(params []nn.Param, lr float64)
	// State returns the optimizer's tensors (momenta, moments) by name, for
	// checkpoints; SetState restores them.
	State() map[string]*tensor.Tensor
	SetState(map[string]*tensor.Tensor) error
}

// SGD is stochastic gradient descent with momentum, as PyTorch defines it:
// g += wd*p (L2); v = momentum*v + g; p -= lr*v (or lr*(g + momentum*v)
// with Nesterov). With Decoupled, weight decay shrinks the weights directly
// (p -= lr*wd*p) instead of entering the gradient.
type SGD struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	Decoupled   bool
	// SkipDecay leaves biases and BatchNorm parameters undecayed.
	SkipDecay bool
	velocity  map[string]*tensor.Tensor
	steps     float64
}

func decays(p nn.Param, skip bool) bool {
	return !skip || p.Kind == "kernel"
}

// Step applies one update.
func (o *SGD) Step(params []nn.Param, lr float64) {
	if o.velocity == nil {
		o.velocity = map[string]*tensor.Tensor{}
	}
	for _, p := range params {
		wd := 0.0
		if decays(p, o.SkipDecay) {
			wd = o.WeightDecay
		}
		v, ok := o.velocity[p.Name]
		if !ok && o.Momentum != 0 {
			v = tensor.New(p.Value.Shape...)
			o.velocity[p.Name] = v
		}
		for i, g32 := range p.Grad.Data {
			w := float64(p.Value.Data[i])
			g := float64(g32)
			if o.Decoupled {
				w -= lr * wd * w
			} else {
				g += wd * w
			}
			if o.Momentum != 0 {
				vel := o.Momentum*float64(v.Data[i]) + g
				if !ok { // PyTorch starts the buffer at the first gradient
					vel = g
				}
				v.Data[i] = float32(vel)
				if o.Nesterov {
					g += o.Momentum * vel
				} else {
					g = vel
				}
			}
			p.Value.Data[i] = float32(w - lr*g)
		}
	}
	o.steps++
}

// State returns the momentum buffers.
func (o *SGD) State() map[string]*tensor.Tensor { return o.velocity }

// SetState restores the momentum buffers.
func (o *SGD) SetState(s map[string]*tensor.Tensor) error {
	o.velocity = map[string]*tensor.Tensor{}
	for k, v := range s {
		o.velocity[k] = v
	}
	return nil
}

// Adam is Adam (or AdamW with Decoupled weight decay).
type Adam struct {
	Beta1, Beta2, Epsilon float64
	WeightDecay           float64
	Decoupled             bool
	SkipDecay             bool
	m, v                  map[string]*tensor.Tensor
	t                     float64
}

// NewAdam returns Adam with the usual defaults (0.9, 0.999, 1e-8).
func NewAdam() *Adam { return &Adam{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8} }

// Step applies one update.
func (o *Adam) Step(params []nn.Param, lr float64) {
	if o.m == nil {
		o.m, o.v = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	}
	o.t++
	c1, c2 := 1-math.Pow(o.Beta1, o.t), 1-math.Pow(o.Beta2, o.t)
	for _, p := range params {
		m, ok := o.m[p.Name]
		if !ok {
			m = tensor.New(p.Value.Shape...)
			o.m[p.Name] = m
			o.v[p.Name] = tensor.New(p.Value.Shape...)
		}
		v := o.v[p.Name]
		wd := 0.0
		if decays(p, o.SkipDecay) {
			wd = o.WeightDecay
		}
		for i, g32 := range p.Grad.Data {
			w, g := float64(p.Value.Data[i]), float64(g32)
			if o.Decoupled {
				w -= lr * wd * w
			} else {
				g += wd * w
			}
			mi := o.Beta1*float64(m.Data[i]) + (1-o.Beta1)*g
			vi := o.Beta2*float64(v.Data[i]) + (1-o.Beta2)*g*g
			m.Data[i], v.Data[i] = float32(mi), float32(vi)
			p.Value.Data[i] = float32(w - lr*(mi/c1)/(math.Sqrt(vi/c2)+o.Epsilon))
		}
	}
}

// State returns the moments and the step count.
func (o *Adam) State() map[string]*tensor.Tensor {
	s := map[string]*tensor.Tensor{"t": {Shape: []int{1}, Data: []float32{float32(o.t)}}}
	for k, v := range o.m {
		s["m/"+k] = v
	}
	for k, v := range o.v {
		s["v/"+k] = v
	}
	return s
}

// SetState restores the moments and the step count.
func (o *Adam) SetState(s map[string]*tensor.Tensor) error {
	o.m, o.v = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for k, t := range s {
		switch {
		case k == "t" && len(t.Data) == 1:
			o.t = float64(t.Data[0])
		case len(k) > 2 && k[:2] == "m/":
			o.m[k[2:]] = t
		case len(k) > 2 && k[:2] == "v/":
			o.v[k[2:]] = t
		default:
			return fmt.Errorf("adam state: unexpected entry %q", k)
		}
	}
	return nil
}

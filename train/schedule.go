package train

import "math"

// Schedule gives the learning rate of a step (counted from 0).
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns the rate.
func (c Constant) LR(int) float64 { return float64(c) }

// MultiStep multiplies the base rate by Gamma at each milestone step: the
// paper's CIFAR schedule is MultiStep{0.1, []int{32000, 48000}, 0.1}.
type MultiStep struct {
	Base       float64
	Milestones []int
	Gamma      float64
}

// LR returns the rate at step.
func (s MultiStep) LR(step int) float64 {
	lr := s.Base
	for _, m := range s.Milestones {
		if step >= m {
			lr *= s.Gamma
		}
	}
	return lr
}

// StepDecay multiplies the base rate by Gamma every Every steps.
type StepDecay struct {
	Base  float64
	Every int
	Gamma float64
}

// LR returns the rate at step.
func (s StepDecay) LR(step int) float64 {
	return s.Base * math.Pow(s.Gamma, float64(step/max(1, s.Every)))
}

// Cosine warms up linearly from 0 over Warmup steps, then follows half a
// cosine from Base down to Min at Total steps.
type Cosine struct {
	Base, Min     float64
	Warmup, Total int
}

// LR returns the rate at step.
func (s Cosine) LR(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	span := max(1, s.Total-s.Warmup)
	t := math.Min(1, float64(step-s.Warmup)/float64(span))
	return s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*t))/2
}

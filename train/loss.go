// Package train trains models: the softmax cross-entropy loss, optimizers
// (SGD with momentum, Nesterov and weight decay; Adam and AdamW), learning
// rate schedules, metrics, and a Trainer with progress, checkpoints, exact
// resume, a CSV log and a plot of the curves.
package train

import (
	"fmt"
	"math"

	"github.com/resnet-go/resnet/tensor"
)

// CrossEntropy is the softmax cross-entropy of a batch of scores against
// integer labels, averaged over the batch, with optional label smoothing
// (the target is 1-s on the label and s/K spread over all K classes).
//
// With logits it computes log-softmax itself (stable: the maximum is
// subtracted first) and returns the gradient with respect to the logits,
// softmax(z) - target. Without, scores are probabilities and the gradient
// is with respect to them.
func CrossEntropy(scores *tensor.Tensor, labels []int, smoothing float64, logits bool) (loss float64, grad *tensor.Tensor, err error) {
	if len(scores.Shape) != 2 || scores.Shape[0] != len(labels) {
		return 0, nil, fmt.Errorf("cross-entropy: scores %v for %d labels; want (N, classes)", scores.Shape, len(labels))
	}
	n, k := scores.Shape[0], scores.Shape[1]
	grad = tensor.New(n, k)
	for r, label := range labels {
		if label < 0 || label >= k {
			return 0, nil, fmt.Errorf("cross-entropy: label %d of example %d is outside [0, %d)", label, r, k)
		}
		row := scores.Data[r*k : (r+1)*k]
		g := grad.Data[r*k : (r+1)*k]
		target := func(j int) float64 {
			t := smoothing / float64(k)
			if j == label {
				t += 1 - smoothing
			}
			return t
		}
		if logits {
			m := float64(row[0])
			for _, v := range row {
				m = math.Max(m, float64(v))
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - m)
			}
			lse := m + math.Log(sum)
			for j, v := range row {
				t := target(j)
				loss -= t * (float64(v) - lse)
				g[j] = float32((math.Exp(float64(v)-lse) - t) / float64(n))
			}
			continue
		}
		for j, v := range row {
			p := math.Max(float64(v), 1e-7) // Keras clips probabilities the same way
			t := target(j)
			loss -= t * math.Log(p)
			g[j] = float32(-t / p / float64(n))
		}
	}
	return loss / float64(n), grad, nil
}

// TopK counts the examples whose label is among the k highest scores.
func TopK(scores *tensor.Tensor, labels []int, k int) int {
	c := scores.Shape[1]
	hits := 0
	for r, label := range labels {
		row := scores.Data[r*c : (r+1)*c]
		higher := 0
		for j, v := range row {
			if v > row[label] || (v == row[label] && j < label) {
				higher++
			}
		}
		if higher < k {
			hits++
		}
	}
	return hits
}

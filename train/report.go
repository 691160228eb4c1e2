package train

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/resnet-go/resnet/weights"
)

// progress draws a one-line bar with rate and ETA, redrawn at most five
// times a second.
type progress struct {
	w          io.Writer
	label      string
	total      int
	start, out time.Time
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, total: total, start: time.Now()}
}

func (p *progress) update(done int, status string) {
	if p.w == nil || (time.Since(p.out) < 200*time.Millisecond && done < p.total) {
		return
	}
	p.out = time.Now()
	const width = 24
	filled := width * done / max(1, p.total)
	eta := time.Duration(float64(time.Since(p.start)) / float64(done) * float64(p.total-done)).Round(time.Second)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %s ETA %s ", p.label, strings.Repeat("=", filled),
		strings.Repeat(" ", width-filled), done, p.total, status, eta)
}

func (p *progress) done(summary string) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s: %s\n", p.label, summary)
}

// writeCSV writes the history as a CSV table, atomically.
func writeCSV(path string, h []Epoch) error {
	return weights.WriteAtomic(path, func(w io.Writer) error {
		c := csv.NewWriter(w)
		c.Write([]string{"epoch", "lr", "loss", "accuracy", "top5", "val_loss", "val_accuracy", "val_top5", "seconds", "images_per_sec"})
		for _, e := range h {
			row := []float64{e.LR, e.Loss, e.Accuracy, e.Top5, e.ValLoss, e.ValAccuracy, e.ValTop5, e.Seconds, e.ImagesPerSec}
			rec := []string{strconv.Itoa(e.Epoch)}
			for _, v := range row {
				rec = append(rec, strconv.FormatFloat(v, 'g', 6, 64))
			}
			c.Write(rec)
		}
		c.Flush()
		return c.Error()
	})
}

// writeSVG draws loss and accuracy by epoch, training and validation, as
// two side-by-side charts.
func writeSVG(path string, h []Epoch) error {
	return weights.WriteAtomic(path, func(w io.Writer) error {
		const cw, ch, pad = 360, 240, 40
		fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", 2*cw+pad, ch+pad)
		fmt.Fprintln(w, `<rect width="100%" height="100%" fill="white"/>`)
		series := func(get func(Epoch) float64) []float64 {
			v := make([]float64, len(h))
			for i, e := range h {
				v[i] = get(e)
			}
			return v
		}
		chart(w, 0, "loss", series(func(e Epoch) float64 { return e.Loss }), series(func(e Epoch) float64 { return e.ValLoss }), cw, ch, pad)
		chart(w, cw+pad/2, "accuracy", series(func(e Epoch) float64 { return e.Accuracy }), series(func(e Epoch) float64 { return e.ValAccuracy }), cw, ch, pad)
		fmt.Fprintln(w, "</svg>")
		return nil
	})
}

func chart(w io.Writer, x0 int, title string, train, val []float64, cw, ch, pad int) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{train, val} {
		for _, v := range s {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	left, top, width, height := float64(x0+pad), 20.0, float64(cw-pad-10), float64(ch-pad)
	fmt.Fprintf(w, `<text x="%g" y="14" font-weight="bold">%s</text>`+"\n", left, title)
	fmt.Fprintf(w, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`+"\n", left, top, width, height)
	fmt.Fprintf(w, `<text x="%g" y="%g" text-anchor="end">%.3g</text><text x="%g" y="%g" text-anchor="end">%.3g</text>`+"\n",
		left-4, top+8, hi, left-4, top+height, lo)
	fmt.Fprintf(w, `<text x="%g" y="%g" text-anchor="middle">epoch</text>`+"\n", left+width/2, top+height+28)
	pts := func(s []float64) string {
		var b strings.Builder
		for i, v := range s {
			x := left + width*float64(i)/math.Max(1, float64(len(s)-1))
			y := top + height*(1-(v-lo)/(hi-lo))
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		return b.String()
	}
	fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="#1f77b4" stroke-width="2"/>`+"\n", pts(train))
	fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="#ff7f0e" stroke-width="2"/>`+"\n", pts(val))
	fmt.Fprintf(w, `<text x="%g" y="%g" fill="#1f77b4">train</text><text x="%g" y="%g" fill="#ff7f0e">validation</text>`+"\n",
		left+6, top+14, left+50, top+14)
}

package nn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SummaryStyle chooses how Summary draws its table.
type SummaryStyle int

const (
	// Keras2 is the plain table of TF 2 Keras up to 2.6, line for line.
	Keras2 SummaryStyle = iota
	// Keras3 is the box-drawn table of Keras 3.
	Keras3
)

// ParseSummaryStyle turns "keras2" or "keras3" into a SummaryStyle.
func ParseSummaryStyle(s string) (SummaryStyle, error) {
	switch strings.ToLower(s) {
	case "keras2", "keras", "2":
		return Keras2, nil
	case "keras3", "3":
		return Keras3, nil
	}
	return 0, fmt.Errorf("unknown summary style %q (want keras2 or keras3)", s)
}

// Summary writes the table model.summary() prints in the given style.
func (m *Model) Summary(w io.Writer, style SummaryStyle) error {
	bw := bufio.NewWriter(w)
	if style == Keras3 {
		m.summaryKeras3(bw)
	} else {
		m.summaryKeras2(bw)
	}
	return bw.Flush()
}

// outputShapeString is a layer's output shape as Keras 2 prints it: input
// layers report a list holding one tuple.
func (l *Layer) outputShapeString() string {
	s := l.output.shape.String()
	if l.class == "InputLayer" {
		return "[" + s + "]"
	}
	return s
}

func (l *Layer) connections() []string {
	out := make([]string, len(l.inputs))
	for i, t := range l.inputs {
		out[i] = t.layer.name + "[0][0]"
	}
	return out
}

// row prints fields the way Keras 2's print_row does: each field starts at
// the previous stop, is cut at its own stop and padded to it, and the last
// character before a new field is always a space.
func row(w io.Writer, fields []string, stops []int) {
	line := ""
	for i, f := range fields {
		if i > 0 {
			line = line[:len(line)-1] + " "
		}
		line += f
		if len(line) > stops[i] {
			line = line[:stops[i]]
		}
		line += strings.Repeat(" ", stops[i]-len(line))
	}
	fmt.Fprintln(w, line)
}

func (m *Model) summaryKeras2(w io.Writer) {
	length, stops := 98, []int{32, 53, 65, 98}
	header := []string{"Layer (type)", "Output Shape", "Param #", "Connected to"}
	if m.sequential {
		length, stops = 65, []int{29, 55, 65}
		header = header[:3]
	}
	fmt.Fprintf(w, "Model: %q\n", m.name)
	fmt.Fprintln(w, strings.Repeat("_", length))
	row(w, header, stops)
	fmt.Fprintln(w, strings.Repeat("=", length))
	for i, l := range m.layers {
		fields := []string{l.name + " (" + l.class + ")", l.outputShapeString(), strconv.Itoa(l.CountParams())}
		if m.sequential {
			row(w, fields, stops)
		} else {
			conns := l.connections()
			first := ""
			if len(conns) > 0 {
				first = conns[0]
			}
			row(w, append(fields, first), stops)
			for _, c := range conns[min(1, len(conns)):] {
				row(w, []string{"", "", "", c}, stops)
			}
		}
		if i == len(m.layers)-1 {
			fmt.Fprintln(w, strings.Repeat("=", length))
		} else {
			fmt.Fprintln(w, strings.Repeat("_", length))
		}
	}
	t, n := m.ParamCounts()
	fmt.Fprintf(w, "Total params: %s\n", Thousands(int64(t+n)))
	fmt.Fprintf(w, "Trainable params: %s\n", Thousands(int64(t)))
	fmt.Fprintf(w, "Non-trainable params: %s\n", Thousands(int64(n)))
	fmt.Fprintln(w, strings.Repeat("_", length))
}

// Thousands formats n with commas between groups of three digits, as
// Python's "{:,}" does.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// readableBytes formats a size as Keras 3 does: bytes/1024^k, 2 decimals.
func readableBytes(n float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	for _, u := range units[:len(units)-1] {
		if n/1024 < 1 {
			return fmt.Sprintf("%.2f %s", n, u)
		}
		n /= 1024
	}
	return fmt.Sprintf("%.2f %s", n, units[len(units)-1])
}

// summaryKeras3 draws Keras 3's table: 108 columns for a functional model
// (88 when sequential-like), cells wrapped at spaces, one rule between rows.
func (m *Model) summaryKeras3(w io.Writer) {
	header := []string{"Layer (type)", "Output Shape", "Param #", "Connected to"}
	right := []bool{false, false, true, false}
	// Content widths: Keras' column stops less the cell padding, squeezed
	// to the line length the way its table renderer does.
	widths := []int{29, 25, 15, 26}
	if m.sequential {
		header, right, widths = header[:3], right[:3], []int{36, 27, 15}
	}
	rule := func(l, mid, r, fill string) {
		parts := make([]string, len(widths))
		for i, wd := range widths {
			parts[i] = strings.Repeat(fill, wd+2)
		}
		fmt.Fprintln(w, l+strings.Join(parts, mid)+r)
	}
	cells := func(vbar string, fields []string) {
		wrapped := make([][]string, len(fields))
		lines := 1
		for i, f := range fields {
			wrapped[i] = wrap(f, widths[i])
			lines = max(lines, len(wrapped[i]))
		}
		for k := 0; k < lines; k++ {
			var b strings.Builder
			b.WriteString(vbar)
			for i := range fields {
				s := ""
				if k < len(wrapped[i]) {
					s = wrapped[i][k]
				}
				pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s))
				if right[i] {
					s = pad + s
				} else {
					s += pad
				}
				b.WriteString(" " + s + " " + vbar)
			}
			fmt.Fprintln(w, b.String())
		}
	}
	fmt.Fprintf(w, "Model: %q\n", m.name)
	rule("┏", "┳", "┓", "━")
	cells("┃", header)
	rule("┡", "╇", "┩", "━")
	for i, l := range m.layers {
		fields := []string{l.name + " (" + l.class + ")", l.output.shape.String(), Thousands(int64(l.CountParams()))}
		if !m.sequential {
			conn := strings.Join(l.connections(), ", ")
			if conn == "" {
				conn = "-"
			}
			fields = append(fields, conn)
		}
		cells("│", fields)
		if i < len(m.layers)-1 {
			rule("├", "┼", "┤", "─")
		}
	}
	rule("└", "┴", "┘", "─")
	t, n := m.ParamCounts()
	fmt.Fprintf(w, " Total params: %s (%s)\n", Thousands(int64(t+n)), readableBytes(float64(4*(t+n))))
	fmt.Fprintf(w, " Trainable params: %s (%s)\n", Thousands(int64(t)), readableBytes(float64(4*t)))
	fmt.Fprintf(w, " Non-trainable params: %s (%s)\n", Thousands(int64(n)), readableBytes(float64(4*n)))
}

// wrap breaks s into lines of at most width runes at spaces, folding words
// longer than a line.
func wrap(s string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		for utf8.RuneCountInString(word) > width {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			r := []rune(word)
			lines = append(lines, string(r[:width]))
			word = string(r[width:])
		}
		switch {
		case cur == "":
			cur = word
		case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// SummaryJSON is the machine-readable summary.
type SummaryJSON struct {
	Name         string             `json:"name"`
	Total        int                `json:"total"`
	Trainable    int                `json:"trainable"`
	NonTrainable int                `json:"non_trainable"`
	MACs         int64              `json:"macs"`
	Layers       []LayerSummaryJSON `json:"layers"`
}

// LayerSummaryJSON is one layer of SummaryJSON. OutputShape holds the batch
// dimension and unknown sizes as null.
type LayerSummaryJSON struct {
	Name        string   `json:"name"`
	Class       string   `json:"class"`
	OutputShape []*int   `json:"output_shape"`
	Params      int      `json:"params"`
	Inbound     []string `json:"inbound"`
}

// JSON returns the model's summary in machine-readable form.
func (m *Model) JSON() SummaryJSON {
	t, n := m.ParamCounts()
	macs, _ := m.MACs()
	s := SummaryJSON{Name: m.name, Total: t + n, Trainable: t, NonTrainable: n, MACs: macs,
		Layers: make([]LayerSummaryJSON, 0, len(m.layers))}
	for _, l := range m.layers {
		shape := []*int{nil}
		for _, d := range l.output.shape {
			if d == Unknown {
				shape = append(shape, nil)
			} else {
				shape = append(shape, &d)
			}
		}
		in := make([]string, 0, len(l.inputs))
		for _, t := range l.inputs {
			in = append(in, t.layer.name)
		}
		s.Layers = append(s.Layers, LayerSummaryJSON{Name: l.name, Class: l.class, OutputShape: shape,
			Params: l.CountParams(), Inbound: in})
	}
	return s
}

// WriteJSON writes the machine-readable summary, indented.
func (m *Model) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m.JSON())
}

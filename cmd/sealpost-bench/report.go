// report.go: statistics (median, percentiles) and the output, a
// side-by-side table with Sealpost/Dovecot ratios or JSON.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. It returns 0 for an empty slice.
func percentile[T int64 | float64 | time.Duration](sorted []T, p float64) T {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median of the values (the mean of the two middle ones for an even
// count); NaN for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// row is one measured quantity, with every sample of every target.
type row struct {
	Group   string               `json:"group"`
	Name    string               `json:"name"`
	Unit    string               `json:"unit"`
	Higher  bool                 `json:"higher_is_better"`
	Samples map[string][]float64 `json:"samples"`
	Median  map[string]float64   `json:"median"`
	// Ratio is Sealpost's median over Dovecot's; 0 when either is missing.
	Ratio float64 `json:"ratio_sealpost_over_dovecot,omitempty"`
}

// results collects rows in the order they were first measured, plus
// notes (caps hit, mismatched counts, failed workloads).
type results struct {
	mu        sync.Mutex
	Meta      map[string]string `json:"meta"`
	metaOrder []string
	Rows      []*row   `json:"rows"`
	Notes     []string `json:"notes,omitempty"`
	index     map[string]*row
}

func newResults() *results {
	return &results{Meta: map[string]string{}, index: map[string]*row{}}
}

// add records one sample. higher tells whether a bigger value is better.
func (r *results) add(group, name, unit string, higher bool, target string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := group + "\x00" + name
	rw := r.index[key]
	if rw == nil {
		rw = &row{Group: group, Name: name, Unit: unit, Higher: higher, Samples: map[string][]float64{}}
		r.index[key] = rw
		r.Rows = append(r.Rows, rw)
	}
	rw.Samples[target] = append(rw.Samples[target], v)
}

// setMeta sets a header line; lines print in the order first set.
func (r *results) setMeta(key, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.Meta[key]; !ok {
		r.metaOrder = append(r.metaOrder, key)
	}
	r.Meta[key] = value
}

func (r *results) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finish computes medians and ratios.
func (r *results) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rw := range r.Rows {
		rw.Median = map[string]float64{}
		for t, s := range rw.Samples {
			rw.Median[t] = median(s)
		}
		s, okS := rw.Median[nameSealpost]
		d, okD := rw.Median[nameDovecot]
		rw.Ratio = 0
		if okS && okD && d != 0 && !math.IsNaN(s) && !math.IsNaN(d) {
			rw.Ratio = s / d
		}
	}
}

// verdict says how Sealpost compares, taking the metric's direction into
// account: "2.10x better" for twice the throughput or half the time.
func verdict(ratio float64, higher bool) string {
	if ratio <= 0 || math.IsInf(ratio, 0) || math.IsNaN(ratio) {
		return ""
	}
	f := ratio
	if !higher {
		f = 1 / ratio
	}
	switch {
	case f >= 1.05:
		return fmt.Sprintf("%.2fx better", f)
	case f <= 1/1.05:
		return fmt.Sprintf("%.2fx worse", 1/f)
	default:
		return "same"
	}
}

// formatNum prints v with about three significant digits.
func formatNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1 || a == 0:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func cell(rw *row, target string) string {
	v, ok := rw.Median[target]
	if !ok {
		return "-"
	}
	s := formatNum(v)
	if n := len(rw.Samples[target]); n > 1 {
		s += fmt.Sprintf(" (%d)", n)
	}
	return s
}

// writeTable prints the side-by-side table: one line per row, grouped,
// with medians (sample counts in parentheses), S/D and a verdict.
func (r *results) writeTable(w io.Writer) {
	r.finish()
	for _, k := range r.metaOrder {
		fmt.Fprintf(w, "# %-14s %s\n", k+":", r.Meta[k])
	}
	header := []string{"workload", "metric", "unit", nameSealpost, nameDovecot, "S/D", "Sealpost is"}
	lines := [][]string{header}
	for _, rw := range r.Rows {
		ratio := "-"
		if rw.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", rw.Ratio)
		}
		lines = append(lines, []string{rw.Group, rw.Name, rw.Unit, cell(rw, nameSealpost), cell(rw, nameDovecot),
			ratio, verdict(rw.Ratio, rw.Higher)})
	}
	width := make([]int, len(header))
	for _, l := range lines {
		for i, c := range l {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	numeric := map[int]bool{3: true, 4: true, 5: true}
	prevGroup := ""
	for n, l := range lines {
		if n > 1 && l[0] != prevGroup {
			fmt.Fprintln(w)
		}
		prevGroup = l[0]
		var b strings.Builder
		for i, c := range l {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if numeric[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			if i < len(l)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if n == 0 {
			fmt.Fprintln(w, strings.Repeat("-", len(strings.TrimRight(b.String(), " "))))
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
}

func (r *results) writeJSON(w io.Writer) error {
	r.finish()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	r.mu.Lock()
	defer r.mu.Unlock()
	return enc.Encode(r)
}

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of 10", ten, 50, 5},
		{"p90 of 10", ten, 90, 9},
		{"p99 of 10", ten, 99, 10},
		{"p100 of 10", ten, 100, 10},
		{"tiny p", ten, 0.1, 1},
		{"p99 of 100", hundred, 99, 99},
		{"p50 of 100", hundred, 50, 50},
		{"p99.9 of 100", hundred, 99.9, 100},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
	d := []time.Duration{time.Millisecond, 2 * time.Millisecond, 30 * time.Millisecond}
	if got := percentile(d, 99); got != 30*time.Millisecond {
		t.Errorf("durations: p99 = %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10},
	} {
		in := append([]float64(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its input")
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		ratio  float64
		higher bool
		want   string
	}{
		{2, true, "2.00x better"},    // twice the throughput
		{0.5, false, "2.00x better"}, // half the time
		{0.5, true, "2.00x worse"},
		{4, false, "4.00x worse"},
		{1.02, true, "same"},
		{0.97, false, "same"},
		{0, true, ""},
		{math.Inf(1), true, ""},
	} {
		if got := verdict(tc.ratio, tc.higher); got != tc.want {
			t.Errorf("verdict(%v, %v) = %q, want %q", tc.ratio, tc.higher, got, tc.want)
		}
	}
}

func TestFormatNum(t *testing.T) {
	for v, want := range map[float64]string{
		12345.6: "12346", 512.34: "512.3", 3.14159: "3.14", 0: "0.00", 0.01234: "0.012", math.NaN(): "-",
	} {
		if got := formatNum(v); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", v, got, want)
		}
	}
}

func sampleResults() *results {
	r := newResults()
	r.setMeta("started", "now")
	r.setMeta("machine", "2 CPUs")
	for _, v := range []float64{100, 300, 200} {
		r.add("lmtp", "4 KB, 1 conn: throughput", "msgs/s", true, nameSealpost, v)
	}
	for _, v := range []float64{100, 90, 110} {
		r.add("lmtp", "4 KB, 1 conn: throughput", "msgs/s", true, nameDovecot, v)
	}
	r.add("imap", "10k msgs: SELECT", "ms", false, nameSealpost, 5)
	r.add("imap", "10k msgs: SELECT", "ms", false, nameDovecot, 20)
	r.add("conns", "10000 idle conns: established", "conns", true, nameSealpost, 2000)
	r.note("conns on %s: capped", nameSealpost)
	return r
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	sampleResults().writeTable(&out)
	s := out.String()
	lines := strings.Split(s, "\n")
	if !strings.HasPrefix(lines[0], "# started:") || !strings.HasPrefix(lines[1], "# machine:") {
		t.Errorf("meta lines not first and in order:\n%s", s)
	}
	find := func(sub string) string {
		for _, l := range lines {
			if strings.Contains(l, sub) {
				return l
			}
		}
		t.Fatalf("no line with %q in:\n%s", sub, s)
		return ""
	}
	// Median of 100, 300, 200 is 200; of 100, 90, 110 is 100: 2x better.
	if l := find("4 KB, 1 conn"); !strings.Contains(l, "200.0 (3)") || !strings.Contains(l, "100.0 (3)") ||
		!strings.Contains(l, "2.00") || !strings.Contains(l, "2.00x better") {
		t.Errorf("lmtp line: %q", l)
	}
	// Lower is better for times: 5 ms vs 20 ms is 0.25 and 4x better.
	if l := find("SELECT"); !strings.Contains(l, "0.25") || !strings.Contains(l, "4.00x better") {
		t.Errorf("SELECT line: %q", l)
	}
	// A target without a value gets "-" and no verdict.
	if l := find("established"); !strings.Contains(l, " - ") || strings.Contains(l, "better") {
		t.Errorf("one-sided line: %q", l)
	}
	if !strings.Contains(s, "notes:\n  - conns on sealpost: capped") {
		t.Errorf("notes missing:\n%s", s)
	}
	// Columns line up: the unit column starts at the same offset.
	hdr := find("workload")
	col := strings.Index(hdr, "unit")
	for _, sub := range []string{"4 KB, 1 conn", "SELECT"} {
		if l := find(sub); len(l) < col+2 || l[col:col+2] != "ms" {
			t.Errorf("unit column not aligned in %q (want offset %d)", l, col)
		}
	}
}

func TestJSON(t *testing.T) {
	var out bytes.Buffer
	if err := sampleResults().writeJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Meta map[string]string
		Rows []struct {
			Group, Name string
			Median      map[string]float64
			Ratio       float64 `json:"ratio_sealpost_over_dovecot"`
			Higher      bool    `json:"higher_is_better"`
		}
		Notes []string
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(got.Rows) != 3 || got.Rows[0].Ratio != 2 || got.Rows[0].Median[nameSealpost] != 200 || !got.Rows[0].Higher {
		t.Errorf("rows: %+v", got.Rows)
	}
	if got.Meta["machine"] != "2 CPUs" || len(got.Notes) != 1 {
		t.Errorf("meta %v notes %v", got.Meta, got.Notes)
	}
}

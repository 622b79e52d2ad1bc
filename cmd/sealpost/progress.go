package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress reports a long operation: a redrawn bar when w is a terminal,
// else a plain line at every tenth of the work (or every 30 s when the
// total is unknown), so logs stay short and readable.
type progress struct {
	w       io.Writer
	tty     bool
	verb    string // "import", "export", "backup"
	unit    string // what add counts: "messages", "files"
	total   int64  // bytes; 0 = unknown
	msgs    int64
	bytes   int64
	failed  int64
	start   time.Time
	last    time.Time
	step    int64 // last tenth reported
	width   int
	drawn   bool
	nowFunc func() time.Time
}

func newProgress(w io.Writer, verb string, total int64) *progress {
	p := &progress{w: w, verb: verb, unit: "messages", total: total, nowFunc: time.Now, width: 80}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			p.width = cols
		}
	}
	p.start = p.nowFunc()
	p.last = p.start
	if p.tty {
		p.last = time.Time{} // draw at the first step
	}
	return p
}

// add counts work done: messages (or files) and source bytes.
func (p *progress) add(msgs, bytes int64) {
	p.msgs += msgs
	p.bytes += bytes
	now := p.nowFunc()
	switch {
	case p.tty:
		if now.Sub(p.last) >= 100*time.Millisecond {
			p.last = now
			p.draw(now)
		}
	case p.total > 0:
		if s := min(p.bytes*10/p.total, 10); s > p.step && s < 10 {
			p.step = s
			p.line(now)
		}
	default:
		if now.Sub(p.last) >= 30*time.Second {
			p.last = now
			p.line(now)
		}
	}
}

func (p *progress) fail() { p.failed++ }

func (p *progress) counts(now time.Time) string {
	s := fmt.Sprintf("%d %s, %s", p.msgs, p.unit, humanBytes(p.bytes))
	if p.total > 0 {
		s += " of " + humanBytes(p.total)
	}
	if el := now.Sub(p.start).Seconds(); el > 0.5 {
		s += fmt.Sprintf(", %s/s", humanBytes(int64(float64(p.bytes)/el)))
	}
	if p.failed > 0 {
		s += fmt.Sprintf(", %d failed", p.failed)
	}
	return s
}

func (p *progress) line(now time.Time) {
	pct := ""
	if p.total > 0 {
		pct = fmt.Sprintf(" %d%%", min(p.bytes*100/p.total, 100))
	}
	fmt.Fprintf(p.w, "%s:%s %s\n", p.verb, pct, p.counts(now))
}

func (p *progress) draw(now time.Time) {
	text := p.counts(now)
	bar := ""
	if p.total > 0 {
		n := p.width - len(text) - len(p.verb) - 12
		if n > 50 {
			n = 50
		}
		if n >= 10 {
			done := int(min(p.bytes*int64(n)/p.total, int64(n)))
			bar = "[" + strings.Repeat("=", done) + strings.Repeat(" ", n-done) + "] "
		}
		text = fmt.Sprintf("%3d%% %s", min(p.bytes*100/p.total, 100), text)
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s%s", p.verb, bar, text)
	p.drawn = true
}

// done ends the report; the caller prints the summary.
func (p *progress) done() {
	if p.tty && (p.drawn || p.msgs > 0) {
		p.draw(p.nowFunc())
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

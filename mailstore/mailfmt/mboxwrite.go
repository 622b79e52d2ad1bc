package mailfmt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"
)

// MboxWriter writes messages to one mbox file: a From_ line with the
// envelope sender (from Return-Path) and the internal date, the header
// with Status/X-Status/X-Keywords for the flags, the body with From lines
// quoted, and an empty line. Line ends are written as LF.
type MboxWriter struct {
	w       *bufio.Writer
	variant MboxVariant
	br      *bufio.Reader
}

// NewMboxWriter writes to w; call Flush at the end.
func NewMboxWriter(w io.Writer, variant MboxVariant) *MboxWriter {
	return &MboxWriter{w: bufio.NewWriterSize(w, 64<<10), variant: variant}
}

// Flush writes buffered data.
func (w *MboxWriter) Flush() error { return w.w.Flush() }

// Write appends one message. It returns the number of bytes written.
func (w *MboxWriter) Write(m *Message) (int64, error) {
	if w.br == nil {
		w.br = bufio.NewReaderSize(m.Body, lineBuf)
	} else {
		w.br.Reset(m.Body)
	}
	cw := &countingWriter{w: w.w}
	hp := newHeaderParser()
	var rest []byte // a line read but not part of the header
	restMid := false
	for {
		line, err := w.br.ReadSlice('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return cw.n, err
		}
		if errors.Is(err, bufio.ErrBufferFull) || len(hp.kept)+len(line) > maxHeader {
			rest, restMid = bytes.Clone(line), errors.Is(err, bufio.ErrBufferFull)
			break
		}
		done, bad := hp.feed(line)
		if bad {
			rest = bytes.Clone(line)
			break
		}
		if done || errors.Is(err, io.EOF) {
			break
		}
	}
	hp.field()
	sender := envelopeSender(hp.retPath)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	cw.WriteString("From " + sender + " " + date.Local().Format(time.ANSIC) + "\n")

	// The header, minus any old status lines, then ours before its end.
	hdr := hp.kept
	blank := hp.complete
	if blank {
		hdr = bytes.TrimSuffix(bytes.TrimSuffix(hdr, []byte("\n")), []byte("\r"))
	}
	w.writeLines(cw, hdr, false)
	cw.WriteString(StatusHeaders(m.Flags))
	if blank || rest != nil {
		cw.WriteString("\n")
	}
	// The body, quoted, line by line.
	lastNL := true
	mid := false
	emit := func(line []byte, complete bool) {
		if !mid && w.variant.needsQuote(line) {
			cw.WriteString(">")
		}
		line = crlfToLF(line)
		cw.Write(line)
		if len(line) > 0 {
			lastNL = line[len(line)-1] == '\n'
		}
		mid = !complete
	}
	if rest != nil {
		emit(rest, !restMid)
	}
	if rest != nil || blank {
		for {
			line, err := w.br.ReadSlice('\n')
			if len(line) > 0 {
				emit(line, err == nil || errors.Is(err, io.EOF))
			}
			if err == nil || errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return cw.n, err
		}
	}
	if !lastNL {
		cw.WriteString("\n")
	}
	cw.WriteString("\n")
	return cw.n, cw.err
}

// writeLines writes header lines with LF endings.
func (w *MboxWriter) writeLines(cw *countingWriter, b []byte, _ bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i+1], b[i+1:]
		}
		line = crlfToLF(line)
		cw.Write(line)
		if line[len(line)-1] != '\n' {
			cw.WriteString("\n")
		}
	}
}

func crlfToLF(line []byte) []byte {
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		return line[:n-1]
	}
	return line
}

// envelopeSender turns a Return-Path value into the From_ line's sender.
func envelopeSender(rp string) string {
	s := strings.TrimSpace(rp)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return "MAILER-DAEMON"
	}
	return s
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countingWriter) WriteString(s string) {
	c.Write([]byte(s))
}

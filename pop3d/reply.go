package pop3d

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"time"
)

// writeTimeout bounds each write to the socket. It is per write call (at most
// one bufio buffer), so a long RETR on a slow link is not cut off as a whole.
const writeTimeout = time.Minute

// deadlineWriter sets a fresh write deadline before every write. It sits
// below the bufio.Writer only; c.nc itself stays the bare *tls.Conn or TCP
// conn, so the TLS predicate keeps working.
type deadlineWriter struct {
	nc net.Conn
	d  time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	if err := w.nc.SetWriteDeadline(time.Now().Add(w.d)); err != nil {
		return 0, err
	}
	return w.nc.Write(p)
}

// ok writes a single-line positive reply. Write errors stick in the
// bufio.Writer and surface at the next flush.
func (c *conn) ok(format string, args ...any) {
	c.bw.WriteString("+OK")
	if format != "" {
		c.bw.WriteByte(' ')
		fmt.Fprintf(c.bw, format, args...)
	}
	c.bw.WriteString("\r\n")
}

// fail writes a -ERR reply with its response code (RFC 2449 §8).
func (c *conn) fail(e *respError) {
	c.bw.WriteString("-ERR ")
	if e.code != "" {
		c.bw.WriteString("[" + e.code + "] ")
	}
	c.bw.WriteString(e.text)
	c.bw.WriteString("\r\n")
}

// multiline writes a +OK line, the given lines dot-stuffed and the final ".".
// With no lines the reply is "+OK ..." and "." alone (an empty LIST).
func (c *conn) multiline(first string, lines []string) error {
	c.ok("%s", first)
	dw := newDotWriter(c.bw)
	for _, l := range lines {
		io.WriteString(dw, l)
		io.WriteString(dw, "\r\n")
	}
	if err := dw.Close(); err != nil {
		return fatalError{err}
	}
	return nil
}

// streamBody copies a message through a dot-stuffing writer (RFC 1939 §3)
// and returns the octets sent before stuffing, which LIST must have
// announced. The body is never held in memory as a whole. limit < 0 copies
// everything; otherwise the header, the blank line and limit body lines
// (TOP, RFC 1939 §7).
func (c *conn) streamBody(body io.Reader, limit int) (int64, error) {
	dw := newDotWriter(c.bw)
	var err error
	if limit < 0 {
		_, err = io.Copy(dw, body)
	} else {
		err = copyTop(dw, body, limit)
	}
	if err != nil {
		return dw.n, err
	}
	err = dw.Close()
	return dw.n, err
}

// dotWriter writes the body of a multi-line response (RFC 1939 §3): a line
// that begins with "." gets another ".", a bare LF becomes CRLF, an
// unterminated last line gets its CRLF, and Close adds the final ".".
// Unlike textproto's DotWriter it never flushes (the command loop flushes
// once no pipelined command is waiting), it copies whole lines rather than
// bytes, and an empty body is the "." line alone, not CRLF ".".
type dotWriter struct {
	w       *bufio.Writer
	n       int64 // octets of the body as sent, before stuffing
	started bool  // something was written
	lastCR  bool  // the last octet written was CR
	midLine bool  // the last octet written was not the LF of a line end
}

func newDotWriter(w *bufio.Writer) *dotWriter { return &dotWriter{w: w} }

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if !d.midLine && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return n - len(p), err
			}
		}
		d.started = true
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if _, err := d.w.Write(p); err != nil {
				return n - len(p), err
			}
			d.n += int64(len(p))
			d.lastCR, d.midLine = p[len(p)-1] == '\r', true
			break
		}
		crlf := (i > 0 && p[i-1] == '\r') || (i == 0 && d.lastCR)
		d.w.Write(p[:i])
		if !crlf {
			d.w.WriteByte('\r')
			d.n++
		}
		if err := d.w.WriteByte('\n'); err != nil {
			return n - len(p), err
		}
		d.n += int64(i + 1)
		d.lastCR, d.midLine = false, false
		p = p[i+1:]
	}
	return n, nil
}

// Close ends an unterminated last line and writes the final ".".
func (d *dotWriter) Close() error {
	if d.started && d.midLine {
		d.w.WriteString("\r\n")
		d.n += 2
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}

// copyTop copies the header, the blank line that ends it, and at most n
// lines of the body, line by line with bounded memory.
func copyTop(w io.Writer, r io.Reader, n int) error {
	br := bufio.NewReaderSize(r, 4096)
	inHeader, lineStart, lines := true, true, 0
	for {
		if !inHeader && lineStart && lines >= n {
			return nil
		}
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if _, werr := w.Write(frag); werr != nil {
				return werr
			}
		}
		switch err {
		case nil:
			if inHeader {
				if lineStart && (bytes.Equal(frag, []byte("\r\n")) || bytes.Equal(frag, []byte("\n"))) {
					inHeader = false
				}
			} else {
				lines++
			}
			lineStart = true
		case bufio.ErrBufferFull:
			lineStart = false
		case io.EOF:
			return nil
		default:
			return err
		}
	}
}

package msgmeta

import "io"

// NormalizeCRLF returns a reader that turns every line end into CRLF: a bare
// LF and a lone CR each become CRLF, and CRLF is left alone. The store keeps
// messages in this form so IMAP sizes (RFC 9051 RFC822.SIZE) are exact.
func NormalizeCRLF(r io.Reader) io.Reader {
	return &crlfReader{r: r}
}

type crlfReader struct {
	r   io.Reader
	in  [16 << 10]byte
	buf [32 << 10]byte // converted bytes; at most twice the input
	out []byte         // unread part of buf
	cr  bool           // the last input byte was CR, already written as CRLF
	err error
}

func (c *crlfReader) Read(p []byte) (int, error) {
	if len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.r.Read(c.in[:])
		c.err = err
		c.out = c.convert(c.in[:n])
		if len(c.out) == 0 {
			return 0, c.err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// convert writes s with normalised line ends into c.buf.
func (c *crlfReader) convert(s []byte) []byte {
	o := c.buf[:0]
	start := 0
	for i, b := range s {
		if b != '\r' && b != '\n' {
			continue
		}
		o = append(o, s[start:i]...)
		start = i + 1
		if b == '\n' && c.cr {
			c.cr = false // second half of a CRLF already written
			continue
		}
		o = append(o, '\r', '\n')
		c.cr = b == '\r'
	}
	if start < len(s) {
		o = append(o, s[start:]...)
		c.cr = false
	}
	return o
}

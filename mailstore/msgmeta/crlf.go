package msgmeta

import (
	"bytes"
	"io"
)

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

// convert writes s with normalised line ends into c.buf. It works a line
// at a time with IndexByte (vectorised): lines already ending in CRLF, the
// usual case, are copied as they are.
func (c *crlfReader) convert(s []byte) []byte {
	o := c.buf[:0]
	for len(s) > 0 {
		if c.cr {
			c.cr = false
			if s[0] == '\n' {
				s = s[1:] // second half of a CRLF already written
				continue
			}
		}
		j := bytes.IndexByte(s, '\n')
		seg := s
		if j >= 0 {
			seg = s[:j]
		}
		k := bytes.IndexByte(seg, '\r')
		switch {
		case k < 0 && j < 0: // no line end in the rest
			return append(o, s...)
		case k < 0: // bare LF
			o = append(append(o, seg...), '\r', '\n')
			s = s[j+1:]
		case j >= 0 && k == j-1: // CRLF
			o = append(o, s[:j+1]...)
			s = s[j+1:]
		default: // a CR not followed by LF here, maybe by one in the next read
			o = append(append(o, seg[:k]...), '\r', '\n')
			c.cr = true
			s = s[k+1:]
		}
	}
	return o
}

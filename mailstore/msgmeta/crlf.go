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
	r    io.Reader
	conv *crlfBufs // allocated for the first read that needs converting
	out  []byte    // converted bytes not yet returned, in conv.buf
	cr   bool      // the last input byte was CR, already written as CRLF
	err  error
}

// crlfChunk is the most read from r at once.
const crlfChunk = 16 << 10

type crlfBufs struct {
	in  [crlfChunk]byte
	buf [2 * crlfChunk]byte // converted bytes; at most twice the input
}

// Read reads straight into p. A chunk already in CRLF form, the usual
// case (MTAs send CRLF), is returned as it is: no copy, no allocation.
// Any other is copied aside and converted.
func (c *crlfReader) Read(p []byte) (int, error) {
	if len(c.out) > 0 {
		n := copy(p, c.out)
		c.out = c.out[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.r.Read(p[:min(len(p), crlfChunk)])
	c.err = err
	if n == 0 {
		return 0, err
	}
	if !(c.cr && p[0] == '\n') && isCRLF(p[:n]) {
		c.cr = false
		return n, nil
	}
	if c.conv == nil {
		c.conv = new(crlfBufs)
	}
	m := copy(c.conv.in[:], p[:n])
	c.out = c.convert(c.conv.in[:m])
	k := copy(p, c.out)
	c.out = c.out[k:]
	return k, nil
}

// isCRLF reports whether every CR and LF in s is part of a CRLF within s:
// each LF has a CR before it, and there are no more CRs than LFs. One
// IndexByte per line and one vectorised count.
func isCRLF(s []byte) bool {
	lines := 0
	for i := 0; ; {
		j := bytes.IndexByte(s[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || s[i+j-1] != '\r' {
			return false
		}
		lines++
		i += j + 1
	}
	return bytes.Count(s, []byte{'\r'}) == lines
}

// convert writes s with normalised line ends into c.conv.buf. It works a line
// at a time with IndexByte (vectorised): lines already ending in CRLF, the
// usual case, are copied as they are.
func (c *crlfReader) convert(s []byte) []byte {
	o := c.conv.buf[:0]
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

package msgmeta

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // encoded words in every IANA charset
	"github.com/emersion/go-message/textproto"
)

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows. It is safe for concurrent use.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return nil, fmt.Errorf("msgmeta: unknown charset %q", cs)
	}
	return message.CharsetReader(strings.ToLower(cs), r)
}

// decodeText decodes encoded words in s, or returns s as it is when they do
// not decode.
func decodeText(s string) string {
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// readHeader parses captured header bytes. Lines that are not header fields
// (no colon, a bad field name, a stray continuation) are dropped first, since
// textproto.ReadHeader stops at the first one and real mail has them.
func readHeader(b []byte) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(cleanHeader(b))))
	return h
}

func cleanHeader(b []byte) []byte {
	out := make([]byte, 0, len(b)+4)
	keep := false
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !keep {
				continue
			}
		} else {
			keep = validFieldLine(line)
			if !keep {
				continue
			}
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	return append(out, '\r', '\n')
}

// validFieldLine reports whether line starts a header field: a non-empty
// name of printable ASCII (RFC 5322 §2.2), optional blanks, then a colon.
func validFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// partFields fills the BODYSTRUCTURE fields of pt from its header.
func partFields(h textproto.Header, pt *Part, inDigest bool) {
	ct := h.Get("Content-Type")
	if strings.TrimSpace(ct) == "" && inDigest {
		// RFC 2046 §5.1.5: in a digest the default is message/rfc822.
		pt.Type, pt.Subtype = "message", "rfc822"
	} else {
		mt, params := parseParamHeader(ct)
		pt.Type, pt.Subtype = splitMediaType(mt)
		pt.Params = params
	}
	pt.ID = strings.TrimSpace(h.Get("Content-Id"))
	pt.Description = decodeText(strings.TrimSpace(h.Get("Content-Description")))
	pt.Encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if d := h.Get("Content-Disposition"); strings.TrimSpace(d) != "" {
		disp, params := parseParamHeader(d)
		if isToken(disp) {
			pt.Disposition, pt.DispositionParams = disp, params
		}
	}
	for _, tag := range strings.Split(h.Get("Content-Language"), ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			pt.Language = append(pt.Language, tag)
		}
	}
	pt.Location = strings.TrimSpace(h.Get("Content-Location"))
	pt.MD5 = strings.TrimSpace(h.Get("Content-Md5"))
}

// splitMediaType splits "type/subtype"; anything unusable gives the RFC 2045
// §5.2 default, text/plain.
func splitMediaType(mt string) (typ, sub string) {
	typ, sub, ok := strings.Cut(mt, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !ok || !isToken(typ) || !isToken(sub) {
		return "text", "plain"
	}
	return typ, sub
}

// parseParamHeader parses a Content-Type or Content-Disposition value into
// its lower-case value and parameters (RFC 2045 §5.1, RFC 2231), with
// encoded words in values decoded as go-message does. When
// mime.ParseMediaType rejects the value (duplicate or malformed parameters
// are common), parameters are recovered one by one.
func parseParamHeader(v string) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = lenientParams(v)
	}
	if len(params) == 0 {
		params = nil
	}
	for k, pv := range params {
		if k != "boundary" { // matched byte for byte against the body
			params[k] = decodeText(pv)
		}
	}
	return mt, params
}

func lenientParams(v string) (string, map[string]string) {
	segs := splitUnquoted(v, ';')
	mt := strings.ToLower(strings.TrimSpace(segs[0]))
	params := make(map[string]string)
	for _, seg := range segs[1:] {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		if _, ps, err := mime.ParseMediaType("x/x; " + seg); err == nil {
			for k, pv := range ps {
				if _, dup := params[k]; !dup {
					params[k] = pv
				}
			}
			continue
		}
		k, pv, ok := strings.Cut(seg, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = unquote(strings.TrimSpace(pv))
		}
	}
	return mt, params
}

// splitUnquoted splits s at sep outside double quotes. It always returns at
// least one element.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote strips one level of double quotes and backslash escapes, if s is
// a quoted string (even an unterminated one).
func unquote(s string) string {
	if len(s) == 0 || s[0] != '"' {
		return s
	}
	s = s[1:]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		} else if c == '"' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isToken reports whether s is a non-empty RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

package mailfmt

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3) is how Dovecot, Courier and many
// others spell folder names on disk: printable ASCII stands for itself
// ("&" as "&-"), anything else is UTF-16BE in a base64 variant between
// "&" and "-".

var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// EncodeUTF7 returns s in modified UTF-7.
func EncodeUTF7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		raw := make([]byte, 0, 2*len(run))
		for _, u := range run {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		if r == utf8.RuneError {
			r = '\uFFFD'
		}
		run = utf16.AppendRune(run, r)
	}
	flush()
	return b.String()
}

// DecodeUTF7 decodes modified UTF-7. ok is false when s is not valid
// modified UTF-7 (then callers usually keep s as it is).
func DecodeUTF7(s string) (string, bool) {
	if !strings.Contains(s, "&") {
		return s, isPrintableASCII(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", false
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", false
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := b64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
			return "", false
		}
		// Canonical encoders leave no spare bits: a final base64 digit
		// whose unused low bits are set is not modified UTF-7.
		if enc != b64.EncodeToString(raw) {
			return "", false
		}
		units := make([]uint16, len(raw)/2)
		for j := range units {
			units[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for j := 0; j < len(units); j++ {
			u := units[j]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if j+1 >= len(units) {
					return "", false
				}
				r = utf16.DecodeRune(rune(u), rune(units[j+1]))
				if r == utf8.RuneError {
					return "", false
				}
				j++
			default:
				r = rune(u)
			}
			// Printable ASCII must not be base64-encoded.
			if r >= 0x20 && r <= 0x7e {
				return "", false
			}
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

package main

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines maps each key a TOML document defines to the line defining it,
// so that config errors can name the line of any key (BurntSushi/toml
// keeps key positions private). It understands table headers ([a.b],
// [[a]]), dotted and quoted keys (tls.cert, "x y".z) and skips the inside
// of values (multi-line strings and arrays), which is all it needs: it
// only runs on documents toml.Decode has accepted. Keys inside inline
// tables are not recorded; lineOf falls back to the enclosing key, which
// is on the same line.
type keyLines map[string]int

func keyID(parts []string) string { return strings.Join(parts, "\x00") }

// lineOf returns the line of k, or of its longest recorded prefix; 0 if
// none is known.
func (kl keyLines) lineOf(k toml.Key) int {
	for n := len(k); n > 0; n-- {
		if l, ok := kl[keyID(k[:n])]; ok {
			return l
		}
	}
	return 0
}

func scanKeyLines(doc string) keyLines {
	kl := keyLines{}
	record := func(parts []string, line int) {
		for n := 1; n <= len(parts); n++ {
			if id := keyID(parts[:n]); kl[id] == 0 {
				kl[id] = line
			}
		}
	}
	var table []string
	var v valueScanner
	// toml skips a byte order mark; so must we, or the first key is missed.
	doc = strings.TrimPrefix(doc, "\ufeff")
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		if v.open() { // inside a multi-line string or array
			v.scan(line)
			continue
		}
		s := strings.TrimSpace(line)
		switch {
		case s == "" || s[0] == '#':
		case strings.HasPrefix(s, "[["):
			if parts, _, ok := parseKey(s[2:]); ok {
				table = parts
				record(table, n)
			}
		case s[0] == '[':
			if parts, _, ok := parseKey(s[1:]); ok {
				table = parts
				record(table, n)
			}
		default:
			parts, rest, ok := parseKey(s)
			if !ok || !strings.HasPrefix(rest, "=") {
				continue
			}
			record(append(append([]string(nil), table...), parts...), n)
			v.scan(rest[1:])
		}
	}
	return kl
}

// parseKey reads a dotted key at the start of s and returns its parts and
// what follows it (whitespace trimmed).
func parseKey(s string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, "", false
		}
		var part string
		switch s[0] {
		case '"':
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, "", false
			}
			part = s[1:end]
			if u, err := strconv.Unquote(s[:end+1]); err == nil {
				part = u
			}
			s = s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := 0
			for end < len(s) && isBareKeyChar(s[end]) {
				end++
			}
			if end == 0 {
				return nil, "", false
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] != '.' {
			return parts, s, true
		}
		s = s[1:]
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// valueScanner follows a value across lines: which string it is in and how
// deep in brackets.
type valueScanner struct {
	str   string // "", `"`, `'`, `"""` or `'''`
	depth int    // open [ and {
}

func (v *valueScanner) open() bool { return v.depth > 0 || len(v.str) == 3 }

func (v *valueScanner) scan(s string) {
	for i := 0; i < len(s); i++ {
		switch v.str {
		case "":
			switch c := s[i]; {
			case c == '#':
				return
			case c == '[' || c == '{':
				v.depth++
			case c == ']' || c == '}':
				if v.depth > 0 {
					v.depth--
				}
			case c == '"' || c == '\'':
				if strings.HasPrefix(s[i:], strings.Repeat(string(c), 3)) {
					v.str = s[i : i+3]
					i += 2
				} else {
					v.str = string(c)
				}
			}
		case `"`, `"""`:
			if s[i] == '\\' {
				i++
			} else if strings.HasPrefix(s[i:], v.str) {
				i += len(v.str) - 1
				v.str = ""
			}
		default: // literal strings have no escapes
			if strings.HasPrefix(s[i:], v.str) {
				i += len(v.str) - 1
				v.str = ""
			}
		}
	}
	if len(v.str) == 1 {
		v.str = "" // a single-line string cannot go on (toml.Decode would have failed)
	}
}

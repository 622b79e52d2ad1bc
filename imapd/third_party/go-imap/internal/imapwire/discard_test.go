package imapwire

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// TestDiscardCommand: after a failure anywhere in a command, DiscardCommand
// leaves the reader at the start of the next command, skipping the data of
// non-synchronizing literals and stopping after synchronizing ones.
func TestDiscardCommand(t *testing.T) {
	tests := []struct {
		name, in string
		fail     int    // bytes the "handler" reads before it fails
		next     string // what must be read next; "" with err
		err      error
	}{
		{"plain line", "a BAD stuff here\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"non-sync literal at the end", "a XFOO {5+}\r\nb DEL\r\nc NOOP\r\n", 2, "c NOOP", nil},
		{"two non-sync literals", "a X {3+}\r\nabc {2+}\r\nde tail\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"space before CRLF", "a X {3+} \r\nabc\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"sync literal ends the command", "a XFOO {5}\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"literal8", "a X ~{3+}\r\nabc)\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"header read by the handler", "a X {4+}\r\nabcd\r\nb NOOP\r\n", 8, "b NOOP", nil},
		{"too big to skip", "a X {2000000+}\r\nabc\r\n", 2, "", ErrUnskippableLiteral},
		{"size overflows", "a X {99999999999999999999+}\r\nabc\r\n", 2, "", ErrUnskippableLiteral},
		{"long line before the literal", "a X " + strings.Repeat("y", 200) + "{3+}\r\nabc\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"not a literal", "a X {abc}\r\nb NOOP\r\n", 2, "b NOOP", nil},
		{"braces without digits", "a X {+}\r\nb NOOP\r\n", 2, "b NOOP", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			dec := NewDecoder(br, ConnSideServer)
			dec.MaxLiteralSkip = 1 << 20
			for i := 0; i < tc.fail; i++ {
				dec.readByte()
			}
			err := dec.DiscardCommand()
			if !errors.Is(err, tc.err) {
				t.Fatalf("DiscardCommand: %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			line, _ := br.ReadString('\n')
			if got := strings.TrimSuffix(line, "\r\n"); got != tc.next {
				t.Errorf("next: %q, want %q", got, tc.next)
			}
		})
	}
}

// TestRefuseLiteral: a refused buffered literal is skipped (non-sync) or
// ends the command (sync); either way the command fails with the refusal.
func TestRefuseLiteral(t *testing.T) {
	refusal := errors.New("too big")
	for _, tc := range []struct{ in, next string }{
		{"{6+}\r\nt1 X\r\n rest\r\nb NOOP\r\n", "b NOOP"},
		{"{5}\r\nb NOOP\r\n", "b NOOP"},
	} {
		br := bufio.NewReader(strings.NewReader(tc.in))
		dec := NewDecoder(br, ConnSideServer)
		dec.MaxLiteralSkip = 1 << 20
		dec.CheckBufferedLiteralFunc = func(int64, bool) error { return refusal }
		var s string
		if dec.ExpectAString(&s) || !errors.Is(dec.Err(), refusal) {
			t.Fatalf("%q: decoded %q, err %v", tc.in, s, dec.Err())
		}
		if dec.ExpectSP() {
			t.Errorf("%q: decoding went on after the refusal", tc.in)
		}
		if err := dec.DiscardCommand(); err != nil {
			t.Fatal(err)
		}
		if line, _ := br.ReadString('\n'); strings.TrimSuffix(line, "\r\n") != tc.next {
			t.Errorf("%q: next %q, want %q", tc.in, line, tc.next)
		}
	}
}

func FuzzTrailingLiteral(f *testing.F) {
	for _, s := range []string{"{5}", "{5+}", "x {12+} ", "}", "{}", "{+}", "~{3}", "{99999999999999999999+}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec := NewDecoder(bufio.NewReader(strings.NewReader(s)), ConnSideServer)
		for {
			if _, ok := dec.readByte(); !ok {
				break
			}
		}
		size, _, isLit, ok := dec.trailingLiteral()
		if ok && (!isLit || size < 0) {
			t.Fatalf("%q: size %d isLit %v ok %v", s, size, isLit, ok)
		}
	})
}

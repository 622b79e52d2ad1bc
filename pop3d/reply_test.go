package pop3d

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// dotWrite runs chunks through a dotWriter and returns the wire bytes and
// the octet count it reports.
func dotWrite(t testing.TB, chunks ...string) (string, int64) {
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 16)
	dw := newDotWriter(bw)
	for _, c := range chunks {
		if n, err := dw.Write([]byte(c)); err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return out.String(), dw.n
}

func TestDotWriter(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		wire   string
		n      int64
	}{
		{"empty", nil, ".\r\n", 0},
		{"empty writes", []string{"", ""}, ".\r\n", 0},
		{"one line", []string{"a\r\n"}, "a\r\n.\r\n", 3},
		{"unterminated", []string{"a"}, "a\r\n.\r\n", 3},
		{"blank line", []string{"\r\n"}, "\r\n.\r\n", 2},
		{"bare LF", []string{"a\nb\n"}, "a\r\nb\r\n.\r\n", 6},
		{"leading dots", []string{".a\r\n..\r\n.\r\nx.\r\n"}, "..a\r\n...\r\n..\r\nx.\r\n.\r\n", 15},
		{"dot only unterminated", []string{"."}, "..\r\n.\r\n", 3},
		{"CR LF split", []string{"a\r", "\n.b\r\n"}, "a\r\n..b\r\n.\r\n", 7},
		{"dot after split", []string{"a\r\n", ".", "b\r\n"}, "a\r\n..b\r\n.\r\n", 7},
		{"dot mid-line split", []string{"a", ".b\r\n"}, "a.b\r\n.\r\n", 5},
		{"unterminated after lines", []string{"x\r\n", "nonl"}, "x\r\nnonl\r\n.\r\n", 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wire, n := dotWrite(t, tc.chunks...)
			if wire != tc.wire || n != tc.n {
				t.Fatalf("got %q (%d octets), want %q (%d)", wire, n, tc.wire, tc.n)
			}
		})
	}
}

// FuzzDotWriter: whatever the input and however it is split, the wire form
// is CRLF lines ending in ".", un-stuffing gives the input with CRLF line
// ends (and a final CRLF), and the reported count is that length.
func FuzzDotWriter(f *testing.F) {
	for _, s := range append(testMessages, "", ".", "a\r", "\r\n.\r\n", "x\n.\n..\n", "Subject: nonl\r\n\r\nno newline at end") {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, in string, split int) {
		if strings.Contains(strings.ReplaceAll(in, "\r\n", ""), "\r") {
			return // a lone CR is data, not a line end; the store never keeps one
		}
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		wire, n := dotWrite(t, in[:split], in[split:])
		want := strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\n", "\r\n")
		if want != "" && !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		if n != int64(len(want)) {
			t.Fatalf("count %d, want %d", n, len(want))
		}
		body, ok := strings.CutSuffix(wire, ".\r\n")
		if !ok {
			t.Fatalf("wire %q lacks the final dot", wire)
		}
		var got strings.Builder
		for _, l := range strings.SplitAfter(body, "\r\n") {
			if l == ".\r\n" {
				t.Fatalf("wire %q has an early terminator", wire)
			}
			got.WriteString(strings.TrimPrefix(l, "."))
		}
		if got.String() != want {
			t.Fatalf("un-stuffed %q, want %q", got.String(), want)
		}
	})
}

package msgmeta

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// sizedReader returns reads of the sizes it cycles through, so that lines
// and boundaries land on every position of Parse's buffer.
type sizedReader struct {
	r     io.Reader
	sizes []int
	i     int
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n := s.sizes[s.i%len(s.sizes)]
	s.i++
	return s.r.Read(p[:min(len(p), n)])
}

// Taking body lines in bulk (bodyRun) gives exactly the metadata of
// feeding them one by one, on random messages built from the lines that
// matter: boundaries of nested multiparts, near misses ("--", "---a",
// "-a"), empty lines, headers, bare LF and lone CR line ends, long lines.
func TestBodyRunMatchesLineByLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := []string{
		"--a", "--a--", "--b", "--b--", "--a  ", "--", "---a", "-a", "- -", "x--a", "text -- with dashes",
		"", "", "Content-Type: multipart/mixed; boundary=b", "Content-Type: message/rfc822",
		"Content-Type: multipart/alternative; boundary=\"a\"", "Subject: hi", " folded",
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0QUJD",
		strings.Repeat("L", 70000),
	}
	ends := []string{"\r\n", "\r\n", "\r\n", "\n", "\r"}
	for k := range 3000 {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=a\r\n\r\n")
		for range rng.IntN(60) {
			w := words[rng.IntN(len(words))]
			if len(w) > 1000 && rng.IntN(8) != 0 {
				continue
			}
			b.WriteString(w)
			b.WriteString(ends[rng.IntN(len(ends))])
		}
		msg := b.String()
		if rng.IntN(4) == 0 {
			msg = msg[:rng.IntN(len(msg)+1)] // no final line end, or cut anywhere
		}
		sizes := []int{1 + rng.IntN(200), 1 + rng.IntN(5), 1 + rng.IntN(70000)}
		want, err := parse(strings.NewReader(msg), false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parse(&sizedReader{r: strings.NewReader(msg), sizes: sizes}, true)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d (%d bytes, reads %v) differs: %v\n got %#v\nwant %#v", k, len(msg), sizes, err, got, want)
		}
	}
}

func TestDashLine(t *testing.T) {
	for _, tc := range []struct {
		buf     string
		atStart bool
		want    int
	}{
		{"", true, 0},
		{"abc\n", true, 4},
		{"--a\n", true, 0},
		{"--a\n", false, 4}, // the rest of a line, not its start
		{"x\n--a\n", false, 2},
		{"x-\n-a\n--\n", true, 6},
		{"a---\n---\n", true, 5},
		{"a -- b\n", true, 7},
	} {
		if got := dashLine([]byte(tc.buf), tc.atStart); got != tc.want {
			t.Errorf("dashLine(%q, %v) = %d, want %d", tc.buf, tc.atStart, got, tc.want)
		}
	}
}

// The messages of the other tests, read in bulk and line by line.
func TestBodyRunSeeds(t *testing.T) {
	for _, s := range seedMessages() {
		for _, in := range []string{s, s + strings.Repeat(strings.Repeat("z", 76)+"\r\n", 3000)} {
			want, _ := parse(strings.NewReader(in), false)
			got, _ := parse(bytes.NewReader([]byte(in)), true)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q: bulk differs from line by line", clip(in))
			}
		}
	}
}

// bodyRun leaves the parser as advance would, line by line, over what it
// took, from any state (after a CR, in the middle of a line), and takes
// everything up to the last LF but a line that starts with "--".
func TestBodyRunBookkeeping(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := "a\r\n-"
	for range 20000 {
		b := make([]byte, rng.IntN(30))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		start := parser{pos: 100, lineStart: 100 - int64(rng.IntN(2)*7), lastCR: rng.IntN(2) == 0, nl: 3,
			prevLineStart: 50, prevTermLen: 2, openMultiparts: rng.IntN(2)}
		bulk, ref := start, start
		br := bufio.NewReaderSize(bytes.NewReader(b), 64)
		br.Peek(len(b))
		k := bulk.bodyRun(br)
		for rest := b[:k]; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n') + 1
			if i == 0 {
				t.Fatalf("%q: took %d bytes, not ending in LF", b, k)
			}
			if start.openMultiparts > 0 && ref.pos == ref.lineStart && bytes.HasPrefix(rest, []byte("--")) {
				t.Fatalf("%q: took the line %q", b, rest[:i])
			}
			ref.advance(rest[:i])
			rest = rest[i:]
		}
		if bulk.pos != ref.pos || bulk.nl != ref.nl || bulk.lineStart != ref.lineStart || bulk.prevLineStart != ref.prevLineStart ||
			bulk.prevTermLen != ref.prevTermLen || bulk.lastCR != ref.lastCR {
			t.Fatalf("%q from %+v:\nbulk %+v\n ref %+v", b, start, bulk, ref)
		}
		// It stopped at the last LF, or before a line starting with "--".
		rest := b[k:]
		if bytes.IndexByte(rest, '\n') >= 0 && !(start.openMultiparts > 0 && bytes.HasPrefix(rest, []byte("--")) && ref.pos == ref.lineStart) {
			t.Fatalf("%q: stopped at %d", b, k)
		}
	}
}

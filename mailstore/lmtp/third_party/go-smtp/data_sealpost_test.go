package smtp

// SEALPOST-PATCH: tests of the bulk-copy dataReader against upstream's
// byte-at-a-time one (refDataReader, copied verbatim from v0.25.1).

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"testing/iotest"
)

type refDataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64
}

func (r *refDataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}
	const (
		stateBeginLine = iota
		stateDot
		stateDotCR
		stateCR
		stateData
		stateEOF
	)
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// readAllChunks reads r with read sizes cycling through sizes and returns
// the data, the final error and what is left unread in the source.
func readAllChunks(r io.Reader, sizes []int) ([]byte, error) {
	var out []byte
	for i := 0; ; i++ {
		b := make([]byte, sizes[i%len(sizes)])
		n, err := r.Read(b)
		out = append(out, b[:n]...)
		if err != nil {
			return out, err
		}
		if i > 1<<20 {
			return out, errors.New("no progress")
		}
	}
}

// compareReaders runs both readers over input through a bufio.Reader of
// bufSize fed in pieces of at most feed bytes (so that Buffered() varies),
// with a limit (0: none), and fails on any difference in data, error or
// bytes left after the end marker.
func compareReaders(t *testing.T, input string, bufSize, feed int, limit int64, sizes []int) {
	t.Helper()
	run := func(mk func(*bufio.Reader) io.Reader) (string, error, string) {
		var src io.Reader = strings.NewReader(input)
		if feed > 0 {
			src = &pieceReader{r: src, max: feed}
		}
		br := bufio.NewReaderSize(src, bufSize)
		out, err := readAllChunks(mk(br), sizes)
		rest, _ := io.ReadAll(br)
		return string(out), err, string(rest)
	}
	gotOut, gotErr, gotRest := run(func(br *bufio.Reader) io.Reader {
		return &dataReader{r: br, limited: limit > 0, n: limit}
	})
	wantOut, wantErr, wantRest := run(func(br *bufio.Reader) io.Reader {
		return &refDataReader{r: br, limited: limit > 0, n: limit}
	})
	if gotOut != wantOut || gotErr != wantErr || gotRest != wantRest {
		t.Fatalf("input %q (buf %d, feed %d, limit %d, reads %v):\n got %q, %v, rest %q\nwant %q, %v, rest %q",
			input, bufSize, feed, limit, sizes, gotOut, gotErr, gotRest, wantOut, wantErr, wantRest)
	}
}

// pieceReader returns at most max bytes per Read.
type pieceReader struct {
	r   io.Reader
	max int
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if len(b) > p.max {
		b = b[:p.max]
	}
	return p.r.Read(b)
}

var dataCases = []string{
	"",
	".\r\n",
	"hello\r\n.\r\n",
	"hello\r\n.\r\nNEXT COMMAND\r\n",
	"..dot-stuffed\r\n.\r\n",
	"a\r\n..\r\n.\r\n",
	"bare\rcr\r\n.\r\n",
	"bare\nlf\n.\n\r\n.\r\n",
	"\r\r\n.\r\n\r\n.\r\n",
	".x\r\n.\rx\r\n.\r\n",
	"no end marker",
	"no end marker\r\n",
	"ends in dot\r\n.",
	"ends in dot cr\r\n.\r",
	strings.Repeat("0123456789abcdef", 500) + "\r\n.\r\n",
	strings.Repeat("line of text\r\n", 1000) + ".\r\nQUIT\r\n",
	strings.Repeat("\r\n.", 300) + "\r\n.\r\n",
	// Whole lines copied at once, up to a dot or a lone CR.
	"a\r\nb\r\n\r\n..c\r\n.\r\n",
	"x\r\r\n..y\r\n.\r\n",
	".\r\r\n.\r\n",
	"\r\n\r\n\r\n.\r\n",
	"line\r\n\rx\r\n.\r\n",
	strings.Repeat("seventy-eight characters of base64-like text ABCDEFGHIJKLMNOPQRSTUVWXYZ012\r\n", 200) + ".\r\n",
}

func TestDataReaderMatchesUpstream(t *testing.T) {
	for _, in := range dataCases {
		for _, bufSize := range []int{16, 4096} {
			for _, feed := range []int{0, 1, 7} {
				for _, limit := range []int64{0, 1, 5, 100, 4000} {
					for _, sizes := range [][]int{{1}, {3, 1, 64}, {32 << 10}} {
						compareReaders(t, in, bufSize, feed, limit, sizes)
					}
				}
			}
		}
	}
}

// TestDataReaderRandom compares the readers on many short inputs made of
// the bytes that matter (dot, CR, LF) and one that does not, with small
// buffers, so that lines, dots and CRs fall on every buffer boundary.
func TestDataReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte(".\r\na")
	for k := 0; k < 20000; k++ {
		in := make([]byte, rng.Intn(80))
		for i := range in {
			in[i] = alphabet[rng.Intn(len(alphabet))]
		}
		compareReaders(t, string(in), 16+rng.Intn(8), rng.Intn(5), int64(rng.Intn(40)), []int{1 + rng.Intn(20), 1})
	}
}

func FuzzDataReader(f *testing.F) {
	for _, in := range dataCases {
		f.Add(in, uint16(4096), uint8(0), uint16(0), uint16(100))
	}
	f.Fuzz(func(t *testing.T, in string, bufSize uint16, feed uint8, limit uint16, read uint16) {
		compareReaders(t, in, int(bufSize%8192)+16, int(feed), int64(limit), []int{int(read%4096) + 1, 1})
	})
}

func TestDataReaderErrors(t *testing.T) {
	// A read error from the connection is passed on, as upstream does.
	br := bufio.NewReader(iotest.TimeoutReader(strings.NewReader(strings.Repeat("x", 5000))))
	_, err := io.ReadAll(&dataReader{r: br})
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("error %v, want the connection's", err)
	}
}

// BenchmarkDataReader reads a 20 MB message of 64-byte lines.
func BenchmarkDataReader(b *testing.B) {
	msg := []byte(strings.Repeat(strings.Repeat("x", 62)+"\r\n", 20<<20/64) + ".\r\n")
	b.SetBytes(int64(len(msg)))
	buf := make([]byte, 32<<10)
	for _, impl := range []string{"patched", "upstream"} {
		b.Run(impl, func(b *testing.B) {
			for b.Loop() {
				br := bufio.NewReader(bytes.NewReader(msg))
				var r io.Reader = &dataReader{r: br}
				if impl == "upstream" {
					r = &refDataReader{r: br}
				}
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}

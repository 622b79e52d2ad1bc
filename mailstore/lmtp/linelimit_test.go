package lmtp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// pieceConn is a net.Conn whose reads return at most max bytes of r.
type pieceConn struct {
	net.Conn
	r   io.Reader
	max int
}

func (c *pieceConn) Read(p []byte) (int, error) {
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.r.Read(p)
}

// readLimited reads in through a lineConn with the given limit and returns
// how many bytes it passed before failing, and whether it failed with
// ErrTooLongLine.
func readLimited(in string, limit int64, piece int) (int, bool) {
	lc := &lineConn{Conn: &pieceConn{r: strings.NewReader(in), max: piece}}
	lc.limit.Store(limit)
	total := 0
	buf := make([]byte, 1000)
	for {
		n, err := lc.Read(buf)
		total += n
		if errors.Is(err, smtp.ErrTooLongLine) {
			if _, err2 := lc.Read(buf); !errors.Is(err2, smtp.ErrTooLongLine) {
				panic("failure not sticky")
			}
			return total, true
		}
		if err != nil {
			return total, false
		}
	}
}

// longestLine is what lineConn limits: the bytes of a line before its LF.
func longestLine(in string) int64 {
	var longest int64
	for _, l := range strings.Split(in, "\n") {
		longest = max(longest, int64(len(l)))
	}
	return longest
}

func TestLineConnLimit(t *testing.T) {
	inputs := []string{
		"", "\n", "abc\n", "abcd\n", "abcde", "abc\r\nabcd\r\n", "a\nbb\nccc\ndddd\neeeee\n",
		strings.Repeat("x", 3000) + "\n", strings.Repeat("ab\n", 500) + strings.Repeat("y", 2000),
	}
	for _, in := range inputs {
		for _, limit := range []int64{1, 3, 4, 5, 1999, 2000, 3000, 5000} {
			for _, piece := range []int{1, 2, 7, 1000} {
				n, tooLong := readLimited(in, limit, piece)
				want := longestLine(in) > limit
				if tooLong != want {
					t.Errorf("%.20q limit %d piece %d: too long %v, want %v", in, limit, piece, tooLong, want)
				}
				if !tooLong && n != len(in) {
					t.Errorf("%.20q limit %d piece %d: read %d of %d bytes", in, limit, piece, n, len(in))
				}
			}
		}
	}
}

func FuzzLineConn(f *testing.F) {
	f.Add("abc\ndefg\n", uint16(3), uint8(2))
	f.Fuzz(func(t *testing.T, in string, limit uint16, piece uint8) {
		l := int64(limit%200) + 1
		n, tooLong := readLimited(in, l, int(piece)+1)
		if want := longestLine(in) > l; tooLong != want || !tooLong && n != len(in) {
			t.Fatalf("limit %d: too long %v (read %d of %d), want %v", l, tooLong, n, len(in), want)
		}
	})
}

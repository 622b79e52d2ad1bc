package lmtp

import (
	"bytes"
	"net"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// Line limits.
//
// go-smtp's Server.MaxLineLength applies one limit to command lines and to
// message lines alike, and a message line over it kills the connection in
// the middle of DATA: the MTA, still sending, sees a reset rather than a
// reply and retries, so a message with one long line would be deferred
// until it expires. Message lines need no limit of their own: go-smtp's
// DATA reader and the store (msgmeta) work in bounded memory whatever the
// line length, and real mail has lines of many kilobytes (HTML written
// without newlines, unfolded base64). Only command lines must be bounded,
// because go-smtp buffers a whole command line.
//
// So go-smtp's limit is off and lineConn enforces one per connection:
// MaxCommandLine until a recipient has been accepted, then (for DATA or
// BDAT) the message size limit plus slack, until the transaction ends. A
// line over the limit gets go-smtp's permanent "500 5.4.0 Too long line"
// and the connection is closed.

// MaxCommandLine is the longest LMTP command line accepted (RFC 5321
// §4.5.3.1.4 asks for 512 octets at least; extensions make them longer).
const MaxCommandLine = 64 << 10

// listener hands go-smtp connections wrapped in a lineConn, and keeps
// them in its server's set of open connections.
type listener struct {
	net.Listener
	s *Server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &lineConn{Conn: c, s: l.s}
	lc.limit.Store(MaxCommandLine)
	l.s.track(lc, true)
	return lc, nil
}

// lineConn fails reads with smtp.ErrTooLongLine once a line is longer than
// limit. Like go-smtp's own limiter the failure is sticky: the rest of the
// line cannot be told apart from a command.
type lineConn struct {
	net.Conn
	s     *Server
	limit atomic.Int64 // set from the session goroutine, read by readers

	// Only one goroutine reads at a time (go-smtp hands the connection
	// from the command loop to the DATA reader and back through channels).
	cur     int64 // length of the line being read
	tooLong bool
}

func (c *lineConn) Close() error {
	if c.s != nil {
		c.s.track(c, false)
	}
	return c.Conn.Close()
}

func (c *lineConn) Read(p []byte) (int, error) {
	if c.tooLong {
		return 0, smtp.ErrTooLongLine
	}
	n, err := c.Conn.Read(p)
	if c.scan(p[:n], c.limit.Load()) {
		c.tooLong = true
		return 0, smtp.ErrTooLongLine
	}
	return n, err
}

// scan follows the line lengths through data and reports whether a line
// got longer than limit. This runs over every byte of every message, so
// it looks at the first and last LF only (two vectorised scans per read):
// the lines in between are shorter than the distance between those two,
// and only when that exceeds limit (a read longer than the command limit)
// are they measured one by one.
func (c *lineConn) scan(data []byte, limit int64) bool {
	first := bytes.IndexByte(data, '\n')
	if first < 0 {
		c.cur += int64(len(data))
		return c.cur > limit
	}
	if c.cur+int64(first) > limit {
		return true
	}
	last := bytes.LastIndexByte(data, '\n')
	if int64(last-first-1) > limit {
		for rest := data[first+1 : last+1]; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if int64(i) > limit {
				return true
			}
			rest = rest[i+1:]
		}
	}
	c.cur = int64(len(data) - last - 1)
	return c.cur > limit
}

// setMessageMode raises the limit for a message of up to max bytes (on)
// or restores the command limit (off).
func (c *lineConn) setMessageMode(on bool, max int64) {
	if c == nil {
		return
	}
	if on {
		c.limit.Store(max + MaxCommandLine)
	} else {
		c.limit.Store(MaxCommandLine)
	}
}

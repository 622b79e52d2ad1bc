// rawfetch.go: a FETCH read by a client that only splits the responses.
// imapclient parses every ENVELOPE into Go values at about 20 us per
// message, the same for both servers, so on a large mailbox its time is
// the client's; this client shows the servers' own speed.

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"
)

// rawCounter is a logged-in TLS IMAP connection that counts untagged
// responses and skips literals, parsing nothing else.
type rawCounter struct {
	conn net.Conn
	br   *bufio.Reader
	tag  int
}

func dialCounter(ctx context.Context, t *target, user string) (*rawCounter, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 20 * time.Second}, Config: t.tls.Clone()}
	conn, err := d.DialContext(ctx, "tcp", t.imaps)
	if err != nil {
		return nil, fmt.Errorf("%s: IMAP connect %s: %w", t.name, t.imaps, err)
	}
	rc := &rawCounter{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := rc.br.ReadSlice('\n'); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: greeting: %w", t.name, err)
	}
	if _, err := rc.run(ctx, "LOGIN "+quote(user)+" "+quote(t.pass)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: LOGIN %s: %w", t.name, user, err)
	}
	return rc, nil
}

func (rc *rawCounter) Close() error { return rc.conn.Close() }

// run sends a command and reads to its tagged reply, which must be OK; it
// returns the number of untagged responses.
func (rc *rawCounter) run(ctx context.Context, cmd string) (int, error) {
	rc.tag++
	tag := []byte("c" + strconv.Itoa(rc.tag) + " ")
	stop := context.AfterFunc(ctx, func() { rc.conn.SetDeadline(time.Now()) })
	defer stop()
	rc.conn.SetDeadline(time.Now().Add(10 * time.Minute))
	if _, err := rc.conn.Write(append(append([]byte(nil), tag...), cmd+"\r\n"...)); err != nil {
		return 0, err
	}
	n := 0
	lineStart := true // at the start of a response, not after a literal
	for {
		l, err := rc.br.ReadSlice('\n')
		full := err == nil
		if err != nil && err != bufio.ErrBufferFull {
			return n, err
		}
		if lineStart && bytes.HasPrefix(l, tag) {
			if !bytes.HasPrefix(l[len(tag):], []byte("OK")) {
				return n, fmt.Errorf("%s", bytes.TrimSpace(l))
			}
			return n, nil
		}
		if lineStart && bytes.HasPrefix(l, []byte("* ")) {
			n++
		}
		lineStart = full
		if !full {
			continue // the rest of a long line
		}
		// "{k}" at the end of the line: k bytes of literal, then the same
		// response goes on.
		if s := bytes.TrimRight(l, "\r\n"); len(s) > 2 && s[len(s)-1] == '}' {
			if i := bytes.LastIndexByte(s, '{'); i >= 0 {
				if k, err := strconv.Atoi(string(bytes.TrimSuffix(s[i+1:len(s)-1], []byte("+")))); err == nil {
					if _, err := rc.br.Discard(k); err != nil {
						return n, err
					}
					lineStart = false
				}
			}
		}
	}
}

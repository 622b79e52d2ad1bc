// pop3.go: the pop3 workload, RETR of every message (default 1,000 x
// 50 KB) over implicit TLS, with a minimal POP3 client (RFC 1939).

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

type pop3Client struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialPOP3(ctx context.Context, t *target, user string) (*pop3Client, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: t.tls.Clone()}
	conn, err := d.DialContext(ctx, "tcp", t.pop3s)
	if err != nil {
		return nil, fmt.Errorf("%s: POP3 connect %s: %w", t.name, t.pop3s, err)
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	p := &pop3Client{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := p.reply(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: POP3 greeting: %w", t.name, err)
	}
	for _, cmd := range []string{"USER " + user, "PASS " + t.pass} {
		if _, err := p.cmd(cmd); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: POP3 %s: %w", t.name, strings.Fields(cmd)[0], err)
		}
	}
	return p, nil
}

// readLine reads one CRLF line (without the CRLF) under a deadline.
func (p *pop3Client) readLine() ([]byte, error) {
	p.conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := p.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("line longer than 64 KiB")
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// reply reads a status line: the text after +OK, or an error for -ERR.
func (p *pop3Client) reply() (string, error) {
	line, err := p.readLine()
	if err != nil {
		return "", err
	}
	s := string(line)
	if rest, ok := strings.CutPrefix(s, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("server said %q", s)
}

func (p *pop3Client) cmd(line string) (string, error) {
	p.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return p.reply()
}

// retr fetches message i and returns its size as stored: the lines
// without dot-stuffing, CRLF-terminated.
func (p *pop3Client) retr(i int) (int64, error) {
	if _, err := p.cmd("RETR " + strconv.Itoa(i)); err != nil {
		return 0, err
	}
	var n int64
	for {
		line, err := p.readLine()
		if err != nil {
			return n, err
		}
		if len(line) == 1 && line[0] == '.' {
			return n, nil
		}
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		n += int64(len(line)) + 2
	}
}

// stat returns the message count.
func (p *pop3Client) stat() (int, error) {
	s, err := p.cmd("STAT")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, fmt.Errorf("bad STAT reply %q", s)
	}
	return strconv.Atoi(f[0])
}

func (p *pop3Client) quit() {
	p.cmd("QUIT")
	p.conn.Close()
}

// runPOP3 fills the pop3 user's INBOX and times RETR of every message in
// one session per run and target (login excluded). Nothing is deleted.
func runPOP3(ctx context.Context, b *bench) error {
	o := b.opts
	f := fill{kind: "pop3", user: b.roles.pop3, n: o.pop3N, size: func(int) int { return o.pop3Size }}
	for _, t := range b.targets {
		if _, err := ensureFill(ctx, b, t, f); err != nil {
			return err
		}
	}
	name := fmt.Sprintf("RETR %d x %d KB", o.pop3N, o.pop3Size/1024)
	for r := range o.runs {
		for _, t := range b.order(r) {
			p, err := dialPOP3(ctx, t, f.user)
			if err != nil {
				return err
			}
			n, err := p.stat()
			if err != nil || n != o.pop3N {
				p.quit()
				return fmt.Errorf("%s: STAT: %d messages, want %d (%v)", t.name, n, o.pop3N, err)
			}
			t0 := time.Now()
			var total int64
			for i := 1; i <= n; i++ {
				k, err := p.retr(i)
				if err != nil {
					p.quit()
					return fmt.Errorf("%s: RETR %d: %w", t.name, i, err)
				}
				total += k
			}
			d := time.Since(t0)
			p.quit()
			b.logf("pop3 run %d %s: %d messages, %.1f MB in %s", r+1, t.name, n, float64(total)/1e6, d.Round(time.Millisecond))
			b.res.add("pop3", name+": time", "ms", false, t.name, ms(d))
			b.res.add("pop3", name+": throughput", "MB/s", true, t.name, float64(total)/1e6/d.Seconds())
			if err := b.alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

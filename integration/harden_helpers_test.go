package integration

// Raw protocol clients for the hardening tests: they speak IMAP and POP3
// over plain sockets bound to a chosen loopback source address (Linux
// routes all of 127/8 to lo), so tests can play attacker and victim from
// different addresses and send bytes no library client would.

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Source addresses. The server sees 127.0.0.1 for ordinary clients.
const (
	userIP     = "127.0.0.1"
	attackerIP = "127.0.0.2"
)

// startConfig starts the server with a config file holding toml (the
// harness flags still choose data dir and listeners).
func startConfig(t testing.TB, toml string, extra ...string) *Server {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sealpost.toml")
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Start(t, Config{Extra: append([]string{"--config", p}, extra...)})
}

// dialFrom opens a TCP connection to addr from source address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.Dial("tcp", addr)
}

// raiseNOFILE lifts the soft open-file limit to the hard one; the server,
// a child process, inherits it. (Go raises its own soft limit at start
// but restores the original for children unless the program sets it.)
func raiseNOFILE(t testing.TB, want uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < want {
		t.Skipf("RLIMIT_NOFILE hard limit %d < %d", rl.Max, want)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
}

func saslPlain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// rawIMAP is a line-level IMAP client. Replies are read as logical lines:
// a literal ({n} at the end of a line) is read and inlined.
type rawIMAP struct {
	nc  net.Conn
	br  *bufio.Reader
	tag int
}

func newRawIMAP(nc net.Conn) *rawIMAP { return &rawIMAP{nc: nc, br: bufio.NewReader(nc)} }

// dialIMAP connects from src; with tlsConf the connection is implicit TLS.
// It reads the greeting.
func dialIMAP(src, addr string, tlsConf *tls.Config) (*rawIMAP, error) {
	nc, err := dialFrom(src, addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	r := newRawIMAP(nc)
	g, err := r.readLine(10 * time.Second)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting: %q", g)
	}
	return r, nil
}

func (r *rawIMAP) Close() error { return r.nc.Close() }

var literalAtEnd = regexp.MustCompile(`\{(\d+)\}$`)

func (r *rawIMAP) readLine(timeout time.Duration) (string, error) {
	r.nc.SetReadDeadline(time.Now().Add(timeout))
	var sb strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return sb.String() + line, err
		}
		line = strings.TrimRight(line, "\r\n")
		sb.WriteString(line)
		m := literalAtEnd.FindStringSubmatch(line)
		if m == nil {
			return sb.String(), nil
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return sb.String(), err
		}
		sb.WriteString("\r\n")
		sb.Write(buf)
	}
}

// do sends "tagN " + cmd + CRLF and reads up to the tagged reply. It
// returns the untagged lines and the tagged status line without its tag.
func (r *rawIMAP) do(cmd string) (untagged []string, status string, err error) {
	return r.doTimeout(cmd, 10*time.Second)
}

// syncLiteral matches the end of a synchronizing literal's announcement.
var syncLiteral = regexp.MustCompile(`\{\d+\}\r\n`)

// doTimeout is do with a read timeout. Synchronizing literals ({n}, see
// litSync) are sent only after the server's "+"; if it answers with the
// tagged reply instead, the rest of the command is not sent.
func (r *rawIMAP) doTimeout(cmd string, timeout time.Duration) (untagged []string, status string, err error) {
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	full := tag + " " + cmd + "\r\n"
	for {
		part := full
		loc := syncLiteral.FindStringIndex(full)
		if loc != nil {
			part, full = full[:loc[1]], full[loc[1]:]
		}
		r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := r.nc.Write([]byte(part)); err != nil {
			return nil, "", err
		}
		if loc == nil {
			break
		}
		line, err := r.readLine(timeout)
		if err != nil {
			return untagged, "", err
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return untagged, rest, nil // refused before the literal
		}
		if !strings.HasPrefix(line, "+") {
			untagged = append(untagged, line)
			return untagged, "", fmt.Errorf("expected continuation, got %q", line)
		}
	}
	for {
		line, err := r.readLine(timeout)
		if err != nil {
			return untagged, "", err
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return untagged, rest, nil
		}
		untagged = append(untagged, line)
	}
}

// mustDo is do that fails the test on a transport error or a non-OK reply.
func (r *rawIMAP) mustDo(t testing.TB, cmd string) []string {
	t.Helper()
	u, st, err := r.do(cmd)
	if err != nil || !strings.HasPrefix(st, "OK") {
		t.Fatalf("%s: %q %v", cmd, st, err)
	}
	return u
}

// startTLS runs STARTTLS and the handshake.
func (r *rawIMAP) startTLS(conf *tls.Config) error {
	_, st, err := r.do("STARTTLS")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "OK") {
		return fmt.Errorf("STARTTLS: %s", st)
	}
	tc := tls.Client(r.nc, conf)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	r.nc, r.br = tc, bufio.NewReader(tc)
	return nil
}

// lit encodes s as a non-synchronizing literal (LITERAL+, after login).
func lit(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// litSync encodes s as a synchronizing literal: do sends s only after the
// server's continuation.
func litSync(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }

// rawPOP3 is a line-level POP3 client.
type rawPOP3 struct {
	nc net.Conn
	br *bufio.Reader
}

// dialPOP3 connects from src (implicit TLS with tlsConf) and reads the greeting.
func dialRawPOP3(src, addr string, tlsConf *tls.Config) (*rawPOP3, error) {
	nc, err := dialFrom(src, addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	p := &rawPOP3{nc: nc, br: bufio.NewReader(nc)}
	g, err := p.line(10 * time.Second)
	if err != nil || !strings.HasPrefix(g, "+OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return p, nil
}

func (p *rawPOP3) Close() error { return p.nc.Close() }

func (p *rawPOP3) line(timeout time.Duration) (string, error) {
	p.nc.SetReadDeadline(time.Now().Add(timeout))
	l, err := p.br.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd sends one command line and returns the status line.
func (p *rawPOP3) cmd(line string) (string, error) { return p.cmdTimeout(line, 10*time.Second) }

func (p *rawPOP3) cmdTimeout(line string, timeout time.Duration) (string, error) {
	p.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.nc.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return p.line(timeout)
}

// multi reads a multi-line body up to the "." line, dot-unstuffed.
func (p *rawPOP3) multi() ([]string, error) {
	var out []string
	for {
		l, err := p.line(10 * time.Second)
		if err != nil {
			return out, err
		}
		if l == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// stls upgrades with STLS.
func (p *rawPOP3) stls(conf *tls.Config) error {
	st, err := p.cmd("STLS")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "+OK") {
		return fmt.Errorf("STLS: %s", st)
	}
	tc := tls.Client(p.nc, conf)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	p.nc, p.br = tc, bufio.NewReader(tc)
	return nil
}

// waitClosed reports how long the server took to close nc (read EOF or
// reset), or false if it was still open after max.
func waitClosed(nc net.Conn, max time.Duration) (time.Duration, bool) {
	start := time.Now()
	nc.SetReadDeadline(start.Add(max))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return time.Since(start), false
		}
		return time.Since(start), true
	}
}

// percentile returns the p-th percentile (0-100) of ds, sorted in place.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds) - 1) * p / 100
	return ds[i]
}

package integration

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// wirePOP is the raw POP3 client of the integration tests, for
// transcripts and for bytes no library client would send.
//
// As with wireIMAP, the error-returning methods (dialPOP3, readLine, write,
// do, doTimeout, readMulti, stls) suit goroutines and connections the
// server may close; the test-bound ones (dialWirePOP, line, send, cmd,
// expectOK, expectErr, lines, body, multi, capa, login, mustSTLS,
// expectClosed) fail the test themselves and need t.
type wirePOP struct{ wireConn }

// newWirePOP wraps a connection whose greeting the caller handles; t may
// be nil.
func newWirePOP(t testing.TB, nc net.Conn) *wirePOP {
	return &wirePOP{newWireConn(t, nc)}
}

// dialPOP3 connects from src ("": any; implicit TLS with cfg) and reads
// the greeting.
func dialPOP3(src, addr string, cfg *tls.Config) (*wirePOP, error) {
	nc, err := dialWire(src, addr, cfg)
	if err != nil {
		return nil, err
	}
	c := newWirePOP(nil, nc)
	c.Greeting, err = c.readLine(wireTimeout)
	if err != nil || !strings.HasPrefix(c.Greeting, "+OK") {
		nc.Close()
		return nil, fmt.Errorf("POP3 greeting from %s: %q %v", addr, c.Greeting, err)
	}
	return c, nil
}

// dialWirePOP is dialPOP3 for a test: it fails t on error and closes the
// connection when the test ends.
func dialWirePOP(t testing.TB, addr string, cfg *tls.Config) *wirePOP {
	t.Helper()
	c, err := dialPOP3("", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.bind(t)
	return c
}

// readLine reads one reply line within timeout, without its CRLF. On
// error it returns what it read so far.
func (c *wirePOP) readLine(timeout time.Duration) (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	l, err := c.br.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err
}

// line reads one reply line and fails the test on error.
func (c *wirePOP) line() string {
	c.t.Helper()
	l, err := c.readLine(wireTimeout)
	if err != nil {
		c.t.Fatalf("POP3 read: %v (got %q)", err, l)
	}
	return l
}

// do sends one command line and returns the first reply line.
func (c *wirePOP) do(line string) (string, error) { return c.doTimeout(line, wireTimeout) }

func (c *wirePOP) doTimeout(line string, timeout time.Duration) (string, error) {
	if err := c.write(line + "\r\n"); err != nil {
		return "", err
	}
	return c.readLine(timeout)
}

// cmd sends a command line (unless empty) and returns the first reply
// line; it fails the test on error.
func (c *wirePOP) cmd(line string) string {
	c.t.Helper()
	if line != "" {
		c.send(line + "\r\n")
	}
	return c.line()
}

// expect runs cmd(line) and fails the test unless the reply starts with
// status ("+OK" or "-ERR").
func (c *wirePOP) expect(line, status string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, status) {
		c.t.Fatalf("%q: got %q, want %s", line, r, status)
	}
	return r
}

func (c *wirePOP) expectOK(line string) string {
	c.t.Helper()
	return c.expect(line, "+OK")
}

func (c *wirePOP) expectErr(line string) string {
	c.t.Helper()
	return c.expect(line, "-ERR")
}

// readMulti reads a multi-line body after its +OK line, up to the "."
// line, dot-unstuffed.
func (c *wirePOP) readMulti() ([]string, error) {
	var out []string
	for {
		l, err := c.readLine(wireTimeout)
		if err != nil {
			return out, err
		}
		if l == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// lines is readMulti that fails the test on error.
func (c *wirePOP) lines() []string {
	c.t.Helper()
	out, err := c.readMulti()
	if err != nil {
		c.t.Fatalf("POP3 read: %v (got %q)", err, out)
	}
	return out
}

// body reads a multi-line body after its +OK line and returns it
// un-stuffed, with CRLF line ends.
func (c *wirePOP) body() string {
	c.t.Helper()
	var b strings.Builder
	for _, l := range c.lines() {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

// multi runs a command with a multi-line reply and returns the +OK line
// and the body.
func (c *wirePOP) multi(line string) (string, string) {
	c.t.Helper()
	first := c.expectOK(line)
	return first, c.body()
}

func (c *wirePOP) capa() []string {
	c.t.Helper()
	c.expectOK("CAPA")
	return c.lines()
}

func (c *wirePOP) login(user, pass string) string {
	c.t.Helper()
	c.expectOK("USER " + user)
	return c.expectOK("PASS " + pass)
}

// stls upgrades with STLS.
func (c *wirePOP) stls(cfg *tls.Config) error {
	st, err := c.do("STLS")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "+OK") {
		return fmt.Errorf("STLS: %s", st)
	}
	if err := c.upgrade(cfg); err != nil {
		return fmt.Errorf("STLS handshake: %w", err)
	}
	return nil
}

// mustSTLS is stls that fails the test on error.
func (c *wirePOP) mustSTLS(cfg *tls.Config) {
	c.t.Helper()
	if err := c.stls(cfg); err != nil {
		c.t.Fatal(err)
	}
}

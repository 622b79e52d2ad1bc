package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wireIMAP is the raw IMAP client of the integration tests: it writes
// exactly the bytes a test gives it and returns the server's responses as
// text, literals inlined, for what imapclient hides (response order,
// literals, pipelining, refusals, bytes no library would send).
//
// Two sets of methods share one connection: the error-returning ones
// (dialIMAP, readLineWithin, tryReadLine, write, do, startTLS) suit
// goroutines and connections the server may close; the test-bound ones
// (dialWireIMAP, readLine, send, cmd, until, ok, mustStartTLS) fail the
// test themselves and need t.
type wireIMAP struct {
	wireConn
	n      int  // last tag number
	closed bool // the server closed the connection (set by tests that read on)
}

// newWireIMAP wraps a connection whose greeting the caller handles; t may
// be nil.
func newWireIMAP(t testing.TB, nc net.Conn) *wireIMAP {
	return &wireIMAP{wireConn: newWireConn(t, nc)}
}

// dialIMAP connects from src (implicit TLS with cfg) and reads the
// greeting.
func dialIMAP(src, addr string, cfg *tls.Config) (*wireIMAP, error) {
	nc, err := dialWire(src, addr, cfg)
	if err != nil {
		return nil, err
	}
	c := newWireIMAP(nil, nc)
	if c.Greeting, err = c.tryReadLine(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	if !strings.HasPrefix(c.Greeting, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting from %s: %q", addr, c.Greeting)
	}
	return c, nil
}

// dialWireIMAP is dialIMAP for a test: it fails t on error and closes the
// connection when the test ends.
func dialWireIMAP(t testing.TB, addr string, cfg *tls.Config) *wireIMAP {
	t.Helper()
	c, err := dialIMAP("", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.bind(t)
	return c
}

var literalTail = regexp.MustCompile(`~?\{(\d+)\+?\}\r\n$`)

// readLineWithin reads one response within timeout; literals announced at
// the end of a line are read and inlined with the rest of the response.
// On error it returns what it read so far.
func (c *wireIMAP) readLineWithin(timeout time.Duration) (string, error) {
	var sb strings.Builder
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	for {
		part, err := c.br.ReadString('\n')
		sb.WriteString(part)
		if err != nil {
			return sb.String(), err
		}
		m := literalTail.FindStringSubmatch(part)
		if m == nil || strings.HasPrefix(sb.String(), "+") {
			return strings.TrimSuffix(sb.String(), "\r\n"), nil
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return sb.String(), err
		}
		sb.Write(buf)
	}
}

// tryReadLine is readLineWithin(wireTimeout).
func (c *wireIMAP) tryReadLine() (string, error) { return c.readLineWithin(wireTimeout) }

// readLine reads one response and fails the test on error.
func (c *wireIMAP) readLine() string {
	c.t.Helper()
	line, err := c.tryReadLine()
	if err != nil {
		c.t.Fatalf("read response: %v (so far %q)", err, abbrev(line))
	}
	return line
}

// nextTag returns a fresh tag.
func (c *wireIMAP) nextTag() string {
	c.n++
	return fmt.Sprintf("w%d", c.n)
}

// do sends a tag, cmd and CRLF and reads up to the tagged reply. It
// returns the untagged lines and the tagged status line without its tag.
func (c *wireIMAP) do(cmd string) (untagged []string, status string, err error) {
	return c.doTimeout(cmd, wireTimeout)
}

// syncLiteral matches the end of a synchronizing literal's announcement.
var syncLiteral = regexp.MustCompile(`\{\d+\}\r\n`)

// doTimeout is do with a read timeout. Synchronizing literals ({n}, see
// litSync) are sent only after the server's "+"; if it answers with the
// tagged reply instead, the rest of the command is not sent.
func (c *wireIMAP) doTimeout(cmd string, timeout time.Duration) (untagged []string, status string, err error) {
	tag := c.nextTag()
	full := tag + " " + cmd + "\r\n"
	for {
		part := full
		loc := syncLiteral.FindStringIndex(full)
		if loc != nil {
			part, full = full[:loc[1]], full[loc[1]:]
		}
		if err := c.write(part); err != nil {
			return nil, "", err
		}
		if loc == nil {
			break
		}
		line, err := c.readLineWithin(timeout)
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
		line, err := c.readLineWithin(timeout)
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
func (c *wireIMAP) mustDo(t testing.TB, cmd string) []string {
	t.Helper()
	u, st, err := c.do(cmd)
	if err != nil || !strings.HasPrefix(st, "OK") {
		t.Fatalf("%s: %q %v", abbrev(cmd), st, err)
	}
	return u
}

// cmd sends one command line as it is (a tag is prepended, CRLF appended;
// literals go in the same write) and returns the tagged completion and the
// untagged responses before it.
func (c *wireIMAP) cmd(format string, args ...any) (tagged string, untagged []string) {
	c.t.Helper()
	tag := c.nextTag()
	c.send(tag + " " + fmt.Sprintf(format, args...) + "\r\n")
	return c.until(tag)
}

// until reads responses up to the completion tagged tag.
func (c *wireIMAP) until(tag string) (tagged string, untagged []string) {
	c.t.Helper()
	for {
		l := c.readLine()
		if strings.HasPrefix(l, tag+" ") {
			return l, untagged
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command and fails unless it completes with OK.
func (c *wireIMAP) ok(format string, args ...any) []string {
	c.t.Helper()
	tagged, untagged := c.cmd(format, args...)
	if !statusOK(tagged) {
		c.t.Fatalf("%s: %s", abbrev(fmt.Sprintf(format, args...)), tagged)
	}
	return untagged
}

// startTLS runs STARTTLS and the handshake.
func (c *wireIMAP) startTLS(cfg *tls.Config) error {
	_, st, err := c.do("STARTTLS")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "OK") {
		return fmt.Errorf("STARTTLS: %s", st)
	}
	return c.upgrade(cfg)
}

// mustStartTLS is startTLS that fails the test on error.
func (c *wireIMAP) mustStartTLS(cfg *tls.Config) {
	c.t.Helper()
	if err := c.startTLS(cfg); err != nil {
		c.t.Fatalf("STARTTLS: %v", err)
	}
}

// statusOK reports whether a tagged completion is OK.
func statusOK(tagged string) bool {
	f := strings.Fields(tagged)
	return len(f) >= 2 && f[1] == "OK"
}

// lit encodes s as a non-synchronizing literal (LITERAL+, after login).
func lit(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// litSync encodes s as a synchronizing literal: do sends s only after the
// server's continuation.
func litSync(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }

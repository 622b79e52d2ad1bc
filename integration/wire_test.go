package integration

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// What the raw protocol clients (wireIMAP in wire_imap_test.go, wirePOP in
// wire_pop3_test.go) share: dialing from a chosen source address, implicit
// TLS and the upgrade after STARTTLS/STLS, raw writes and the close check.

// wireTimeout bounds every read and write of the wire clients.
const wireTimeout = 10 * time.Second

// dialFrom opens a TCP connection to addr from source address src ("":
// any). Linux routes all of 127/8 to lo, so tests can play attacker and
// victim from different addresses.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", addr)
}

// tlsClient runs a client TLS handshake on nc within wireTimeout.
func tlsClient(nc net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(nc, cfg)
	tc.SetDeadline(time.Now().Add(wireTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// dialWire connects from src (""= any) to addr, with implicit TLS when
// cfg is not nil.
func dialWire(src, addr string, cfg *tls.Config) (net.Conn, error) {
	nc, err := dialFrom(src, addr)
	if err != nil || cfg == nil {
		return nc, err
	}
	tc, err := tlsClient(nc, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// wireConn is the connection under a wire client. t is for the
// test-bound methods (they fail the test themselves); it is nil for a
// client from dialIMAP or dialPOP3, whose methods return errors.
type wireConn struct {
	t        testing.TB
	nc       net.Conn
	br       *bufio.Reader
	Greeting string
}

func newWireConn(t testing.TB, nc net.Conn) wireConn {
	return wireConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// bind makes the test-bound methods fail t, and closes the connection
// when the test ends.
func (c *wireConn) bind(t testing.TB) {
	c.t = t
	t.Cleanup(func() { c.nc.Close() })
}

func (c *wireConn) Close() error { return c.nc.Close() }

// write writes raw bytes.
func (c *wireConn) write(s string) error {
	c.nc.SetWriteDeadline(time.Now().Add(wireTimeout))
	_, err := io.WriteString(c.nc, s)
	return err
}

// send writes raw bytes and fails the test on error.
func (c *wireConn) send(s string) {
	c.t.Helper()
	if err := c.write(s); err != nil {
		c.t.Fatalf("write %q: %v", abbrev(s), err)
	}
}

// errPlaintextAfterUpgrade: the server sent more after its go-ahead for
// TLS, before the handshake.
var errPlaintextAfterUpgrade = errors.New("server sent data after its TLS go-ahead, before the handshake")

// upgrade runs the TLS handshake on the connection (after the server's
// go-ahead to STARTTLS or STLS) and goes on over TLS.
func (c *wireConn) upgrade(cfg *tls.Config) error {
	if c.br.Buffered() > 0 {
		return errPlaintextAfterUpgrade
	}
	tc, err := tlsClient(c.nc, cfg)
	if err != nil {
		return err
	}
	c.nc, c.br = tc, bufio.NewReader(tc)
	return nil
}

// expectClosed asserts that the server closes the connection without
// sending anything more.
func (c *wireConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wireTimeout))
	rest, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open (read %q)", rest)
	}
	if len(rest) > 0 {
		c.t.Fatalf("unexpected data before close: %q", rest)
	}
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

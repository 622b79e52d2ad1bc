package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{TLSConfig: &tls.Config{}}); err == nil {
		t.Error("New without Auth succeeded")
	}
	if _, err := New(Options{Auth: newMemStore()}); err == nil {
		t.Error("New without TLSConfig succeeded")
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name   string
		script string
	}{
		{"unknown command", "C: XYZZY\nS: -ERR Unknown command\nC: HELO\nS: -ERR Unknown command\nC: GET / HTTP/1.1\nS: -ERR Unknown command\nC: \nS: -ERR Unknown command"},
		{"control characters", "C: CAPA\x00\nS: -ERR Syntax error: control character in command"},
		{"wrong state", "C: STAT\nS: -ERR Command not valid in this state\nC: NOOP\nS: -ERR Command not valid in this state"},
		// 255 octets with CRLF is the limit (RFC 2449 §4).
		{"longest line", "C: USER " + strings.Repeat("a", 255-len("USER \r\n")) + "\nS: " + tlsRequired},
		{"line too long", "C: USER " + strings.Repeat("a", 256-len("USER \r\n")) + "\nS: -ERR Line too long\nC: QUIT\nS: +OK..."},
		{"huge line", "C: " + strings.Repeat("x", 100000) + "\nS: -ERR Line too long\nC: QUIT\nS: +OK..."},
	}
	// Some cases send more bad commands than the pre-auth budget allows.
	e := startServer(t, func(o *Options) { o.PreAuthMaxErrors = 10 })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			c.run(tc.script)
		})
	}
}

// TestBareLF: a line ended by LF alone is accepted; replies use CRLF.
func TestBareLF(t *testing.T) {
	e := startServer(t)
	c := e.dial(t)
	if _, err := io.WriteString(c.nc, "QUIT\n"); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK Sealpost POP3 server signing off")
}

// TestTooManyErrors: before login a few bad commands in all end the
// connection (a client of another protocol, say an HTTP request, is cut
// off at once); after login MaxErrors in a row do. Either way the last
// reply is followed by a -ERR that says why. A credential refused for want
// of TLS is not a bad command: the client may still send STLS.
func TestTooManyErrors(t *testing.T) {
	e := startServer(t, func(o *Options) { o.MaxErrors = 3 })
	t.Run("pre-auth counts in all", func(t *testing.T) {
		c := e.dial(t)
		c.run(`C: FOO
			S: -ERR Unknown command
			C: CAPA
			S: +OK...
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: STLS
			S: IMPLEMENTATION Sealpost
			S: .
			C: USER x
			S: ` + tlsRequired + `
			C: NOOP
			S: -ERR Command not valid in this state
			C: ` + strings.Repeat("z", 300) + `
			S: -ERR Line too long
			S: -ERR Too many bad commands, closing connection`)
		c.expectClosed()
	})
	t.Run("HTTP request", func(t *testing.T) {
		c := e.dial(t)
		c.send("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: x\r\nAccept: */*\r\n")
		c.run(`S: -ERR Unknown command
			S: -ERR Unknown command
			S: -ERR Unknown command
			S: -ERR Too many bad commands, closing connection`)
		c.expectClosed()
	})
	t.Run("failed logins count", func(t *testing.T) {
		c := e.dialTLS(t)
		c.run(`C: USER ann
			S: +OK send PASS
			C: PASS wrong1
			S: -ERR [AUTH] Authentication failed
			C: AUTH PLAIN ` + b64("\x00ann\x00wrong2") + `
			S: -ERR [AUTH] Authentication failed
			C: USER ann
			S: +OK send PASS
			C: PASS wrong3
			S: -ERR [AUTH] Authentication failed
			S: -ERR Too many bad commands, closing connection`)
		c.expectClosed()
	})
	t.Run("after login consecutive", func(t *testing.T) {
		c := e.dialTLS(t)
		c.run("C: FOO\nS: -ERR Unknown command") // pre-auth errors do not carry over
		c.login("ann", "secret")
		// A good command resets the count; messages that merely do not
		// exist do not count.
		c.run(`C: FOO
			S: -ERR Unknown command
			C: BAR
			S: -ERR Unknown command
			C: NOOP
			S: +OK
			C: RETR 9
			S: -ERR No such message
			C: RETR 9
			S: -ERR No such message
			C: RETR 9
			S: -ERR No such message
			C: FOO
			S: -ERR Unknown command
			C: USER x
			S: -ERR Command not valid in this state
			C: ` + strings.Repeat("z", 300) + `
			S: -ERR Line too long
			S: -ERR Too many bad commands, closing connection`)
		c.expectClosed()
		waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
	})
}

func TestTimeouts(t *testing.T) {
	e := startServer(t, func(o *Options) {
		o.PreAuthTimeout = 200 * time.Millisecond
		o.IdleTimeout = 400 * time.Millisecond
	})
	t.Run("pre-auth", func(t *testing.T) {
		c := e.dial(t)
		start := time.Now()
		c.expectClosed()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("closed after %v", d)
		}
	})
	t.Run("idle after login", func(t *testing.T) {
		c := e.dialTLS(t)
		c.login("ann", "secret")
		c.run("C: DELE 1\nS: +OK...")
		time.Sleep(250 * time.Millisecond) // longer than pre-auth, shorter than idle
		c.run("C: NOOP\nS: +OK")
		// RFC 1939 §3: autologout closes without a response and without
		// entering UPDATE.
		c.expectClosed()
		waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
		if got := e.store.uids("ann"); len(got) != 3 {
			t.Fatalf("timeout deleted messages: %v", got)
		}
	})
	t.Run("login deadline", func(t *testing.T) {
		// CAPA more often than the per-read timeout does not keep an
		// unauthenticated connection open past LoginTimeout, in a SASL
		// exchange neither.
		e := startServer(t, func(o *Options) {
			o.PreAuthTimeout = 500 * time.Millisecond
			o.LoginTimeout = 700 * time.Millisecond
		})
		for _, sasl := range []bool{false, true} {
			c := e.dialTLS(t)
			start := time.Now()
			for time.Since(start) < 400*time.Millisecond {
				c.run("C: CAPA\nS: +OK...")
				for c.line() != "." {
				}
				time.Sleep(100 * time.Millisecond)
			}
			if sasl {
				c.run("C: AUTH PLAIN\nS: + ")
			}
			c.expect("-ERR Login time limit exceeded, closing connection")
			c.expectClosed()
			if d := time.Since(start); d < 600*time.Millisecond || d > 2*time.Second {
				t.Fatalf("closed after %v, want about 700ms", d)
			}
		}
		// A logged-in session is not bound by it.
		c := e.login(t)
		time.Sleep(800 * time.Millisecond)
		c.run("C: STAT\nS: +OK 3 145")
	})
	t.Run("TLS handshake", func(t *testing.T) {
		e := startServer(t, func(o *Options) { o.HandshakeTimeout = 200 * time.Millisecond })
		nc, err := net.Dial("tcp", e.implicit)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("want close, got %d bytes, %v", n, err)
		}
	})
}

func TestConnectionLimits(t *testing.T) {
	e := startServer(t, func(o *Options) { o.MaxConnsPerIP = 2 })
	c1 := e.dial(t)
	e.dialTLS(t)
	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return net.Dial("tcp", e.plain) },
		func() (net.Conn, error) { return tls.Dial("tcp", e.implicit, e.pki.client) },
	} {
		nc, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, nc: nc, br: newReader(nc)}
		c.expect("-ERR [SYS/TEMP] too many connections")
		c.expectClosed()
		nc.Close()
	}
	c1.run("C: QUIT\nS: +OK...")
	waitFor(t, "a free slot", func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return len(e.srv.conns) == 1
	})
	e.dial(t).run("C: QUIT\nS: +OK...")

	e = startServer(t, func(o *Options) { o.MaxConns = 1 })
	e.dial(t)
	nc, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc, br: newReader(nc)}
	c.expect("-ERR [SYS/TEMP] too many connections")
}

// TestShutdown: idle sessions are closed without deleting anything, Serve
// returns ErrServerClosed, and new connections are refused.
func TestShutdown(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	c.run("C: DELE 1\nS: +OK...")
	pre := e.dial(t)
	sasl := e.dialTLS(t)
	sasl.run("C: AUTH PLAIN\nS: + ")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	pre.expectClosed()
	sasl.expectClosed()
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("shutdown deleted messages: %v", got)
	}
	if e.store.locked("ann") {
		t.Fatal("lock held after Shutdown")
	}
	if _, err := net.Dial("tcp", e.plain); err == nil {
		// The listener is closed; a dial may still succeed on some
		// systems only if the port was reused, which is not expected here.
		t.Fatal("dial after Shutdown succeeded")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	// serve.go treats net.ErrClosed as a normal end of a listener.
	if !errors.Is(ErrServerClosed, net.ErrClosed) {
		t.Fatal("ErrServerClosed does not wrap net.ErrClosed")
	}
}

// TestClose drops busy and idle sessions at once.
func TestClose(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	c.run("C: DELE 1\nS: +OK...")
	e.srv.Close()
	c.expectClosed()
	waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("Close deleted messages: %v", got)
	}
}

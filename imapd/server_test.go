package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Auth: fastAuth{}}); err == nil {
		t.Error("New without TLSConfig succeeded")
	}
	if _, err := New(Options{TLSConfig: &tls.Config{}}); err == nil {
		t.Error("New without Auth succeeded")
	}
}

// TestLongCommandLine: a line over imapserver's 64 KiB limit gets a clear
// BYE instead of NO [SERVERBUG] and a desynchronised stream.
func TestLongCommandLine(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, authed := range []bool{false, true} {
		rc := e.rawTLS()
		if authed {
			rc.ok("LOGIN ann pw-ann")
			rc.ok("SELECT INBOX")
		}
		var set strings.Builder
		for i := 1; set.Len() < 70<<10; i += 2 {
			if i > 1 {
				set.WriteByte(',')
			}
			set.WriteString(strconv.Itoa(i))
		}
		rc.send("UID FETCH %s (FLAGS)", set.String())
		l := rc.line()
		if !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "too long") {
			t.Errorf("authed=%v: got %q, want * BYE … too long", authed, l)
		}
		rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := rc.r.ReadString('\n'); err == nil {
			t.Errorf("authed=%v: connection still open after BYE", authed)
		}
	}
}

// TestBadCommandLine: a line without a parsable tag and command name gets
// an untagged BAD after login, and the session goes on; before login it
// gets BYE (against cross-protocol attacks).
func TestBadCommandLine(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawTLS()
	rc.ok("LOGIN ann pw-ann")
	// The last one's literal data must be skipped, not run as a command.
	for _, bad := range []string{"abc", "* NOOP", "t1", "t2 {14+}\r\nt3 CREATE Oops"} {
		rc.write(bad + "\r\n")
		if l := rc.line(); !strings.HasPrefix(l, "* BAD [CLIENTBUG]") {
			t.Errorf("%q: got %q, want * BAD [CLIENTBUG]", bad, l)
		}
	}
	rc.ok("NOOP")
	if u := rc.ok(`LIST "" Oops`); len(u) != 0 {
		t.Errorf("literal data ran as a command: %q", u)
	}
	pre := e.rawTLS()
	pre.write("abc\r\n")
	if l := pre.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("before login: got %q, want * BYE", l)
	}
}

func TestPreAuthUnknownCommand(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawPlain()
	rc.send("GET / HTTP/1.1")
	mustHave(t, []string{rc.line(), rc.line()}, "BAD", "* BYE")
}

// TestConnectionLimits: beyond MaxConnsPerIP (and MaxConns) the greeting
// is a BYE; a freed slot is usable again.
func TestConnectionLimits(t *testing.T) {
	e := newEnv(t, envConfig{MaxConnsPerIP: 2, MaxConns: 3})
	a, b := e.rawPlain(), e.rawTLS()
	for _, dial := range []func() *rawClient{e.rawPlain, e.rawTLS} {
		rc := dial()
		if !strings.HasPrefix(rc.Greet, "* BYE [UNAVAILABLE]") {
			t.Errorf("third connection greeted %q", rc.Greet)
		}
	}
	a.ok("LOGOUT")
	a.conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		rc := e.rawTLS()
		if strings.HasPrefix(rc.Greet, "* OK") {
			rc.ok("LOGIN bob pw-bob")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a logout: %q", rc.Greet)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ok("NOOP")
}

// TestImplicitTLSHandshakeTimeout: a client that never speaks TLS is
// dropped; the server keeps serving.
func TestImplicitTLSPlaintextClient(t *testing.T) {
	e := newEnv(t, envConfig{})
	c, err := net.Dial("tcp", e.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("a1 LOGIN ann pw-ann\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if strings.Contains(line, "OK") {
		t.Fatalf("plaintext on the TLS port answered %q", line)
	}
	if n := e.Auth.calls.Load(); n != 0 {
		t.Fatalf("Authenticator called %d times", n)
	}
	e.rawLogin("ann")
}

// TestShutdown: idle and IDLE-ing sessions get BYE, Serve returns
// ErrServerClosed, and new connections are refused.
func TestShutdown(t *testing.T) {
	e := newEnv(t, envConfig{})
	idle := e.rawLogin("ann")
	idle.ok("SELECT INBOX")
	idle.send("IDLE")
	idle.line()
	plain := e.rawLogin("bob")
	pre := e.rawPlain() // not logged in: just closed

	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- e.Srv.Serve(l) }()

	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := e.Srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []*rawClient{idle, plain} {
		if l := rc.line(); !strings.HasPrefix(l, "* BYE") {
			t.Errorf("got %q, want BYE", l)
		}
	}
	pre.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := pre.r.ReadString('\n'); err == nil {
		t.Error("pre-auth connection still open")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if err := e.Srv.Serve(listen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// TestShutdownForced: a command that outlives the context is cut off.
func TestShutdownForced(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	// An APPEND whose literal never comes keeps the session busy.
	rc.send("APPEND INBOX {100}")
	rc.line()
	rc.write("Subject: part") // imapserver calls Append after the "+": wait for it
	for deadline := time.Now().Add(2 * time.Second); !e.busy(); {
		if time.Now().After(deadline) {
			t.Fatal("APPEND never started")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	if err := e.Srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	rc.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := rc.r.ReadString('\n'); err == nil {
		t.Error("connection still open")
	}
	info, _ := e.account("ann").Mailbox(bg, "INBOX")
	if info.Messages != 0 {
		t.Error("half-sent APPEND was stored")
	}
}

// busy reports whether some session is running a command.
func (e *testEnv) busy() bool {
	e.Srv.mu.Lock()
	defer e.Srv.mu.Unlock()
	for c := range e.Srv.conns {
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if sess != nil && sess.busy.Load() > 0 {
			return true
		}
	}
	return false
}

package integration

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// STARTTLS command injection (CVE-2011-0411 and its IMAP/POP3 cousins):
// a man in the middle appends commands to the client's STARTTLS in the
// same TCP segment. A server that reads them from the plaintext buffer
// after the upgrade runs them as if the client had sent them over TLS.
// Each test sends the upgrade and the injected commands in ONE write, then
// checks from outside that nothing injected ran: no login was attempted
// (the server logs "login attempt" at debug for every verification), no
// mailbox was created, no message was deleted.

func TestSTARTTLSInjectionIMAP(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	tc := s.TLSConfig()

	nc, err := net.DialTimeout("tcp", s.IMAP, wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wireTimeout))
	br := bufio.NewReader(nc)
	if g, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q, %v", g, err)
	}
	before := len(s.Log())
	if _, err := nc.Write([]byte("a STARTTLS\r\nb LOGIN ann ann-password\r\nc CREATE Injected\r\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q, %v", l, err)
	}
	if br.Buffered() > 0 {
		t.Fatalf("plaintext after STARTTLS OK: %q", peekAll(br))
	}
	// The server discards plaintext pipelined after STARTTLS (our go-imap
	// patch, starttls.go): the handshake completes and the session starts
	// afresh, not logged in.
	tconn := tls.Client(nc, tc)
	tconn.SetDeadline(time.Now().Add(wireTimeout))
	if err := tconn.Handshake(); err != nil {
		t.Fatalf("handshake after the injected text: %v", err)
	}
	c0 := &wireIMAP{t: t, nc: tconn, br: bufio.NewReader(tconn)}
	if tagged, _ := c0.cmd("SELECT INBOX"); statusOK(tagged) {
		t.Fatalf("SELECT right after STARTTLS succeeded: the injected LOGIN ran (%s)", tagged)
	}
	c0.ok("LOGIN ann ann-password")
	c0.ok("LOGOUT")
	nc.Close()

	// A fresh connection upgrades and works; the injected commands never ran.
	c := dialWireIMAP(t, s.IMAP, nil)
	c.startTLS(tc)
	c.ok("LOGIN ann ann-password")
	if u := c.ok(`LIST "" "*"`); hasLineWith(u, "Injected") {
		t.Errorf("injected CREATE ran: %q", u)
	}
	if tagged, _ := c.cmd("STATUS Injected (MESSAGES)"); statusOK(tagged) {
		t.Errorf("mailbox Injected exists: %s", tagged)
	}
	c.ok("LOGOUT")
	waitLog(t, s, before, "ann", 2) // ours over TLS on each connection
}

func TestSTARTTLSInjectionPOP3(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	tc := s.TLSConfig()
	want := deliverAll(t, s, "ann@example.com", testMessage("keep me", "must survive the injection"))

	nc, err := net.DialTimeout("tcp", s.POP3, wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wireTimeout))
	br := bufio.NewReader(nc)
	if g, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q, %v", g, err)
	}
	before := len(s.Log())
	if _, err := nc.Write([]byte("STLS\r\nUSER ann\r\nPASS ann-password\r\nDELE 1\r\nQUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("STLS: %q, %v", l, err)
	}
	if br.Buffered() > 0 {
		t.Fatalf("plaintext after STLS +OK: %q", peekAll(br))
	}
	// pop3d drops its plaintext buffer at STLS: the handshake completes
	// and the session starts afresh, in the AUTHORIZATION state.
	tconn := tls.Client(nc, tc)
	tconn.SetDeadline(time.Now().Add(wireTimeout))
	if err := tconn.Handshake(); err != nil {
		t.Fatalf("handshake after STLS: %v", err)
	}
	c := &wirePOP{t: t, nc: tconn, br: bufio.NewReader(tconn)}
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("STAT before login after STLS: %q (did the injected USER/PASS run?)", r)
	}
	if r := c.cmd("USER ann"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("USER over TLS: %q", r)
	}
	if r := c.cmd("PASS ann-password"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS over TLS: %q", r)
	}
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT: %q, want the one message (the injected DELE/QUIT must not have run)", r)
	}
	if r := c.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR 1: %q", r)
	}
	if got := strings.Join(c.multi(), "\r\n") + "\r\n"; got != want[0] {
		t.Fatalf("RETR 1 after STLS: got %q, want %q", got, want[0])
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	// Exactly one verification: ours, over TLS. The injected PASS never
	// reached the login path.
	waitLog(t, s, before, "ann", 1)
	// And the message is still there for the next session.
	p := dialPOP3S(t, s.POP3S, tc)
	p.login("ann", "ann-password")
	if r := p.expectOK("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT in a new session: %q", r)
	}
	p.expectOK("QUIT")
}

// LMTP has no TLS at all (it runs on a local socket or loopback, RFC 2033
// §5), so there is no STARTTLS to inject into: LHLO must not offer it and
// the command must be refused.
func TestLMTPOffersNoSTARTTLS(t *testing.T) {
	s := Start(t, Config{})
	for _, a := range []struct{ network, addr string }{{"tcp", s.LMTP}, {"unix", s.Socket}} {
		conn, err := net.DialTimeout(a.network, a.addr, wireTimeout)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(wireTimeout))
		tp := textproto.NewConn(conn)
		if _, _, err := tp.ReadResponse(220); err != nil {
			t.Fatalf("%s greeting: %v", a.network, err)
		}
		id, _ := tp.Cmd("LHLO test")
		tp.StartResponse(id)
		_, ext, err := tp.ReadResponse(250)
		tp.EndResponse(id)
		if err != nil {
			t.Fatalf("%s LHLO: %v", a.network, err)
		}
		if strings.Contains(strings.ToUpper(ext), "STARTTLS") {
			t.Errorf("%s: LHLO advertises STARTTLS:\n%s", a.network, ext)
		}
		// The command itself is refused, and the session goes on.
		id, _ = tp.Cmd("STARTTLS")
		tp.StartResponse(id)
		code, msg, err := tp.ReadResponse(0)
		tp.EndResponse(id)
		if err == nil && code < 500 {
			t.Errorf("%s: STARTTLS answered %d %s", a.network, code, msg)
		}
		id, _ = tp.Cmd("NOOP")
		tp.StartResponse(id)
		if _, _, err := tp.ReadResponse(250); err != nil {
			t.Errorf("%s: NOOP after STARTTLS: %v", a.network, err)
		}
		tp.EndResponse(id)
		tp.Close()
	}
}

func peekAll(br *bufio.Reader) string {
	b, _ := br.Peek(br.Buffered())
	return string(b)
}

func hasLineWith(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// waitLog waits briefly for the login path's log lines since offset and
// fails unless user had exactly n verifications.
func waitLog(t *testing.T, s *Server, offset int, user string, n int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = loginAttempts(s.Log()[offset:], user)
		if got > n || time.Now().After(deadline) {
			break
		}
	}
	if got != n {
		t.Errorf("%d login attempts for %s in the server log, want %d (the injected login must not run)", got, user, n)
	}
}

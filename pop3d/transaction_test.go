package pop3d

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// login opens an implicit-TLS session as ann.
func (e *testEnv) login(t *testing.T) *client {
	t.Helper()
	c := e.dialTLS(t)
	c.login("ann", "secret")
	return c
}

func TestTransactionCommands(t *testing.T) {
	cases := []struct {
		name   string
		script string
	}{
		{"STAT", "C: STAT\nS: +OK 3 145"},
		{"LIST", "C: LIST\nS: +OK 3 messages (145 octets)\nS: 1 44\nS: 2 50\nS: 3 51\nS: ."},
		{"LIST n", "C: LIST 2\nS: +OK 2 50\nC: LIST 4\nS: -ERR No such message"},
		{"UIDL", "C: UIDL\nS: +OK unique-id listing follows\nS: 1 6553f10000000001\nS: 2 6553f10000000002\nS: 3 6553f10000000003\nS: ."},
		{"UIDL n", "C: UIDL 3\nS: +OK 3 6553f10000000003\nC: UIDL 9\nS: -ERR No such message"},
		{"NOOP", "C: NOOP\nS: +OK"},
		{"RETR", "C: RETR 1\nS: +OK 44 octets\nS: Subject: one\nS: From: a@example.com\nS:\nS: hello\nS: ."},
		{"RETR dot-stuffing", "C: RETR 2\nS: +OK 50 octets\nS: Subject: two\nS:\nS: ..leading dot\nS: ...two dots\nS: ..\nS: end\nS: ."},
		{"RETR missing", "C: RETR 4\nS: -ERR No such message\nC: RETR 0\nS: -ERR Syntax error: invalid message number"},
		{"TOP 0", "C: TOP 3 0\nS: +OK top of message follows\nS: Subject: three\nS: X-Long: yes\nS:\nS: ."},
		{"TOP 2", "C: TOP 3 2\nS: +OK top of message follows\nS: Subject: three\nS: X-Long: yes\nS:\nS: l1\nS: l2\nS: ."},
		{"TOP beyond end", "C: TOP 1 100\nS: +OK top of message follows\nS: Subject: one\nS: From: a@example.com\nS:\nS: hello\nS: ."},
		{"TOP dot-stuffing", "C: TOP 2 1\nS: +OK top of message follows\nS: Subject: two\nS:\nS: ..leading dot\nS: ."},
		{"DELE and RSET", `C: DELE 1
			S: +OK message 1 deleted
			C: DELE 1
			S: -ERR Message already deleted
			C: STAT
			S: +OK 2 101
			C: LIST
			S: +OK 2 messages (101 octets)
			S: 2 50
			S: 3 51
			S: .
			C: LIST 1
			S: -ERR Message already deleted
			C: UIDL 1
			S: -ERR Message already deleted
			C: RETR 1
			S: -ERR Message already deleted
			C: TOP 1 0
			S: -ERR Message already deleted
			C: RSET
			S: +OK maildrop has 3 messages (145 octets)
			C: LIST 1
			S: +OK 1 44`},
		{"syntax", `C: RETR
			S: -ERR Syntax error: expected one message number
			C: RETR x
			S: -ERR Syntax error: invalid number
			C: RETR +1
			S: -ERR Syntax error: invalid number
			C: RETR -1
			S: -ERR Syntax error: invalid number
			C: RETR 99999999999
			S: -ERR Syntax error: invalid number
			C: RETR 4294967297
			S: -ERR Syntax error: number out of range
			C: NOOP
			S: +OK
			C: TOP 1
			S: -ERR Syntax error: expected message number and line count
			C: TOP 1 -1
			S: -ERR Syntax error: invalid number
			C: LIST 1 2
			S: -ERR Syntax error: expected one message number
			C: STAT 1
			S: -ERR Syntax error: no arguments allowed`},
		{"wrong state", "C: USER ann\nS: -ERR Command not valid in this state\nC: AUTH PLAIN\nS: -ERR Command not valid in this state\nC: APOP a b\nS: -ERR Command not valid in this state"},
	}
	e := startServer(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.login(t)
			c.run(tc.script)
			c.run("C: RSET\nS: +OK...\nC: QUIT\nS: +OK...")
			c.expectClosed()
		})
	}
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("messages deleted without a committed QUIT: %v", got)
	}
}

// TestRetrExact checks that RETR sends exactly the stored octets, once
// un-dot-stuffed, and that LIST's size is their count.
func TestRetrExact(t *testing.T) {
	e := startServer(t)
	big := "Subject: big\r\n\r\n" + strings.Repeat(".dot line\r\nplain line\r\n", 20000) + "..\r\n"
	e.store.deliver("ann", big)
	c := e.login(t)
	for i, want := range append(testMessages, big) {
		c.run(fmt.Sprintf("C: LIST %d\nS: +OK %d %d", i+1, i+1, len(want)))
		lines := c.multi(fmt.Sprintf("RETR %d", i+1))
		var got strings.Builder
		for _, l := range lines {
			got.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
		}
		if got.String() != want {
			t.Fatalf("RETR %d: got %d octets, want %d", i+1, got.Len(), len(want))
		}
	}
}

func TestQuitDeletesAtomically(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	c.run(`C: DELE 1
		S: +OK message 1 deleted
		C: DELE 3
		S: +OK message 3 deleted`)
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("DELE deleted before QUIT: %v", got)
	}
	c.run("C: QUIT\nS: +OK Sealpost POP3 server signing off (1 messages left)")
	c.expectClosed()
	if got := e.store.uids("ann"); !reflect.DeepEqual(got, []uint32{2}) {
		t.Fatalf("after QUIT: %v, want [2]", got)
	}
	if e.store.locked("ann") {
		t.Fatal("lock not released")
	}
	c = e.login(t)
	c.run("C: LIST\nS: +OK 1 messages (50 octets)\nS: 1 50\nS: .\nC: UIDL\nS: +OK...\nS: 1 6553f10000000002\nS: .")
}

func TestQuitDeleteFails(t *testing.T) {
	e := startServer(t)
	e.store.failDelete = true
	c := e.login(t)
	c.run("C: DELE 2\nS: +OK...\nC: QUIT\nS: -ERR [SYS/TEMP] Some deleted messages not removed, try again later")
	c.expectClosed()
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("failed QUIT changed the maildrop: %v", got)
	}
	waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
}

// TestDroppedConnection: marks without QUIT delete nothing and the lock
// is released.
func TestDroppedConnection(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	c.run("C: DELE 1\nS: +OK...\nC: DELE 2\nS: +OK...")
	c.nc.Close()
	waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("dropped connection deleted messages: %v", got)
	}
	if n := e.store.dropCloses.Load(); n != 1 {
		t.Fatalf("Maildrop closed %d times, want 1", n)
	}
}

// TestSnapshot: deliveries after login are not part of the session.
func TestSnapshot(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	e.store.deliver("ann", "Subject: late\r\n\r\nx\r\n")
	c.run("C: STAT\nS: +OK 3 145\nC: LIST 4\nS: -ERR No such message\nC: RETR 4\nS: -ERR No such message\nC: QUIT\nS: +OK...")
	c = e.login(t)
	c.run("C: STAT\nS: +OK 4 165\nC: UIDL 4\nS: +OK 4 6553f10000000004")
}

// TestExpungedMeanwhile: a message expunged over IMAP during the session
// answers -ERR; the session goes on and DELE+QUIT of it still works.
func TestExpungedMeanwhile(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	e.store.expunge("ann", 2)
	c.run(`C: RETR 2
		S: -ERR Message was removed by another client
		C: TOP 2 0
		S: -ERR Message was removed by another client
		C: LIST 2
		S: +OK 2 50
		C: RETR 1
		S: +OK 44 octets
		S: Subject: one
		S: From: a@example.com
		S:
		S: hello
		S: .
		C: DELE 2
		S: +OK message 2 deleted
		C: DELE 3
		S: +OK message 3 deleted
		C: QUIT
		S: +OK Sealpost POP3 server signing off (1 messages left)`)
	if got := e.store.uids("ann"); !reflect.DeepEqual(got, []uint32{1}) {
		t.Fatalf("after QUIT: %v, want [1]", got)
	}
}

// TestBrokenBody: a store read error after +OK cannot be reported in-band,
// so the connection is closed (the client sees no terminating ".").
func TestBrokenBody(t *testing.T) {
	e := startServer(t)
	e.store.setBroken("ann", 3)
	c := e.login(t)
	c.run("C: DELE 1\nS: +OK...\nC: RETR 3\nS: +OK 51 octets")
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(c.br)
	if err != nil || !strings.HasPrefix(string(rest), "Subject: three") || strings.HasSuffix(string(rest), "\r\n.\r\n") {
		t.Fatalf("got %q, %v; want a truncated body and EOF", rest, err)
	}
	waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
	if got := e.store.uids("ann"); len(got) != 3 {
		t.Fatalf("messages deleted: %v", got)
	}
}

// TestUIDLStable: the same ids in every session, derived from UIDVALIDITY
// and UID, never from message numbers.
func TestUIDLStable(t *testing.T) {
	e := startServer(t)
	c := e.login(t)
	first := c.multi("UIDL")
	c.nc.Close()
	waitFor(t, "lock release", func() bool { return !e.store.locked("ann") })
	c = e.login(t)
	if second := c.multi("UIDL"); !reflect.DeepEqual(first, second) {
		t.Fatalf("UIDL changed: %v then %v", first, second)
	}
	c.run("C: DELE 1\nS: +OK...\nC: QUIT\nS: +OK...")
	c = e.login(t)
	c.run("C: UIDL\nS: +OK...\nS: 1 6553f10000000002\nS: 2 6553f10000000003\nS: .")
}

// TestPipelining: commands sent in one write are answered in order
// (RFC 2449 §6.6).
func TestPipelining(t *testing.T) {
	e := startServer(t)
	c := e.dialTLS(t)
	c.send("USER ann\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nUIDL 2\r\nTOP 1 0\r\nQUIT")
	c.run(`S: +OK send PASS
		S: +OK maildrop has 3 messages (145 octets)
		S: +OK 3 145
		S: +OK 1 44
		S: +OK 2 6553f10000000002
		S: +OK top of message follows
		S: Subject: one
		S: From: a@example.com
		S:
		S: .
		S: +OK Sealpost POP3 server signing off (3 messages left)`)
	c.expectClosed()
}

// TestEmptyListings: with no message left, LIST and UIDL are "+OK" and the
// "." line, nothing in between (a blank line would read as a bogus entry).
func TestEmptyListings(t *testing.T) {
	e := startServer(t)
	t.Run("empty maildrop", func(t *testing.T) {
		c := e.dialTLS(t)
		c.login("bob", "pass word")
		c.run(`C: STAT
			S: +OK 0 0
			C: LIST
			S: +OK 0 messages (0 octets)
			S: .
			C: UIDL
			S: +OK unique-id listing follows
			S: .
			C: QUIT
			S: +OK...`)
	})
	t.Run("all deleted", func(t *testing.T) {
		c := e.login(t)
		c.run(`C: DELE 1
			S: +OK...
			C: DELE 2
			S: +OK...
			C: DELE 3
			S: +OK...
			C: LIST
			S: +OK 0 messages (0 octets)
			S: .
			C: UIDL
			S: +OK unique-id listing follows
			S: .
			C: RSET
			S: +OK maildrop has 3 messages (145 octets)`)
	})
}

// TestUnterminatedMessage: a stored message without a final CRLF (IMAP
// APPEND allows it) is sent with one, and LIST, STAT and RETR count it, so
// every count equals the octets RETR sends before dot-stuffing. An empty
// message sends no line at all.
func TestUnterminatedMessage(t *testing.T) {
	e := startServer(t)
	const nonl = "Subject: nonl\r\n\r\nno newline at end" // 34 octets stored
	e.store.addUser("cy", "pw", nonl, "", ".")
	c := e.dialTLS(t)
	c.login("cy", "pw")
	c.run(`C: STAT
		S: +OK 3 39
		C: LIST
		S: +OK 3 messages (39 octets)
		S: 1 36
		S: 2 0
		S: 3 3
		S: .
		C: TOP 1 5
		S: +OK top of message follows
		S: Subject: nonl
		S:
		S: no newline at end
		S: .
		C: RETR 3
		S: +OK 3 octets
		S: ..
		S: .`)
	for _, tc := range []struct {
		n    int
		wire string
	}{
		{1, "+OK 36 octets\r\n" + nonl + "\r\n.\r\n"},
		{2, "+OK 0 octets\r\n.\r\n"},
	} {
		c.send(fmt.Sprintf("RETR %d", tc.n))
		buf := make([]byte, len(tc.wire))
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c.br, buf); err != nil || string(buf) != tc.wire {
			t.Fatalf("RETR %d: got %q, %v; want %q", tc.n, buf, err, tc.wire)
		}
	}
	c.run("C: NOOP\nS: +OK")
}

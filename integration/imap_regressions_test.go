package integration

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Regression tests, on the binary, for IMAP bugs found in review: each
// reproduces the report and asserts the correct behaviour.
func TestIMAPRegressions(t *testing.T) {
	// One server for all, started only when a subtest runs.
	var (
		once sync.Once
		srv  *Server
		n    int
	)
	parent := t
	user := func(t *testing.T) (*Server, string, string) {
		once.Do(func() { srv = Start(parent, Config{}) }) // lives as long as the parent test
		n++
		name := fmt.Sprintf("kb%d", n)
		srv.AddUser(name, name+"-pw")
		return srv, name, name + "-pw"
	}
	login := func(t *testing.T, s *Server, name, pass string) *wireIMAP {
		w := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
		w.ok("LOGIN %s %s", name, pass)
		return w
	}

	t.Run("expunge-after-inbox-renamed-by-other-session", func(t *testing.T) {
		s, name, pass := user(t)
		for i := range 4 {
			deliver(t, s, name+"@example.com", testMessage(fmt.Sprintf("kept %d", i), "must survive"))
		}
		a, b := login(t, s, name, pass), login(t, s, name, pass)
		b.ok("SELECT INBOX")
		b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
		a.ok("RENAME INBOX OldInbox")
		b.cmd("NOOP")
		b.cmd("EXPUNGE")
		b.cmd(`STORE 2 +FLAGS (\Flagged)`)
		b.cmd("FETCH 3 BODY[]")
		if u := a.ok("STATUS OldInbox (MESSAGES)"); len(u) != 1 || !strings.HasSuffix(u[0], "(MESSAGES 4)") {
			t.Errorf("the renamed mailbox lost mail to the other session's EXPUNGE: %q", u)
		}
		a.ok("EXAMINE OldInbox")
		if u := a.ok("FETCH 1:* FLAGS"); strings.Contains(strings.Join(u, ""), `\Flagged`) || strings.Contains(strings.Join(u, ""), `\Seen`) {
			t.Errorf("the other session changed flags in the renamed mailbox: %q", u)
		}
	})

	t.Run("silent-store-swallows-other-sessions-flags", func(t *testing.T) {
		s, name, pass := user(t)
		deliver(t, s, name+"@example.com", testMessage("flags", "x"))
		a := &tbSession{name: "a", w: login(t, s, name, pass), flags: map[uint32]string{}}
		b := login(t, s, name, pass)
		a.ok(t, "SELECT INBOX")
		a.ok(t, "FETCH 1:* (UID FLAGS)")
		b.ok("SELECT INBOX")
		b.ok(`STORE 1 +FLAGS (\Seen \Flagged)`)
		a.ok(t, `STORE 1 +FLAGS.SILENT (\Flagged)`)
		a.ok(t, "NOOP")
		if got := a.flags[1]; got != `\Flagged \Seen` {
			t.Errorf("session A believes UID 1 has (%s); the store has (\\Flagged \\Seen)", got)
		}
	})

	t.Run("refused-non-sync-literal-does-not-run-its-content", func(t *testing.T) {
		s, name, pass := user(t)
		w := login(t, s, name, pass)
		w.ok("SELECT INBOX")
		payload := strings.Repeat("x", 5000) + "\r\nt99 DELETE Junk\r\n"
		w.send(fmt.Sprintf("t1 SEARCH TEXT {%d+}\r\n%s\r\nt2 NOOP\r\n", len(payload), payload))
		// Whatever the server answers (BAD, BYE), it must not run DELETE.
		for {
			l, err := w.tryReadLine()
			if err != nil || strings.HasPrefix(l, "t2 ") {
				break
			}
			if strings.HasPrefix(l, "t99 ") {
				t.Errorf("a line inside the literal ran as a command: %q", strings.TrimSpace(l))
			}
		}
		c := login(t, s, name, pass)
		if _, u := c.cmd(`LIST "" Junk`); len(u) != 1 {
			t.Errorf("Junk is gone: the DELETE inside the literal ran (%q)", u)
		}
	})

	t.Run("non-sync-append-over-limit-does-not-run-its-content", func(t *testing.T) {
		s := Start(t, Config{Extra: limitsConfig(t)}) // 64 KiB limit
		s.AddUser("kbl", "kbl-pw")
		w := login(t, s, "kbl", "kbl-pw")
		// Literal data is arbitrary; this one opens with a command line.
		msg := "t98 CREATE Injected\r\n" + strings.Repeat("filler line\r\n", 6000)
		// A server that stopped reading may reset the connection under
		// the write: that is not the bug, so ignore write errors.
		w.nc.SetWriteDeadline(time.Now().Add(wireTimeout))
		io.WriteString(w.nc, fmt.Sprintf("t1 APPEND INBOX {%d+}\r\n%s\r\nt2 NOOP\r\n", len(msg), msg))
		for {
			l, err := w.tryReadLine()
			if err != nil || strings.HasPrefix(l, "t2 ") {
				break
			}
			if strings.HasPrefix(l, "t98 ") {
				t.Errorf("a line of the refused message ran as a command: %q", strings.TrimSpace(l))
			}
		}
		c := login(t, s, "kbl", "kbl-pw")
		if _, u := c.cmd(`LIST "" Injected`); len(u) != 0 {
			t.Errorf("the CREATE inside the refused literal ran: %q", u)
		}
	})

	t.Run("internal-date-keeps-zone-and-search-uses-it", func(t *testing.T) {
		s, name, pass := user(t)
		w := login(t, s, name, pass)
		w.ok(`APPEND INBOX "01-Jan-2024 00:30:00 +0200" {%d+}`+"\r\n%s", len(msgPlain), msgPlain)
		w.ok("SELECT INBOX")
		if u := w.ok("FETCH 1 INTERNALDATE"); len(u) != 1 || !regexp.MustCompile(`"( 1|01)-Jan-2024 00:30:00 \+0200"`).MatchString(u[0]) {
			t.Errorf("INTERNALDATE: %q", u)
		}
		if u := w.ok("SEARCH ON 1-Jan-2024"); len(u) != 1 || u[0] != "* SEARCH 1" {
			t.Errorf("SEARCH ON 1-Jan-2024: %q", u)
		}
		if u := w.ok("SEARCH BEFORE 1-Jan-2024"); len(u) != 1 || u[0] != "* SEARCH" {
			t.Errorf("SEARCH BEFORE 1-Jan-2024: %q", u)
		}
	})

	t.Run("invalid-sequence-numbers-and-sections-are-BAD", func(t *testing.T) {
		s, name, pass := user(t)
		deliver(t, s, name+"@example.com", testMessage("one", "x"))
		w := login(t, s, name, pass)
		w.ok("SELECT INBOX")
		for _, cmd := range []string{"FETCH 0 FLAGS", "FETCH 99 FLAGS", "FETCH 1 BODY[0]"} {
			if tagged, _ := w.cmd("%s", cmd); !regexp.MustCompile(`^\S+ BAD`).MatchString(tagged) {
				t.Errorf("%s: %s (want BAD)", cmd, tagged)
			}
		}
		if u := w.ok("FETCH 1 FLAGS"); len(u) != 1 || strings.Contains(u[0], `\Seen`) {
			t.Errorf("after BODY[0]: %q", u)
		}
	})

	t.Run("list-reference-is-concatenated", func(t *testing.T) {
		s, name, pass := user(t)
		w := login(t, s, name, pass)
		if u := w.ok(`LIST "Arch" "*"`); len(u) != 1 || !strings.HasSuffix(strings.ReplaceAll(u[0], `"`, ""), " Archive") {
			t.Errorf(`LIST "Arch" "*": %q (RFC 9051 §6.3.9: reference and pattern are concatenated)`, u)
		}
	})

	t.Run("copy-from-deleted-mailbox-is-not-trycreate", func(t *testing.T) {
		s, name, pass := user(t)
		a, b := login(t, s, name, pass), login(t, s, name, pass)
		a.ok("CREATE Projects")
		a.ok(`APPEND Projects {%d+}`+"\r\n%s", len(msgPlain), msgPlain)
		a.ok("SELECT Projects")
		b.ok("DELETE Projects")
		if tagged, _ := a.cmd("COPY 1 INBOX"); statusOK(tagged) || strings.Contains(tagged, "TRYCREATE") {
			t.Errorf("COPY out of a deleted mailbox into INBOX: %s (TRYCREATE would make a client create INBOX)", tagged)
		}
	})
}

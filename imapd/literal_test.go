package imapd

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// injection returns exactly n bytes of literal data made of IMAP command
// lines: if the server ever parses them as commands, Junk is deleted and
// Injected is created, and replies tagged t9… appear. The last line has no
// CRLF, so the one that ends the command line after the literal would
// complete it.
func injection(n int) string {
	const cmds = "t91 DELETE Junk\r\nt92 CREATE Injected\r\nt93 LOGIN ann pw-ann\r\nt94 DELETE Junk\r\n"
	const noop, tail = "t90 NOOP\r\n", "t95 DELETE Junk"
	rem := n - len(cmds) - len(tail)
	if rem < len(noop) {
		panic("injection too short")
	}
	// The first line, maybe swallowed by the failing command, absorbs the
	// remainder with trailing spaces.
	first := "t90 NOOP" + strings.Repeat(" ", (rem-len(noop))%len(noop)) + "\r\n"
	return first + cmds + strings.Repeat(noop, (rem-len(noop))/len(noop)) + tail
}

// sendLax sends a command like send, but ignores write errors: a server
// that closes the connection on a refused literal may reset it while the
// data is still being written.
func (rc *rawClient) sendLax(format string, args ...any) string {
	rc.tag++
	tag := fmt.Sprintf("a%d", rc.tag)
	rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(rc.conn, tag+" "+fmt.Sprintf(format, args...))
	return tag
}

// readUntil reads response lines until one starts with tag or the
// connection ends; it does not fail on EOF, since closing the connection
// is one of the safe reactions.
func (rc *rawClient) readUntil(tag string) (lines []string, closed bool) {
	rc.t.Helper()
	for {
		rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := rc.r.ReadString('\n')
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				rc.t.Fatalf("no reply within 10s (so far %q)", lines)
			}
			return lines, true
		}
		l = strings.TrimSuffix(l, "\r\n")
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines, false
		}
	}
}

// TestLiteralNeverRunsAsCommand sends literals that imapserver refuses or
// never reaches, each followed by its data without waiting (LITERAL+ or
// LITERAL-), and checks that no line of the data ran as a command: the
// session either stays in step (the command fails, NOOP works) or ends
// with BYE, and Junk is still there.
func TestLiteralNeverRunsAsCommand(t *testing.T) {
	e := newEnv(t, envConfig{AppendLimit: 2000})
	tests := []struct {
		name    string
		preAuth bool // do not log in
		plain   bool // connect to the STARTTLS port (and upgrade unless preAuth)
		// cmd is sent as is after the tag; %s is replaced by the data.
		cmd  string
		size int
		want string // prefix of the tagged reply
		bye  bool   // the server then closes the connection
	}{
		{"SEARCH TEXT over 4096", false, false, "SEARCH TEXT {5019+}\r\n%s\r\n", 5019, "NO [TOOBIG]", false},
		{"SEARCH TEXT over 4096 inside OR", false, false, "SEARCH OR TEXT {6000+}\r\n%s SUBJECT x\r\n", 6000, "NO [TOOBIG]", false},
		{"APPEND over APPENDLIMIT", false, false, "APPEND INBOX {3000+}\r\n%s\r\n", 3000, "NO [TOOBIG]", false},
		{"APPEND over APPENDLIMIT with flags and date", false, false, `APPEND INBOX (\Seen) "01-Jan-2024 00:30:00 +0200" {2500+}` + "\r\n%s\r\n", 2500, "NO [TOOBIG]", false},
		{"APPEND with an invalid date", false, false, `APPEND INBOX "yesterday" {300+}` + "\r\n%s\r\n", 300, "BAD", false},
		{"APPEND with an unknown extension", false, false, "APPEND INBOX XFOO {300+}\r\n%s\r\n", 300, "BAD", false},
		{"APPEND with a second message", false, false, "APPEND INBOX {50+}\r\n" + testMsg("m", "b")[:50] + " {300+}\r\n%s\r\n", 300, "BAD", false},
		{"unknown command", false, false, "XFOO {300+}\r\n%s\r\n", 300, "BAD", false},
		{"RENAME with a bad argument before the literal", false, false, "RENAME ( {300+}\r\n%s\r\n", 300, "BAD", false},
		{"LOGIN over 4096 before authentication", true, false, "LOGIN {5000+}\r\n%s pw\r\n", 5000, "NO [TOOBIG]", false},
		{"LOGIN over 4096 before STARTTLS", true, true, "LOGIN {5000+}\r\n%s pw\r\n", 5000, "NO [TOOBIG]", false},
		{"SEARCH TEXT over 4096 after STARTTLS", false, true, "SEARCH TEXT {5019+}\r\n%s\r\n", 5019, "NO [TOOBIG]", false},
		{"huge APPEND is not drained", false, false, "APPEND INBOX {5000000000+}\r\n%s\r\n", 3000, "NO [TOOBIG]", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setup := e.rawLogin("ann")
			setup.t = t
			setup.cmd("CREATE Junk") // in case an earlier case lost it
			setup.cmd("DELETE Injected")
			var rc *rawClient
			if tc.plain {
				rc = e.rawPlain()
				rc.t = t
				if !tc.preAuth {
					rc.startTLS(e.ClientTLS)
				}
			} else {
				rc = e.rawTLS()
				rc.t = t
			}
			if !tc.preAuth {
				rc.ok("LOGIN ann pw-ann")
				rc.ok("SELECT INBOX")
			}
			tag := rc.sendLax(tc.cmd, injection(tc.size))
			lines, closed := rc.readUntil(tag)
			if !hasLine(lines, tag+" "+tc.want) {
				t.Errorf("replies %q, want %s %s…", lines, tag, tc.want)
			}
			if tc.bye {
				more, closed := rc.readUntil("never")
				if !closed || !hasLine(more, "* BYE") {
					t.Errorf("after the reply: %q (closed %v), want BYE and close", more, closed)
				}
				lines = append(lines, more...)
			} else if closed {
				t.Errorf("connection closed: %q", lines)
			} else {
				// The next command must be answered in step.
				after, closedAfter := rc.readUntil(rc.send("NOOP"))
				if closedAfter || !strings.Contains(after[len(after)-1], "OK") {
					t.Errorf("NOOP after the refused literal: %q (closed %v)", after, closedAfter)
				}
				lines = append(lines, after...)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "t9") {
					t.Errorf("literal data ran as a command: %q", l)
					break
				}
			}
			check := e.rawLogin("ann")
			check.t = t
			mustHave(t, check.ok("STATUS Junk (MESSAGES)"), "(MESSAGES ")
			check.no("NO [NONEXISTENT]", "STATUS Injected (MESSAGES)")
		})
	}
}

// TestSyncLiteralRefused: a synchronizing literal over 4096 bytes outside
// APPEND is refused at once, before the client sends its data, and the
// session carries on.
func TestSyncLiteralRefused(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	start := time.Now()
	rc.no("NO [TOOBIG]", "SEARCH TEXT {5000}")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	rc.ok("NOOP")
	// An accepted literal followed by junk still fails cleanly.
	tag := rc.send("SEARCH TEXT {3+}\r\nabc )")
	if _, st := rc.wait(tag); !strings.HasPrefix(st, "BAD") {
		t.Errorf("SEARCH with junk after a literal: %q", st)
	}
	rc.ok("NOOP")
	// A non-synchronizing literal within the limits is just data.
	msg := injection(300)
	u := rc.ok("SEARCH TEXT {%d+}\r\n%s", len(msg), msg)
	mustHave(t, u, "* SEARCH")
	rc.ok("APPEND Drafts {%d+}\r\n%s", len(msg), msg)
	mustHave(t, rc.ok("STATUS Junk (MESSAGES)"), "(MESSAGES ")
	mustHave(t, rc.ok("STATUS Drafts (MESSAGES)"), "MESSAGES 1")
}

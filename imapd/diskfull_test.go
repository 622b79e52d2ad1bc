package imapd

import (
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"sealpost/mailstore"
)

// On a full disk APPEND, COPY, STORE and EXPUNGE answer NO [OVERQUOTA]
// with a text that says the server is out of space, the session goes on,
// the failure is logged as an error for the admin, and the same session
// works once space is back.
func TestDiskFull(t *testing.T) {
	faults := &mailstore.Faults{}
	h := &errorLog{}
	e := newEnv(t, envConfig{Users: []string{"ann"}, Faults: faults, Logger: slog.New(h)})
	e.deliver("ann", testMsg("kept", "already stored"))
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	full := &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.ENOSPC}
	const no = "NO [OVERQUOTA] Not enough disk space on the server"

	faults.FailBodies(full)
	rc.write("a1 APPEND INBOX {5}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	rc.write("hello\r\n")
	if _, st := rc.wait("a1"); !strings.HasPrefix(st, no) {
		t.Fatalf("APPEND on a full disk: %q", st)
	}
	rc.no(no, "COPY 1 Archive")
	faults.FailBodies(nil)

	faults.FailCommits(full)
	rc.no(no, "STORE 1 +FLAGS (\\Deleted)")
	rc.no(no, "CREATE Full")
	faults.FailCommits(nil)
	if got := h.take(); len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "no space left") {
		t.Errorf("disk full not logged as an error: %q", got)
	}

	u := rc.ok("FETCH 1 (FLAGS BODY.PEEK[TEXT])")
	mustHave(t, u, "FLAGS ()", "already stored")
	rc.write("a2 APPEND INBOX {5}\r\n")
	rc.line()
	rc.write("hello\r\n")
	if _, st := rc.wait("a2"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND after space came back: %q", st)
	}
	rc.ok("STORE 1 +FLAGS (\\Seen)")
	rc.ok("COPY 1 Archive")
}

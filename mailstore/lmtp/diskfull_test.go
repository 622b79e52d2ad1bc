package lmtp

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"sealpost/mailstore"
)

// deliverReply runs one transaction to ann and returns the DATA reply
// (nil for 250).
func deliverReply(t *testing.T, addr, body string) *smtp.SMTPError {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("from@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	_, err = w.CloseWithLMTPResponse()
	var le smtp.LMTPDataError
	if errors.As(err, &le) {
		return le["ann@example.com"]
	}
	if err != nil {
		t.Fatal(err)
	}
	return nil
}

// A full disk (or filesystem quota) is a temporary failure the MTA should
// retry: 452 4.3.1, for body writes and for commits alike; an I/O error
// is 451 4.3.0; once space is back, 250 again on the same server. Both
// are logged as errors, with the cause, for the admin's alerts.
func TestDiskFullReplies(t *testing.T) {
	dir := t.TempDir()
	faults := &mailstore.Faults{}
	st, err := mailstore.Open(dir, mailstore.Options{Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	addUser(t, st, "ann", 0)
	var logs syncBuffer
	srv, err := New(Options{Store: st, SpoolDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	full := &fs.PathError{Op: "write", Path: dir + "/x", Err: syscall.ENOSPC}
	quota := &fs.PathError{Op: "write", Path: dir + "/x", Err: syscall.EDQUOT}
	for _, tc := range []struct {
		name   string
		inject func()
		code   int
		enh    smtp.EnhancedCode
	}{
		{"body write ENOSPC", func() { faults.FailBodies(full) }, 452, smtp.EnhancedCode{4, 3, 1}},
		{"body write EDQUOT", func() { faults.FailBodies(quota) }, 452, smtp.EnhancedCode{4, 3, 1}},
		{"commit ENOSPC", func() { faults.FailCommits(full) }, 452, smtp.EnhancedCode{4, 3, 1}},
		{"commit EIO", func() { faults.FailCommits(&fs.PathError{Op: "write", Path: dir, Err: syscall.EIO}) }, 451, smtp.EnhancedCode{4, 3, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			tc.inject()
			defer faults.FailBodies(nil)
			defer faults.FailCommits(nil)
			r := deliverReply(t, addr, body)
			if r == nil || r.Code != tc.code || r.EnhancedCode != tc.enh {
				t.Fatalf("reply %v, want %d %v", r, tc.code, tc.enh)
			}
			if tc.code == 452 && !strings.Contains(r.Message, "storage") {
				t.Errorf("reply text %q", r.Message)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR msg=deliver") || !strings.Contains(l, "user=ann err=") {
				t.Errorf("not logged as an error with its cause:\n%s", l)
			}
		})
	}
	if n := inboxCount(t, st, "ann"); n != 0 {
		t.Fatalf("%d messages stored under failing writes", n)
	}
	if r := deliverReply(t, addr, body); r != nil {
		t.Fatalf("after the disk was freed: %v, want 250", r)
	}
	if n := inboxCount(t, st, "ann"); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

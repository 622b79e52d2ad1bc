package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// mountTmpfs mounts a tmpfs of size bytes, or skips the test: mounting
// needs root, and CI may not allow it. The unit tests with injected
// faults (mailstore, mailstore/lmtp, imapd, cmd/sealpost) cover the
// replies then. Unmounted at cleanup, after the server stopped (register
// it before Start).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sealpost-full-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a tmpfs (%v: %s); the fault-injection unit tests cover disk-full replies", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// fillDisk writes a file until the filesystem is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Write(buf)
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		// Top up to the last byte.
		for n := n; n > 0; {
			n, _ = f.Write(buf[:1])
		}
		return p
	}
}

// lmtpReply delivers body to ann and returns the reply to DATA (nil: 250).
func lmtpReply(t *testing.T, network, addr, body string) *smtp.SMTPError {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
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
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &le):
		return le["ann@example.com"]
	case errors.As(err, &se):
		return se
	case err != nil:
		t.Fatal(err)
	}
	return nil
}

// The data directory on a tiny filesystem, filled to the last byte while
// the server runs: deliveries get 452 4.3.1 (the MTA retries), APPEND gets
// NO [OVERQUOTA], a POP3 QUIT either deletes or answers -ERR [SYS/TEMP]
// having deleted nothing, nothing stored changes and nothing panics. Once
// space is freed the same server process takes mail again, and `sealpost
// check` finds the store clean.
func TestDiskFullServer(t *testing.T) {
	mnt := mountTmpfs(t, 16<<20)
	s := Start(t, Config{Data: filepath.Join(mnt, "data")})
	s.AddUser("ann", "ann-password")
	tc := s.TLSConfig()

	want := map[string]string{} // Message-ID → stored bytes, INBOX and Sent
	for i, size := range []int{1, 100, 3000} {
		id := fmt.Sprintf("before-%d", i)
		b := testMessage(id, strings.Repeat("stored before the disk filled up\r\n", size))
		if r := lmtpReply(t, "unix", s.Socket, b); r != nil {
			t.Fatalf("delivery %d: %v", i, r)
		}
		want[id] = delivered("ann@example.com", b)
	}
	c := s.LoginIMAPS(t, "ann", "ann-password")
	sent := testMessage("before-sent", "appended before")
	if err := appendErr(t, c, "Sent", sent); err != nil {
		t.Fatal(err)
	}
	want["before-sent"] = sent
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	filler := fillDisk(t, mnt)
	small := testMessage("while-full", "refused")
	large := testMessage("while-full-large", strings.Repeat("a large message is spooled to disk first\r\n", 40000)) // > 1 MiB
	for _, d := range []struct{ name, network, addr, body string }{
		{"small over TCP", "tcp", s.LMTP, small},
		{"small over the socket", "unix", s.Socket, small},
		{"large (spooled)", "unix", s.Socket, large},
	} {
		r := lmtpReply(t, d.network, d.addr, d.body)
		if r == nil || r.Code != 452 || r.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
			t.Errorf("LMTP %s on a full disk: %v, want 452 4.3.1", d.name, r)
		}
	}
	err := appendErr(t, c, "INBOX", testMessage("append-while-full", "refused"))
	if imapCode(err) != imap.ResponseCodeOverQuota || !strings.Contains(err.Error(), "disk space") {
		t.Errorf("APPEND on a full disk: %v, want NO [OVERQUOTA] ... disk space", err)
	}
	// A flag change may fit in pages mail.db already has; either way it
	// gets a clean answer.
	storeErr := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
	if storeErr != nil && imapCode(storeErr) != imap.ResponseCodeOverQuota {
		t.Errorf("STORE on a full disk: %v, want OK or NO [OVERQUOTA]", storeErr)
	}
	quit := popDeleteFirst(t, s, tc)
	switch {
	case strings.HasPrefix(quit, "+OK"):
		delete(want, "before-0") // the deletion fit
	case !strings.HasPrefix(quit, "-ERR [SYS/TEMP]"):
		t.Errorf("POP3 QUIT on a full disk: %q, want +OK or -ERR [SYS/TEMP]", quit)
	}
	t.Logf("while full: STORE %v, POP3 QUIT %q", storeErr, quit)
	checkStored(t, c, want)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil { // checkStored EXAMINEs
		t.Fatal(err)
	}

	// Space comes back: no restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{small, large} {
		if r := lmtpReply(t, "unix", s.Socket, b); r != nil {
			t.Fatalf("delivery after space came back: %v", r)
		}
		want[messageID(b)] = delivered("ann@example.com", b)
	}
	after := testMessage("append-after", "space is back")
	if err := appendErr(t, c, "INBOX", after); err != nil {
		t.Fatalf("APPEND after space came back: %v", err)
	}
	want["append-after"] = after
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatalf("STORE after space came back: %v", err)
	}
	if q := popDeleteFirst(t, s, tc); !strings.HasPrefix(q, "+OK") {
		t.Fatalf("POP3 QUIT after space came back: %q", q)
	}
	first := "before-1"
	if _, ok := want["before-0"]; ok {
		first = "before-0"
	}
	delete(want, first)
	checkStored(t, c, want)
	c.Close()

	if strings.Contains(s.Log(), "panic") {
		t.Errorf("the server log mentions a panic")
	}
	if n := strings.Count(s.Log(), "no space left on device"); n == 0 {
		t.Errorf("the server did not log the full disk")
	}
	s.Stop()
	if out, code := s.Sealpost("", "check", "--data", s.Data); code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("check after the disk was full: exit %d:\n%s", code, out)
	}
}

func appendErr(t *testing.T, c *imapclient.Client, mailbox, body string) error {
	_, err := appendMsg(t, c, mailbox, body, nil)
	return err
}

// popDeleteFirst deletes message 1 over POP3S and returns the reply to QUIT.
func popDeleteFirst(t *testing.T, s *Server, tc *tls.Config) string {
	t.Helper()
	c := dialPOP3S(t, s.POP3S, tc)
	defer c.nc.Close()
	c.login("ann", "ann-password")
	c.expectOK("DELE 1")
	return c.cmd("QUIT")
}

// checkStored compares INBOX and Sent with want (Message-ID → bytes).
func checkStored(t *testing.T, c *imapclient.Client, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, mbox := range []string{"Sent", "INBOX"} {
		for _, b := range Bodies(t, c, mbox) {
			got[messageID(b)] = b
		}
	}
	for id, w := range want {
		if g, ok := got[id]; !ok {
			t.Errorf("%s lost", id)
		} else if g != w {
			t.Errorf("%s changed", id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected message %s", id)
		}
	}
}

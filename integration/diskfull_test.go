package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"sealpost/mailstore/storetest"
)

// lmtpReply delivers body to ann and returns the reply to DATA (nil: 250).
func lmtpReply(t *testing.T, network, addr, body string) *smtp.SMTPError {
	t.Helper()
	const rcpt = "ann@example.com"
	refused, _, err := lmtpTransaction(t, network, addr, "sender@example.org", []string{rcpt}, body)
	if err := refused[rcpt]; err != nil {
		t.Fatal(err)
	}
	var le smtp.LMTPDataError
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &le):
		return le[rcpt]
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
	mnt := storetest.MountTmpfs(t, 16<<20)
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

	filler := storetest.FillDisk(t, mnt)
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
	c := dialWirePOP(t, s.POP3S, tc)
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

package integration

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Real Postfix in front of Sealpost, wired as README's "Use with Postfix"
// says: sealpost runs as an unprivileged user that is not in the postfix
// group, Postfix's chrooted lmtp(8) client (user postfix) reaches the socket
// through its setgid directory, and every message is read back over IMAPS.

// testMail is a message sent through Postfix; body is compared byte for
// byte with what IMAP returns.
type testMail struct {
	id, to, subject, mime, body string
}

func (m testMail) String() string {
	return fmt.Sprintf("From: Ann <ann@example.com>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@test>\r\nMIME-Version: 1.0\r\n%s\r\n%s",
		m.to, m.subject, time.Now().Format(time.RFC1123Z), m.id, m.mime, m.body)
}

func plainMail(id, to string) testMail {
	return testMail{id: id, to: to, subject: "plain " + id,
		mime: "Content-Type: text/plain; charset=us-ascii\r\n",
		body: "Hello from Postfix.\r\n.a line that starts with a dot\r\n\r\n-- \r\nsender\r\n"}
}

// attachmentMail carries n random bytes as a base64 attachment.
func attachmentMail(id, to string, n int) testMail {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n")
	b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return testMail{id: id, to: to, subject: "attachment " + id,
		mime: "Content-Type: multipart/mixed; boundary=\"b1\"\r\n", body: b.String()}
}

func utf8Mail(id, to string) testMail {
	return testMail{id: id, to: to, subject: "8bit " + id,
		mime: "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
		body: "Grüße aus Köln, ½ kg Äpfel für 3 €.\r\nЗдравствуйте. 日本語のメール ✓\r\n"}
}

// envelopeSender sends every test message, so bounces come back to the
// same mailbox (one user: each login costs an argon2id verification).
const envelopeSender = "ann@example.com"

// checkMail finds m in a mailbox by Message-ID and compares its body.
func checkMail(t *testing.T, bodies map[imap.UID]string, m testMail) {
	t.Helper()
	for _, stored := range bodies {
		head, body, _ := strings.Cut(stored, "\r\n\r\n")
		if !strings.Contains(head, "\r\nMessage-ID: <"+m.id+"@test>\r\n") {
			continue
		}
		if !strings.HasPrefix(head, "Return-Path: <"+envelopeSender+">\r\nDelivered-To: ") {
			t.Errorf("%s: no Return-Path/Delivered-To from sealpost:\n%s", m.id, head)
		}
		if !strings.Contains(head, "\r\nSubject: "+m.subject+"\r\n") {
			t.Errorf("%s: subject lost:\n%s", m.id, head)
		}
		if body != m.body {
			t.Errorf("%s: body differs (%d bytes stored, %d sent)\nstored: %.300q\nsent:   %.300q\nstored tail %q", m.id, len(body), len(m.body), body, m.body, body[max(0, len(body)-20):])
		}
		return
	}
	t.Errorf("%s (to %s) not in the mailbox (%d messages)", m.id, m.to, len(bodies))
}

// checkBounce finds Postfix's non-delivery report for rcpt: a DSN with
// status 5.1.1 (RFC 3464).
func checkBounce(t *testing.T, bodies map[imap.UID]string, rcpt string) string {
	t.Helper()
	for _, stored := range bodies {
		if strings.Contains(stored, "Content-Type: message/delivery-status") && strings.Contains(stored, "Final-Recipient: rfc822; "+rcpt) {
			if !strings.Contains(stored, "Status: 5.1.1") || !strings.Contains(stored, "Action: failed") {
				t.Errorf("bounce for %s without Status 5.1.1:\n%s", rcpt, stored)
			}
			return stored
		}
	}
	t.Errorf("no bounce for %s among %d messages", rcpt, len(bodies))
	return ""
}

// checkSocketSetup asserts the documented permissions: a 0700 data dir,
// and a 0660 socket of group postfix in a setgid 2750 directory.
func checkSocketSetup(t *testing.T, lab *postfixLab) {
	t.Helper()
	pf, _ := user.LookupGroup("postfix")
	pfGID, _ := strconv.Atoi(pf.Gid)
	for _, c := range []struct {
		path string
		mode fs.FileMode
		gid  int
	}{
		{lab.sp.Data, fs.ModeDir | 0o700, -1},
		{filepath.Dir(lab.sp.Socket), fs.ModeDir | fs.ModeSetgid | 0o750, pfGID},
		{lab.sp.Socket, fs.ModeSocket | 0o660, pfGID},
	} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
		if gid := int(fi.Sys().(*syscall.Stat_t).Gid); c.gid >= 0 && gid != c.gid {
			t.Errorf("%s: gid %d, want postfix (%d)", c.path, gid, c.gid)
		}
	}
	if strings.Contains(lab.sp.Log(), "cannot reach") {
		t.Errorf("sealpost warned about the socket:\n%s", lab.sp.Log())
	}
	if strings.Contains(lab.log(), "Permission denied") {
		t.Errorf("Postfix was denied access:\n%s", lab.log())
	}
}

// Sealpost is down: Postfix must keep the message deferred (not bounce
// it), and deliver it after a restart and `postqueue -f`.
func deferUntilRestart(t *testing.T, lab *postfixLab, m testMail, wantReason string) {
	t.Helper()
	lab.sp.Stop()
	lab.send(envelopeSender, m.to, m.String())
	if reason := lab.waitDeferred(m.to); !strings.Contains(reason, wantReason) {
		t.Errorf("deferred for %q, want %q", reason, wantReason)
	}
	time.Sleep(1200 * time.Millisecond) // a queue run (queue_run_delay = 1s) must leave it alone
	if _, ok := lab.deferred(m.to); !ok {
		t.Fatalf("message left the deferred queue while sealpost was down: %+v\n%s", lab.mailq(), lab.log())
	}
	lab.startSealpost()
	lab.flush()
	lab.waitQueueEmpty()
}

func TestPostfixLMTP(t *testing.T) {
	t.Parallel()
	lab := newPostfixLab(t, recipeMainLMTP)
	lab.sp.AddUser("ann", "ann-password")
	mails := []testMail{
		plainMail("lmtp-plain", "ann@example.com"),
		attachmentMail("lmtp-5mb", "ann@example.com", 5<<20),
		utf8Mail("lmtp-8bit", "ann@example.com"),
		plainMail("lmtp-tag", "ann+lists@example.com"),
	}
	for _, m := range mails {
		lab.send(envelopeSender, m.to, m.String())
	}
	lab.send(envelopeSender, "ghost@example.com", plainMail("lmtp-ghost", "ghost@example.com").String())
	lab.waitQueueEmpty() // delivered or bounced, nothing deferred
	if !strings.Contains(lab.log(), "to=<ghost@example.com>, relay=mx.example.test[sealpost/lmtp.sock]") ||
		!strings.Contains(lab.log(), "dsn=5.1.1, status=bounced") {
		t.Errorf("Postfix did not log a 5.1.1 bounce from sealpost for ghost:\n%s", lab.log())
	}

	late := plainMail("lmtp-late", "ann@example.com")
	deferUntilRestart(t, lab, late, "sealpost/lmtp.sock")
	mails = append(mails, late)

	bodies := Bodies(t, lab.sp.LoginIMAPS(t, "ann", "ann-password"), "INBOX")
	if len(bodies) != len(mails)+1 {
		t.Errorf("ann's INBOX has %d messages, want %d and a bounce", len(bodies), len(mails))
	}
	for _, m := range mails {
		checkMail(t, bodies, m)
	}
	checkBounce(t, bodies, "ghost@example.com")
	checkSocketSetup(t, lab)
}

// The pipe(8) path: Postfix runs `sealpost deliver` as the sealpost user,
// for a virtual domain and, through local(8)'s mailbox_transport, for a
// local recipient; exit 75 (sealpost down) defers, 67 bounces.
func TestPostfixPipe(t *testing.T) {
	t.Parallel()
	lab := newPostfixLab(t, recipeMainPipe)
	lab.sp.AddUser("ann", "ann-password")
	mails := []testMail{
		plainMail("pipe-virtual", "ann@example.com"),
		utf8Mail("pipe-8bit", "ann@example.com"),
		plainMail("pipe-tag", "ann+lists@example.com"),
		plainMail("pipe-local", "ann@localhost"),
	}
	for _, m := range mails {
		lab.send(envelopeSender, m.to, m.String())
	}
	lab.send(envelopeSender, "ghost@example.com", plainMail("pipe-ghost", "ghost@example.com").String())
	lab.waitQueueEmpty()

	late := plainMail("pipe-late", "ann@example.com")
	deferUntilRestart(t, lab, late, "temporary failure")
	mails = append(mails, late)

	bodies := Bodies(t, lab.sp.LoginIMAPS(t, "ann", "ann-password"), "INBOX")
	if len(bodies) != len(mails)+1 {
		t.Errorf("ann's INBOX has %d messages, want %d and a bounce", len(bodies), len(mails))
	}
	for _, m := range mails {
		checkMail(t, bodies, m)
	}
	// null_sender= makes a bounce's empty sender reach sealpost as <>.
	if bounce := checkBounce(t, bodies, "ghost@example.com"); bounce != "" && !strings.HasPrefix(bounce, "Return-Path: <>\r\n") {
		t.Errorf("bounce delivered without Return-Path <>:\n%.300s", bounce)
	}
	checkSocketSetup(t, lab)
}

// The README shows exactly the lines these tests run with.
func TestPostfixREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(readme), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, recipe := range []string{recipeDataDir, recipeSocketDir, recipeTOML, recipeMainLMTP, recipeMainPipe, recipeMasterPipe} {
		for _, l := range strings.Split(recipe, "\n") {
			if l = strings.TrimSpace(l); l != "" && !lines[l] {
				t.Errorf("README.md lacks the tested line %q", l)
			}
		}
	}
}

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sealpost/mailstore/lmtp"
)

// Helpers for ops_test.go: mailbox views as IMAP or Dovecot shows them,
// doveadm as an independent reader and writer of Maildir and mbox, and
// the admin CLI.

// sealpost runs the binary with stdin and returns its combined output.
func sealpost(t testing.TB, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// mustSealpost runs the binary and fails the test unless it exits 0.
func mustSealpost(t testing.TB, args ...string) string {
	t.Helper()
	out, code := sealpost(t, "", args...)
	if code != 0 {
		t.Fatalf("sealpost %s: exit %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// viewMsg is what a user sees of a message: flags (sorted, without
// \Recent), internal date and body with LF line ends.
type viewMsg struct {
	Flags string
	Date  time.Time
	Body  string
}

func (m viewMsg) String() string {
	subj := ""
	for _, l := range strings.Split(m.Body, "\n") {
		if strings.HasPrefix(l, "Subject:") {
			subj = l
			break
		}
	}
	return fmt.Sprintf("{%s [%s] %s (%d bytes)}", subj, m.Flags, m.Date.UTC().Format(time.DateTime), len(m.Body))
}

// view is a user's mail: mailbox → messages in UID order. Empty
// mailboxes are left out.
type view map[string][]viewMsg

func normFlags(flags []string) string {
	var out []string
	for _, f := range flags {
		if f != "" && !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// imapView reads every mailbox over IMAP.
func imapView(t testing.TB, c *imapclient.Client) view {
	t.Helper()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	v := view{}
	for _, b := range boxes {
		if slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		sel, err := c.Select(b.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("select %s: %v", b.Mailbox, err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		sec := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{sec},
		}).Collect()
		if err != nil {
			t.Fatalf("fetch %s: %v", b.Mailbox, err)
		}
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
		for _, m := range msgs {
			var fl []string
			for _, f := range m.Flags {
				fl = append(fl, string(f))
			}
			v[b.Mailbox] = append(v[b.Mailbox], viewMsg{Flags: normFlags(fl), Date: m.InternalDate, Body: lf(string(m.FindBodySection(sec)))})
		}
	}
	return v
}

// compareViews reports every difference between two views.
func compareViews(t testing.TB, what string, got, want view) {
	t.Helper()
	for box, wm := range want {
		gm := got[box]
		if len(gm) != len(wm) {
			t.Errorf("%s: %s has %d messages, want %d:\ngot  %v\nwant %v", what, box, len(gm), len(wm), gm, wm)
			continue
		}
		for i := range wm {
			g, w := gm[i], wm[i]
			if g.Flags != w.Flags || !g.Date.Equal(w.Date) || g.Body != w.Body {
				t.Errorf("%s: %s message %d:\ngot  %v\nwant %v", what, box, i+1, g, w)
				if g.Body != w.Body {
					t.Logf("got body:\n%q\nwant body:\n%q", g.Body, w.Body)
				}
			}
		}
	}
	for box, gm := range got {
		if _, ok := want[box]; !ok {
			t.Errorf("%s: unexpected mailbox %s with %v", what, box, gm)
		}
	}
}

// doveadm runs Dovecot's admin tool on a mail location without a running
// Dovecot: the independent reader and writer of Maildir and mbox here.
type doveadm struct {
	t    testing.TB
	conf string
	home string
	uid  int
}

// newDoveadm prepares a config in a private directory; mail written
// through it belongs to an unprivileged uid (Dovecot refuses root).
func newDoveadm(t testing.TB) *doveadm {
	t.Helper()
	needTool(t, "doveadm")
	// Not t.TempDir: its parent is mode 0700, and Dovecot runs as the mail uid.
	dir, err := os.MkdirTemp("", "sealpost-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	d := &doveadm{t: t, conf: filepath.Join(dir, "dovecot.conf"), home: filepath.Join(dir, "home"), uid: os.Getuid()}
	if d.uid == 0 {
		d.uid = 65534
	}
	for _, sub := range []string{"run", "state", "home"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = no
first_valid_uid = %[2]d
first_valid_gid = %[2]d
mail_uid = %[2]d
mail_gid = %[2]d
namespace inbox {
  inbox = yes
  separator = /
}
`, dir, d.uid)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.own(d.home)
	return d
}

// own hands a tree to the mail uid so Dovecot can read and write it.
func (d *doveadm) own(path string) {
	d.t.Helper()
	if os.Getuid() != 0 {
		return
	}
	filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, d.uid, d.uid)
		}
		return err
	})
}

// run runs doveadm on a mail location (e.g. "maildir:/x/Maildir").
func (d *doveadm) run(location, stdin string, args ...string) string {
	d.t.Helper()
	full := append([]string{"-c", d.conf, "-o", "mail_location=" + location}, args...)
	cmd := exec.Command("doveadm", full...)
	cmd.Env = append(os.Environ(), "USER=sealtest", "HOME="+d.home)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("doveadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// view reads a mail location as Dovecot sees it.
func (d *doveadm) view(location string) view {
	d.t.Helper()
	out := d.run(location, "", "-f", "json", "fetch", "mailbox uid flags date.received text", "all")
	var recs []map[string]string
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		d.t.Fatalf("doveadm fetch output: %v\n%s", err, out)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		a, _ := strconv.Atoi(recs[i]["uid"])
		b, _ := strconv.Atoi(recs[j]["uid"])
		return recs[i]["mailbox"] < recs[j]["mailbox"] || recs[i]["mailbox"] == recs[j]["mailbox"] && a < b
	})
	v := view{}
	for _, r := range recs {
		date, err := time.ParseInLocation(time.DateTime, r["date.received"], time.Local)
		if err != nil {
			d.t.Fatalf("date %q: %v", r["date.received"], err)
		}
		v[r["mailbox"]] = append(v[r["mailbox"]], viewMsg{Flags: normFlags(strings.Fields(r["flags"])), Date: date, Body: lf(r["text"])})
	}
	return v
}

// dovecotMail builds a Dovecot-written Maildir: an mbox tree with dates
// and flags converted by "doveadm import", then keywords, a folder with a
// non-ASCII name and a nested folder added with doveadm itself.
func dovecotMail(t testing.TB, d *doveadm) (maildir string) {
	t.Helper()
	src := filepath.Join(d.home, "src")
	os.MkdirAll(src, 0o755)
	inbox := "From alice@example.org Mon Jan  5 09:01:02 2026\nFrom: Alice <alice@example.org>\nSubject: read and answered\nStatus: RO\nX-Status: A\n\nbody one\n\n" +
		"From bob@example.org Tue Feb 10 10:11:12 2026\nFrom: bob@example.org\nSubject: unread, with From lines\n\nbody two\n>From quoted\nFrom the body, not a separator\n\n" +
		"From carol@example.org Wed Mar 11 12:13:14 2026\nFrom: carol@example.org\nSubject: flagged draft\nStatus: RO\nX-Status: FT\n\nthree\n\n"
	sent := "From ann@example.com Thu Apr  2 03:04:05 2026\nFrom: ann@example.com\nSubject: sent\nStatus: RO\n\nsent body\n\n"
	os.WriteFile(filepath.Join(src, "inbox"), []byte(inbox), 0o644)
	os.WriteFile(filepath.Join(src, "Sent"), []byte(sent), 0o644)
	d.own(src)
	maildir = filepath.Join(d.home, "Maildir")
	loc := "maildir:" + maildir
	d.run(loc, "", "import", "-s", "mbox:"+src+":INBOX="+filepath.Join(src, "inbox"), "", "all")
	d.run(loc, "", "flags", "add", "$Forwarded $label1 Work", "mailbox", "INBOX", "uid", "2")
	d.run(loc, "", "flags", "add", `\Deleted`, "mailbox", "Sent", "all")
	d.run(loc, "", "mailbox", "create", "Entwürfe", "Work/Projects", "Empty")
	d.run(loc, "Subject: Entwurf\nFrom: ann@example.com\n\nGrüße\n", "save", "-m", "Entwürfe")
	d.run(loc, "Subject: project\nFrom: ann@example.com\n\nplan\n", "save", "-m", "Work/Projects")
	d.run(loc, "", "flags", "add", `\Seen Work`, "mailbox", "Work/Projects", "all")
	return maildir
}

// lmtpDeliver delivers one message with the product's LMTP client.
func lmtpDeliver(ctx context.Context, network, addr, rcpt, body string) error {
	return lmtp.DeliverOne(ctx, network, addr, "sender@example.org", rcpt, strings.NewReader(body))
}

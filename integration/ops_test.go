package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Administration and migration on the real binary: import, export,
// backup/restore, mailbox admin, stats, check-config, user import, the
// systemd unit; each admin command both with serve running (control
// socket) and stopped (direct store access).

// Moving in from Dovecot and out again, with doveadm as the independent
// reader and writer: a Maildir written by Dovecot is imported and IMAP
// shows what Dovecot shows (flags, keywords, received dates, bodies,
// folders); the export is read by Dovecot and again matches; a
// Dovecot-written mbox tree imports to the same view.
func TestMigrateFromDovecot(t *testing.T) {
	d := newDoveadm(t)
	maildir := dovecotMail(t, d)
	want := d.view("maildir:" + maildir)
	if len(want["INBOX"]) != 3 || len(want["Entwürfe"]) != 1 || len(want["Work/Projects"]) != 1 {
		t.Fatalf("Dovecot fixture: %v", want)
	}

	s := Start(t, Config{})
	s.AddUser("ann", "ann-pw")
	s.AddUser("bob", "bob-pw")
	out := mustSealpost(t, "import", "ann", "maildir", maildir, "--data", s.Data)
	if !strings.Contains(out, "imported 6 messages") {
		t.Fatalf("import: %s", out)
	}
	ann := s.LoginIMAPS(t, "ann", "ann-pw")
	compareViews(t, "Dovecot Maildir imported, seen over IMAP", imapView(t, ann), want)
	boxes, err := ann.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	subscribed := map[string]bool{}
	for _, b := range boxes {
		subscribed[b.Mailbox] = true
	}
	for _, b := range []string{"Empty", "Entwürfe", "Work/Projects"} {
		if !subscribed[b] {
			t.Errorf("imported folder %s missing or not subscribed: %v", b, subscribed)
		}
	}

	// Out again, with the server running: Dovecot reads the export.
	export := filepath.Join(d.home, "Exported")
	out = mustSealpost(t, "export", "ann", "all", "--format", "maildir", export, "--data", s.Data)
	if !strings.Contains(out, "exported 6 messages") {
		t.Fatalf("export: %s", out)
	}
	d.own(export)
	compareViews(t, "sealpost's Maildir export read by Dovecot", d.view("maildir:"+export), want)

	// Dovecot converts its Maildir to an mbox tree (Content-Length,
	// X-UID, X-Keywords, unquoted From lines), which imports for bob.
	mboxDir := filepath.Join(d.home, "mail")
	os.MkdirAll(mboxDir, 0o755)
	d.own(mboxDir)
	d.run("mbox:"+mboxDir+":INBOX="+filepath.Join(mboxDir, "inbox"), "", "import", "-s", "maildir:"+maildir, "", "all")
	raw, _ := os.ReadFile(filepath.Join(mboxDir, "inbox"))
	if !strings.Contains(string(raw), "Content-Length:") || !strings.Contains(string(raw), "X-Keywords:") {
		t.Fatalf("Dovecot's mbox lacks the headers this test is about:\n%s", raw)
	}
	s.Stop() // this import goes straight to the store
	out = mustSealpost(t, "import", "bob", "mbox", mboxDir, "--data", s.Data)
	if !strings.Contains(out, "imported 6 messages") {
		t.Fatalf("mbox import: %s", out)
	}
	s.start()
	compareViews(t, "Dovecot mbox imported, seen over IMAP", imapView(t, s.LoginIMAPS(t, "bob", "bob-pw")), want)
}

// A tree built by hand covers what Dovecot does not write: Maildir++
// names with dots and escapes, LAYOUT=fs folders, new/ without info,
// P (passed), CRLF files, a 2 MB message, mboxrd quoting. Each round trip
// (maildir export → import, mbox export → import) must give the same
// IMAP view as the first import, with the server running and stopped.
func TestImportExportRoundTrip(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	t0 := time.Date(2025, 7, 8, 9, 10, 11, 0, time.Local)
	big := "Subject: big\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n", 10000)
	files := []struct {
		path, body string
		date       time.Time
	}{
		{"dovecot-keywords", "0 $Junk\n1 Project-X\n", time.Time{}},
		{"cur/1000.a,S=10:2,RS", "Subject: answered\nFrom: a@example.org\n\nhi\nFrom here\n>From there\n", t0},
		{"cur/1001.b:2,Pab", "Subject: forwarded with keywords\n\nkw\n", t0.Add(time.Hour)},
		{"new/1002.c", "Subject: brand new\r\n\r\nCRLF body\r\n", t0.Add(2 * time.Hour)},
		{"cur/1003.d:2,FS", big, t0.Add(3 * time.Hour)},
		{".Lists.go-nuts/cur/1.x:2,S", "Subject: list\n\nlist mail\n", t0},
		{".Lists.go-nuts/maildirfolder", "", time.Time{}},
		{`.v2\2e0/cur/1.y:2,T`, "Subject: dotted folder\n\nx\n", t0},
		{"Archive/2024/cur/1.z:2,S", "Subject: fs layout\n\nold\n", t0.Add(-24 * time.Hour)},
		{".Empty/cur/.keep-dir", "", time.Time{}},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(f.body), 0o600)
		if !f.date.IsZero() {
			os.Chtimes(p, f.date, f.date)
		}
	}
	os.Remove(filepath.Join(root, ".Empty/cur/.keep-dir"))
	want := view{
		"INBOX": {
			{Flags: `\Answered \Seen`, Date: t0, Body: lf(files[1].body)},
			{Flags: `$Forwarded $Junk Project-X`, Date: t0.Add(time.Hour), Body: files[2].body},
			{Flags: "", Date: t0.Add(2 * time.Hour), Body: lf(files[3].body)},
			{Flags: `\Flagged \Seen`, Date: t0.Add(3 * time.Hour), Body: lf(big)},
		},
		"Lists/go-nuts": {{Flags: `\Seen`, Date: t0, Body: files[5].body}},
		"v2.0":          {{Flags: `\Deleted`, Date: t0, Body: files[7].body}},
		"Archive/2024":  {{Flags: `\Seen`, Date: t0.Add(-24 * time.Hour), Body: files[8].body}},
	}
	for _, mode := range []string{"running", "stopped"} {
		t.Run("serve "+mode, func(t *testing.T) {
			s := Start(t, Config{})
			for _, u := range []string{"ann", "bob", "carol"} {
				s.AddUser(u, u+"-pw")
			}
			if mode == "stopped" {
				s.Stop()
			}
			data := []string{"--data", s.Data}
			mustSealpost(t, append([]string{"import", "ann", "maildir", root}, data...)...)
			mdir, mbox := filepath.Join(t.TempDir(), "md"), filepath.Join(t.TempDir(), "mbox")
			mustSealpost(t, append([]string{"export", "ann", "all", "--format", "maildir", mdir}, data...)...)
			mustSealpost(t, append([]string{"export", "ann", "all", "--format", "mbox", mbox}, data...)...)
			if out, code := sealpost(t, "", append([]string{"export", "ann", "all", "--format", "mbox", mbox}, data...)...); code == 0 || !strings.Contains(out, "not empty") {
				t.Errorf("export into a non-empty directory: %d %s", code, out)
			}
			mustSealpost(t, append([]string{"import", "bob", "maildir", mdir}, data...)...)
			mustSealpost(t, append([]string{"import", "carol", "mbox", mbox}, data...)...)
			if mode == "stopped" {
				s.start()
			}
			compareViews(t, "imported", imapView(t, s.LoginIMAPS(t, "ann", "ann-pw")), want)
			compareViews(t, "maildir round trip", imapView(t, s.LoginIMAPS(t, "bob", "bob-pw")), want)
			compareViews(t, "mbox round trip", imapView(t, s.LoginIMAPS(t, "carol", "carol-pw")), want)

			// What other tools see in the files.
			if _, err := os.Stat(filepath.Join(mdir, `.v2\2e0`, "maildirfolder")); err != nil {
				t.Errorf("Maildir++ folder for v2.0: %v", err)
			}
			if _, err := os.Stat(filepath.Join(mdir, ".Empty", "cur")); err != nil {
				t.Errorf("empty folder not exported: %v", err)
			}
			kw, _ := os.ReadFile(filepath.Join(mdir, "dovecot-keywords"))
			if !strings.Contains(string(kw), "$Forwarded") || !strings.Contains(string(kw), "Project-X") {
				t.Errorf("dovecot-keywords: %q", kw)
			}
			inbox, _ := os.ReadFile(filepath.Join(mbox, "INBOX"))
			if !strings.HasPrefix(string(inbox), "From MAILER-DAEMON "+t0.Format(time.ANSIC)+"\n") ||
				!strings.Contains(string(inbox), "\n>From here\n>>From there\n") || !strings.Contains(string(inbox), "Status: RO\nX-Status: A\n") {
				t.Errorf("mbox export:\n%.400s", inbox)
			}
			if _, err := os.Stat(filepath.Join(mbox, "Lists.sbd", "go-nuts")); err != nil {
				t.Errorf("mbox tree: %v", err)
			}
		})
	}
}

// Problems in the source are reported per message and the rest goes in;
// the exit status says something failed.
func TestImportErrors(t *testing.T) {
	s := Start(t, Config{Extra: []string{}})
	s.AddUser("ann", "ann-pw")
	dir := t.TempDir()
	mbox := filepath.Join(dir, "in.mbox")
	os.WriteFile(mbox, []byte("From a Mon Jan  5 09:01:02 2026\nSubject: fine\n\nok\n\nFrom b Mon Jan  5 09:01:03 2026\nSubject: also fine\n\nok\n"), 0o600)
	out := mustSealpost(t, "import", "ann", "mbox", mbox, "--mailbox", "Lists/old", "--data", s.Data)
	if !strings.Contains(out, "imported 2 messages") {
		t.Fatal(out)
	}
	notMbox := filepath.Join(dir, "notes.txt")
	os.WriteFile(notMbox, []byte("Subject: x\n\nnot an mbox\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "ann", "mbox", notMbox}, "does not start with a \"From \" line"},
		{[]string{"import", "ann", "maildir", dir}, "no maildir"},
		{[]string{"import", "nobody", "mbox", mbox}, "no such user"},
		{[]string{"import", "ann", "mbox", mbox, "--mailbox", "bad//name"}, "invalid name"},
	} {
		out, code := sealpost(t, "", append(c.args, "--data", s.Data)...)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want 1 and %q:\n%s", c.args, code, c.want, out)
		}
	}
	c := s.LoginIMAPS(t, "ann", "ann-pw")
	if n := len(Bodies(t, c, "Lists/old")); n != 2 {
		t.Errorf("Lists/old has %d messages", n)
	}
}

// The backup is made while four clients deliver over LMTP and another one
// expunges over IMAP. Every message acknowledged before the backup started
// is in the restored store byte for byte, the store is consistent, and a
// server starts on it. Then an offline backup of the stopped server
// restores to exactly what it had.
func TestBackupRestoreUnderLoad(t *testing.T) {
	s := Start(t, Config{})
	for _, u := range []string{"ann", "bob", "carol"} {
		s.AddUser(u, u+"-pw")
	}
	// carol's old mail is expunged while the backup runs.
	for i := 0; i < 40; i++ {
		if err := deliverTCP(context.Background(), s.LMTP, "carol@example.com", testMessage(fmt.Sprintf("carol-%d", i), strings.Repeat("old mail\r\n", 200))); err != nil {
			t.Fatal(err)
		}
	}
	carolBefore := bodiesByID(t, Bodies(t, s.LoginIMAPS(t, "carol", "carol-pw"), "INBOX"))

	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"ann", "bob"}[w%2]
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%s-w%d-%d", user, w, i)
				body := testMessage(id, strings.Repeat(id+" load line\r\n", 1+rand.IntN(300)))
				dctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := lmtpDeliverUnix(dctx, s.Socket, user+"@example.com", body)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("delivery %s: %v", id, err)
					}
					return
				}
				mu.Lock()
				acks = append(acks, ack{id, time.Now()})
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := s.LoginIMAPS(t, "carol", "carol-pw")
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Error(err)
			return
		}
		for uid := imap.UID(1); uid <= 40 && ctx.Err() == nil; uid++ {
			set := imap.UIDSetNum(uid)
			if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Error(err)
				return
			}
			if err := c.UIDExpunge(set).Close(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)

	backup := filepath.Join(t.TempDir(), "backup")
	started := time.Now()
	out := mustSealpost(t, "backup", backup, "--data", s.Data)
	finished := time.Now()
	// The live store checks out under the same load.
	if check := mustSealpost(t, "check", "--data", s.Data); !strings.Contains(check, "in the running server\nno problems found") {
		t.Errorf("check under load: %s", check)
	}
	stop()
	wg.Wait()
	var before, during int
	mu.Lock()
	must := map[string]bool{}
	for _, a := range acks {
		switch {
		case a.at.Before(started):
			before++
			must[a.id] = true
		case a.at.Before(finished):
			during++
		}
	}
	mu.Unlock()
	t.Logf("%s; %d deliveries acknowledged before the backup, %d during it", strings.TrimSpace(out), before, during)
	if before == 0 || during == 0 {
		t.Fatalf("no load around the backup: %d before, %d during", before, during)
	}
	live := map[string]string{}
	for _, u := range []string{"ann", "bob"} {
		for id, b := range bodiesByID(t, Bodies(t, s.LoginIMAPS(t, u, u+"-pw"), "INBOX")) {
			live[id] = b
		}
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, code := sealpost(t, "", "restore", backup, "--data", s.Data); code == 0 || !strings.Contains(out, "not empty") {
		t.Errorf("restore over the live data dir: exit %d: %s", code, out)
	}
	out = mustSealpost(t, "restore", backup, "--data", restored)
	if !strings.Contains(out, ": consistent") {
		t.Fatalf("restore: %s", out)
	}
	r := Start(t, Config{Data: restored})
	got := map[string]string{}
	for _, u := range []string{"ann", "bob"} {
		for id, b := range bodiesByID(t, Bodies(t, r.LoginIMAPS(t, u, u+"-pw"), "INBOX")) {
			got[id] = b
		}
	}
	for id := range must {
		if got[id] == "" {
			t.Errorf("message %s, acknowledged before the backup started, is not in it", id)
		} else if got[id] != live[id] {
			t.Errorf("message %s differs after restore", id)
		}
	}
	for id, b := range got {
		if live[id] != b {
			t.Errorf("restored message %s is not what the live server has", id)
		}
	}
	carolAfter := bodiesByID(t, Bodies(t, r.LoginIMAPS(t, "carol", "carol-pw"), "INBOX"))
	for id, b := range carolAfter {
		if carolBefore[id] != b {
			t.Errorf("carol's %s differs after restore", id)
		}
	}
	t.Logf("restored: %d of %d load messages (%d required), carol %d of 40", len(got), len(live), len(must), len(carolAfter))

	// Offline: with the server stopped the backup is exact.
	s.Stop()
	offline := filepath.Join(t.TempDir(), "offline")
	mustSealpost(t, "backup", offline, "--data", s.Data)
	restored2 := filepath.Join(t.TempDir(), "restored2")
	mustSealpost(t, "restore", offline, "--data", restored2)
	r2 := Start(t, Config{Data: restored2})
	got2 := map[string]string{}
	for _, u := range []string{"ann", "bob"} {
		for id, b := range bodiesByID(t, Bodies(t, r2.LoginIMAPS(t, u, u+"-pw"), "INBOX")) {
			got2[id] = b
		}
	}
	if len(got2) != len(live) {
		t.Errorf("offline backup restored %d messages, the server had %d", len(got2), len(live))
	}
	for id, b := range live {
		if got2[id] != b {
			t.Errorf("offline backup: %s missing or different", id)
		}
	}
}

// bodiesByID keys message bodies by their Message-ID.
func bodiesByID(t testing.TB, bodies map[imap.UID]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range bodies {
		id := messageID(b)
		if id == "" {
			t.Fatalf("message without Message-ID:\n%.300s", b)
		}
		out[id] = b
	}
	return out
}

func lmtpDeliverUnix(ctx context.Context, sock, rcpt, body string) error {
	return lmtpDeliver(ctx, "unix", sock, rcpt, body)
}

// Mailbox administration and stats, through the running server and on the
// stopped store, checked against what IMAP shows.
func TestMailboxAdminAndStats(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-pw")
	s.AddUser("bob", "bob-pw")
	for i := 0; i < 3; i++ {
		if err := deliverTCP(context.Background(), s.LMTP, "ann@example.com", testMessage(fmt.Sprintf("m%d", i), "hello")); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{"running", "stopped"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "stopped" {
				s.Stop()
			}
			data := []string{"--data", s.Data}
			box := "Projects/" + mode
			out := mustSealpost(t, append([]string{"mailbox", "create", "ann", box}, data...)...)
			if !strings.Contains(out, "created mailbox "+box) {
				t.Fatal(out)
			}
			mustSealpost(t, append([]string{"mailbox", "create", "ann", "Old " + mode, "--special-use", `\Archive`}, data...)...)
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"mailbox", "create", "ann", box}, "already exists"},
				{[]string{"mailbox", "create", "ann", "X", "--special-use", `\Important`}, "special-use"},
				{[]string{"mailbox", "delete", "ann", "INBOX"}, "INBOX"},
				{[]string{"mailbox", "delete", "ann", "Projects"}, "children"},
				{[]string{"mailbox", "delete", "ann", "Nope"}, "no such mailbox"},
				{[]string{"mailbox", "list", "nobody"}, "no such user"},
				{[]string{"mailbox", "frobnicate", "ann"}, "unknown subcommand"},
			} {
				out, code := sealpost(t, "", append(c.args, data...)...)
				if code == 0 || !strings.Contains(out, c.want) {
					t.Errorf("%v: exit %d, want failure with %q: %s", c.args, code, c.want, out)
				}
			}
			mbox := filepath.Join(t.TempDir(), "m")
			os.WriteFile(mbox, []byte("From a Mon Jan  5 09:01:02 2026\nSubject: x\n\ny\n"), 0o600)
			mustSealpost(t, append([]string{"import", "ann", "mbox", mbox, "--mailbox", box}, data...)...)
			if out, code := sealpost(t, "", append([]string{"mailbox", "delete", "ann", box}, data...)...); code != 1 || !strings.Contains(out, "has 1 messages; add --force") {
				t.Errorf("delete of a mailbox with mail: %d %s", code, out)
			}
			list := mustSealpost(t, append([]string{"mailbox", "list", "ann"}, data...)...)
			if !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(box)+`\s+1\s+1\s+\d+\s+yes$`).MatchString(list) ||
				!regexp.MustCompile(`(?m)^Old `+mode+`\s+0\s+0\s+0\s+\\Archive\s+yes$`).MatchString(list) {
				t.Errorf("mailbox list:\n%s", list)
			}
			if mode == "stopped" {
				s.start()
			}
			c := s.LoginIMAPS(t, "ann", "ann-pw")
			ld, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			attrs := map[string]*imap.ListData{}
			for _, l := range ld {
				attrs[l.Mailbox] = l
			}
			if !hasAttr(attrs[box], imap.MailboxAttrSubscribed) || !hasAttr(attrs["Old "+mode], imap.MailboxAttrArchive) {
				t.Errorf("IMAP LIST: %v", attrs)
			}

			// stats against IMAP STATUS of every mailbox of every user.
			var msgs, bytes int64
			mailboxes := 0
			for _, u := range []string{"ann", "bob"} {
				c := s.LoginIMAPS(t, u, u+"-pw")
				ld, err := c.List("", "*", nil).Collect()
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range ld {
					st, err := c.Status(l.Mailbox, &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
					if err != nil {
						t.Fatal(err)
					}
					mailboxes++
					msgs += int64(*st.NumMessages)
					bytes += *st.Size
				}
			}
			var st struct {
				Users, Mailboxes int
				Messages, Bytes  int64
			}
			if err := json.Unmarshal([]byte(mustSealpost(t, append([]string{"stats", "--json"}, data...)...)), &st); err != nil {
				t.Fatal(err)
			}
			if st.Users != 2 || st.Mailboxes != mailboxes || st.Messages != msgs || st.Bytes != bytes {
				t.Errorf("stats %+v, IMAP says %d mailboxes, %d messages, %d bytes", st, mailboxes, msgs, bytes)
			}
			text := mustSealpost(t, append([]string{"stats"}, data...)...)
			if !strings.Contains(text, fmt.Sprintf("messages   %d\n", msgs)) || !regexp.MustCompile(`(?m)^ann\s+\d+\s+\d+\s+\d+\s+unlimited$`).MatchString(text) {
				t.Errorf("stats:\n%s", text)
			}
			if mode == "running" {
				mustSealpost(t, append([]string{"mailbox", "delete", "ann", box, "--force"}, data...)...)
				if _, err := c.Select(box, nil).Wait(); err == nil {
					t.Errorf("%s still selectable after delete", box)
				}
			}
		})
	}
}

// Users from a Dovecot passwd-file log in over IMAP with their old
// passwords, imported while serve runs and while it is stopped.
func TestUserImportFromDovecot(t *testing.T) {
	// Hashes made by "doveadm pw -s SCHEME -p pw" (Dovecot 2.3.19).
	file := filepath.Join(t.TempDir(), "users")
	os.WriteFile(file, []byte(strings.Join([]string{
		"# passwd-file from Dovecot",
		"ann@example.com:{SHA512-CRYPT}$6$CP/D8P.wQBxeoesY$mc/anbLgLmdAsdaz.rn9M12BI8CkE1zy6Gzg.CFTZ3uBfZesmZC3DYAGuE6lAolojHJOiCFQn5IkQ0Scdf7.G1:5000:5000::/home/ann::userdb_quota_rule=*:storage=2G",
		"bob:{BLF-CRYPT}$2y$05$XAhfGZtd2yDVBhUeU1HzweAx4dtRFS/knCJr3MzS2KXw1dGvRBIv2::::::",
		"carol:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$XbQytsbQIsQLWb/MHo3lbw$5YSX3PhYkTHgIsUtBzceLtS98yKhu9FmIMms2iikfOE",
		"dave:{PLAIN}dave-secret",
		"eve:{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6",
	}, "\n")+"\n"), 0o600)
	s := Start(t, Config{})
	out, code := sealpost(t, "", "user", "import", file, "--data", s.Data)
	if code != 1 || !strings.Contains(out, "added 4 users, 0 existed, 1 failed") || !strings.Contains(out, "{CRAM-MD5} cannot be verified") {
		t.Fatalf("user import: exit %d\n%s", code, out)
	}
	for user, pw := range map[string]string{"ann": "pw", "bob": "pw", "carol": "pw", "dave": "dave-secret"} {
		s.LoginIMAPS(t, user, pw)
	}
	list := mustSealpost(t, "user", "list", "--data", s.Data)
	if !regexp.MustCompile(`(?m)^ann\s+2147483648\s`).MatchString(list) {
		t.Errorf("ann's quota from the passwd-file: %s", list)
	}
	s.Stop()
	file2 := filepath.Join(t.TempDir(), "more")
	os.WriteFile(file2, []byte("bob:{PLAIN}other\nfrank:{PLAIN}frank-pw\n"), 0o600)
	if out := mustSealpost(t, "user", "import", file2, "--data", s.Data); !strings.Contains(out, "bob: exists, left alone") || !strings.Contains(out, "added 1 users, 1 existed") {
		t.Errorf("second import: %s", out)
	}
	s.start()
	s.LoginIMAPS(t, "frank", "frank-pw")
	s.LoginIMAPS(t, "bob", "pw") // unchanged
}

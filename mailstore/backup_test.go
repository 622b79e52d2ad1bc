package mailstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fill gives a user messages in two mailboxes and returns body by subject.
func fill(t *testing.T, a *Account, n int) map[string]string {
	t.Helper()
	if err := a.CreateMailbox(ctx, "Work/Projects", ""); err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for i := 0; i < n; i++ {
		box := Inbox
		if i%3 == 0 {
			box = "Work/Projects"
		}
		subj := a.User().Name + "-" + box + "-" + string(rune('a'+i))
		lines := i + 1
		if i == 1 { // an INBOX message too big to be kept inline: a body file
			lines = DefaultInlineBodyMax/19 + 1
		}
		body := msg(subj, strings.Repeat("line of body text\r\n", lines))
		if _, err := a.Append(ctx, box, strings.NewReader(body), AppendOptions{Flags: []string{FlagSeen, "Work"}, InternalDate: time.Unix(1700000000+int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
		bodies[subj] = body
	}
	return bodies
}

// allBodies reads every message of an account: "mailbox subject flags" -> body.
func allBodies(t *testing.T, a *Account) map[string]string {
	t.Helper()
	out := map[string]string{}
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		err := a.Fetch(ctx, mb.ID, nil, FetchWant{Envelope: true}, func(m *MessageMeta) error {
			out[mb.Name+" "+m.Envelope.Subject+" "+strings.Join(m.Flags, ",")+" "+m.InternalDate.UTC().String()] = readBody(t, a, m.Message)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func backupTo(t *testing.T, s *Store, dir string, hook func(*BackupFile)) *BackupManifest {
	t.Helper()
	bd := &BackupDir{Dir: dir}
	m, err := s.Backup(ctx, func(f *BackupFile) error {
		if hook != nil {
			hook(f)
		}
		return bd.Put(f)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bd.Finish(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBackupRestore(t *testing.T) {
	s := openTest(t, "")
	ann, bob := newUser(t, s, "ann"), newUser(t, s, "bob")
	fill(t, ann, 7)
	fill(t, bob, 4)
	want := map[string]map[string]string{"ann": allBodies(t, ann), "bob": allBodies(t, bob)}
	os.MkdirAll(filepath.Join(s.Dir(), "tls"), 0o700)
	os.WriteFile(filepath.Join(s.Dir(), "tls", "cert.pem"), []byte("CERT"), 0o600)

	dir := filepath.Join(t.TempDir(), "backup")
	m := backupTo(t, s, dir, nil)
	if m.Users != 2 || m.Messages != 11 || len(m.Problems) != 0 || len(m.Skipped) != 0 {
		t.Fatalf("manifest %+v", m)
	}
	if err := (&BackupDir{Dir: dir}).Put(&BackupFile{Path: "x"}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("second backup into the same dir: %v", err)
	}
	data := filepath.Join(t.TempDir(), "restored")
	m2, rep, err := Restore(ctx, dir, data)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Messages != 11 || rep.Users != 2 || m2.Messages != 11 {
		t.Fatalf("check after restore: %+v", rep)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "tls", "cert.pem")); string(b) != "CERT" {
		t.Errorf("generated certificate not restored: %q", b)
	}
	r := openTest(t, data)
	for _, name := range []string{"ann", "bob"} {
		a, err := r.Account(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		got := allBodies(t, a)
		if len(got) != len(want[name]) {
			t.Fatalf("%s: %d messages restored, want %d", name, len(got), len(want[name]))
		}
		for k, v := range want[name] {
			if got[k] != v {
				t.Errorf("%s: %s differs after restore", name, k)
			}
		}
	}
	if _, err := r.Authenticate(ctx, "ann", "pw-ann"); err != nil {
		t.Errorf("password lost in restore: %v", err)
	}
	if _, _, err := Restore(ctx, dir, data); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("restore into a non-empty dir: %v", err)
	}
	if _, _, err := Restore(ctx, t.TempDir(), filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "not a sealpost backup") {
		t.Errorf("restore of a non-backup: %v", err)
	}
}

// An expunge committed while the backup copies an account must not remove
// body files the backup's snapshot still references; they go once the
// backup is done.
func TestBackupHoldsRemovals(t *testing.T) {
	s := openTest(t, "")
	ann := newUser(t, s, "ann")
	fill(t, ann, 5)
	want := allBodies(t, ann)
	inbox, _ := ann.Mailbox(ctx, Inbox)
	snap, _ := ann.Snapshot(ctx, inbox.ID)
	var blobs []string
	ann.Fetch(ctx, inbox.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		if !isInline(m.Blob) {
			blobs = append(blobs, ann.blobPath(m.Blob))
		}
		return nil
	})
	if len(blobs) == 0 {
		t.Fatal("no body file to hold")
	}
	expunged := false
	dir := filepath.Join(t.TempDir(), "b")
	m := backupTo(t, s, dir, func(f *BackupFile) {
		if !strings.Contains(f.Path, "/blobs/") || expunged {
			return
		}
		expunged = true
		if _, err := ann.ChangeFlags(ctx, inbox.ID, snap.UIDs, FlagsAdd, []string{FlagDeleted}); err != nil {
			t.Error(err)
		}
		if gone, err := ann.Expunge(ctx, inbox.ID, nil); err != nil || len(gone) != len(snap.UIDs) {
			t.Errorf("expunge: %v %v", gone, err)
		}
		if err := ann.DeleteMailbox(ctx, "Work/Projects"); err != nil {
			t.Error(err)
		}
		for _, b := range blobs {
			if _, err := os.Stat(b); err != nil {
				t.Errorf("body file removed during the backup: %v", err)
			}
		}
	})
	if len(m.Problems) != 0 || m.Messages != 5 {
		t.Fatalf("manifest %+v", m)
	}
	for _, b := range blobs {
		if _, err := os.Stat(b); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("body file of an expunged message still there after the backup: %v", err)
		}
	}
	data := filepath.Join(t.TempDir(), "restored")
	if _, rep, err := Restore(ctx, dir, data); err != nil || !rep.OK() {
		t.Fatalf("restore: %v %+v", err, rep)
	}
	r := openTest(t, data)
	a, _ := r.Account(ctx, "ann")
	got := allBodies(t, a)
	if len(got) != len(want) {
		t.Fatalf("restored %d messages, want the %d of the snapshot", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs", k)
		}
	}
}

// A user deleted while the backup runs is listed as skipped, and Restore
// leaves them out.
func TestBackupUserDeletedMeanwhile(t *testing.T) {
	s := openTest(t, "")
	fill(t, newUser(t, s, "ann"), 2)
	fill(t, newUser(t, s, "bob"), 2)
	done := make(chan error, 1)
	dir := filepath.Join(t.TempDir(), "b")
	m := backupTo(t, s, dir, func(f *BackupFile) {
		switch {
		case f.Path == "global.db":
			go func() { done <- s.DeleteUser(ctx, "bob") }()
		case strings.HasSuffix(f.Path, "mail.db") && strings.HasPrefix(f.Path, "users/1/"):
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	if len(m.Skipped) != 1 || m.Skipped[0] != "bob" || m.Messages != 2 {
		t.Fatalf("manifest %+v", m)
	}
	data := filepath.Join(t.TempDir(), "restored")
	_, rep, err := Restore(ctx, dir, data)
	if err != nil || !rep.OK() || rep.Users != 1 {
		t.Fatalf("restore: %v %+v", err, rep)
	}
	r := openTest(t, data)
	if _, err := r.LookupUser(ctx, "bob"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("deleted user restored: %v", err)
	}
}

func TestCheckFindsDamage(t *testing.T) {
	s := openTest(t, "")
	ann := newUser(t, s, "ann")
	fill(t, ann, 3)
	rep, err := s.CheckLive(ctx)
	if err != nil || !rep.OK() || rep.Messages != 3 || rep.Mailboxes != len(DefaultMailboxes)+2 {
		t.Fatalf("healthy store: %v %+v", err, rep)
	}
	inbox, _ := ann.Mailbox(ctx, Inbox)
	var file, inline string
	ann.Fetch(ctx, inbox.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		if isInline(m.Blob) {
			inline = m.Blob
		} else {
			file = ann.blobPath(m.Blob)
		}
		return nil
	})
	os.Remove(file)
	err = ann.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktBodies).Put([]byte(inline), []byte("short")) })
	if err != nil {
		t.Fatal(err)
	}
	rep, err = s.CheckLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range rep.Problems {
		lines = append(lines, p.String())
	}
	text := strings.Join(lines, "\n")
	if len(rep.Problems) != 2 || !strings.Contains(text, "body file missing") || !strings.Contains(text, "inline body "+inline+" has 5 bytes") {
		t.Fatalf("problems: %q", rep.Problems)
	}
}

func TestStats(t *testing.T) {
	s := openTest(t, "")
	fill(t, newUser(t, s, "ann"), 4)
	newUser(t, s, "bob")
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	used, _, _ := func() (int64, int64, error) { a, _ := s.Account(ctx, "ann"); return a.Usage() }()
	if st.Users != 2 || st.Messages != 4 || st.Bytes != used || st.Mailboxes != 2*len(DefaultMailboxes)+2 {
		t.Fatalf("stats %+v (ann uses %d)", st, used)
	}
	if len(st.PerUser) != 2 || st.PerUser[0].Name != "ann" || st.PerUser[0].Messages != 4 || st.PerUser[1].Messages != 0 {
		t.Fatalf("per user %+v", st.PerUser)
	}
}

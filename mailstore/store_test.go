package mailstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore/auth"
)

var ctx = context.Background()

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Open(dir, Options{MaxMessageSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newUser(t testing.TB, s *Store, name string) *Account {
	t.Helper()
	if _, err := s.CreateUser(ctx, name, "pw-"+name, 0); err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func msg(subject, body string) string {
	return "From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@x>\r\n\r\n" + body + "\r\n"
}

func readBody(t *testing.T, a *Account, m Message) string {
	t.Helper()
	f, err := a.Open(m)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	// Sections are read with ReadAt: it must see the same bytes.
	if len(b) > 10 {
		p := make([]byte, 5)
		if _, err := f.ReadAt(p, 5); err != nil || string(p) != string(b[5:10]) {
			t.Fatalf("ReadAt: %q %v, want %q", p, err, b[5:10])
		}
	}
	return string(b)
}

func TestNewUserDefaults(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	boxes, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, b := range boxes {
		if !b.Subscribed {
			t.Errorf("%s not subscribed", b.Name)
		}
		got[b.Name] = b.SpecialUse
	}
	want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("mailboxes %v, want %v", got, want)
	}
	if _, err := s.CreateUser(ctx, "ANN", "x", 0); !errors.Is(err, ErrUserExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	for _, bad := range []string{"", "a b", "../x", "-x", strings.Repeat("a", 65), "ann\x00"} {
		if _, err := s.CreateUser(ctx, bad, "x", 0); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateUser(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	s := openTest(t, "")
	newUser(t, s, "ann")
	if _, err := s.Authenticate(ctx, "ann", "pw-ann"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "Ann", "pw-ann"); err != nil {
		t.Fatalf("user names are case-insensitive: %v", err)
	}
	for _, c := range [][2]string{{"ann", "wrong"}, {"ann", ""}, {"nobody", "pw-ann"}, {"bad name", "x"}} {
		if _, err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%q,%q) = %v, want ErrAuthFailed", c[0], c[1], err)
		}
	}
	if err := s.SetPassword(ctx, "ann", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "ann", "pw-ann"); !errors.Is(err, ErrAuthFailed) {
		t.Fatal("old password still works")
	}
	if _, err := s.Authenticate(ctx, "ann", "new"); err != nil {
		t.Fatal(err)
	}
}

// Hashes as Dovecot's passwd-files hold them (doveadm pw), password "secret".
func TestImportedHashes(t *testing.T) {
	s := openTest(t, "")
	bc, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	hashes := map[string]string{
		"crypt":  "{SHA512-CRYPT}$6$saltsaltsaltsalt$ph0yGsyjzqdeFaon7.gJZo8eAG5/rj9/JdzOu1Rl7dKzBYg3xgvl7T2VQ2Rt81bc5AXkdA54r0p8QvC1omD6R1",
		"crypt2": "$6$saltsaltsaltsalt$ph0yGsyjzqdeFaon7.gJZo8eAG5/rj9/JdzOu1Rl7dKzBYg3xgvl7T2VQ2Rt81bc5AXkdA54r0p8QvC1omD6R1",
		"bcrypt": "{BLF-CRYPT}" + string(bc),
	}
	for name, h := range hashes {
		if _, err := s.ImportUser(ctx, name, h, 0); err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
		if _, err := s.Authenticate(ctx, name, "secret"); err != nil {
			t.Errorf("%s: right password refused: %v", name, err)
		}
		if _, err := s.Authenticate(ctx, name, "Secret"); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: wrong password: %v", name, err)
		}
	}
	if _, err := s.ImportUser(ctx, "weird", "{PLAIN}secret", 0); err == nil {
		t.Error("a plaintext scheme was imported")
	}
}

func TestAppendFetchOpen(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	// Bare LF input is stored with CRLF so IMAP sizes are exact.
	raw := "Subject: hi\nFrom: a@b\n\nline1\nline2\n"
	res, err := a.Append(ctx, "inbox", strings.NewReader(raw), AppendOptions{Flags: []string{`\seen`, "$Label1", "$label1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(raw, "\n", "\r\n")
	if res.Message.UID != 1 || res.Message.Size != int64(len(want)) {
		t.Fatalf("result %+v", res)
	}
	if got := readBody(t, a, res.Message); got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if fl := res.Message.Flags; !slices.Equal(fl, []string{`\Seen`, "$Label1"}) {
		t.Fatalf("flags %v", fl)
	}
	var got []*MessageMeta
	err = a.Fetch(ctx, res.Mailbox, nil, FetchWant{Envelope: true, Structure: true}, func(m *MessageMeta) error {
		got = append(got, m)
		return nil
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("fetch: %v %d", err, len(got))
	}
	if got[0].Envelope == nil || got[0].Envelope.Subject != "hi" || got[0].Structure == nil || got[0].Structure.Type != "text" {
		t.Fatalf("meta %+v %+v", got[0].Envelope, got[0].Structure)
	}
	info, _ := a.Mailbox(ctx, "INBOX")
	if info.Messages != 1 || info.Unseen != 0 || info.UIDNext != 2 || info.Size != int64(len(want)) {
		t.Fatalf("info %+v", info)
	}
	if _, err := a.Append(ctx, "nope", strings.NewReader(raw), AppendOptions{}); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("append to missing mailbox: %v", err)
	}
	big := strings.Repeat("x", 2<<20)
	if _, err := a.Append(ctx, "INBOX", strings.NewReader(big), AppendOptions{}); !errors.Is(err, ErrTooBig) {
		t.Fatalf("oversize: %v", err)
	}
	if n := countFiles(t, filepath.Join(a.dir, "tmp")); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestConcurrentDeliveries(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	var events []Event
	var mu sync.Mutex
	stop := a.Watch(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	defer stop()
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.Deliver(ctx, "ann", strings.NewReader(msg(fmt.Sprintf("w%d-%d", w, i), "body")))
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := a.Mailbox(ctx, "INBOX")
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.UIDs) != workers*each || snap.UIDs[len(snap.UIDs)-1] != workers*each {
		t.Fatalf("%d messages, last UID %d", len(snap.UIDs), snap.UIDs[len(snap.UIDs)-1])
	}
	// Events arrive in commit order: strictly increasing sequence numbers
	// and UIDs.
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(events); i++ {
		if events[i].Seq() <= events[i-1].Seq() && events[i].Seq() != events[i-1].Seq() {
			t.Fatalf("events out of order at %d", i)
		}
		if events[i].(MessageAdded).Message.UID != events[i-1].(MessageAdded).Message.UID+1 {
			t.Fatalf("UIDs out of order at %d", i)
		}
	}
	if snap.Seq != events[len(events)-1].Seq() {
		t.Fatalf("snapshot seq %d, last event %d", snap.Seq, events[len(events)-1].Seq())
	}
}

func TestQuota(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	if err := s.SetQuota(ctx, "ann", 1000); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("a", 300)
	n := 0
	var err error
	for n < 10 {
		if _, err = s.Deliver(ctx, "ann", strings.NewReader(msg("q", body))); err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, ErrOverQuota) || n != 2 {
		t.Fatalf("delivered %d then %v, want 2 then ErrOverQuota", n, err)
	}
	used, quota, _ := a.Usage()
	if used > quota {
		t.Fatalf("used %d > quota %d", used, quota)
	}
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if _, err := a.Copy(ctx, inbox.ID, []UID{1, 2}, "Archive"); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("copy over quota: %v", err)
	}
	// Expunging frees space.
	a.ChangeFlags(ctx, inbox.ID, []UID{1}, FlagsAdd, []string{FlagDeleted})
	if _, err := a.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("q", body))); err != nil {
		t.Fatalf("after expunge: %v", err)
	}
}

func TestMalformedMIME(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	raw := "Subject: broken\r\nContent-Type: multipart/mixed; boundary=\"nowhere\"\r\n\r\nno parts here\r\n"
	res, err := a.Append(ctx, "INBOX", strings.NewReader(raw), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Fetch(ctx, res.Mailbox, []UID{res.Message.UID}, FetchWant{Structure: true}, func(m *MessageMeta) error {
		if m.Structure == nil || (m.Structure.Type == "multipart" && len(m.Structure.Children) == 0) {
			t.Fatalf("unsafe structure %+v", m.Structure)
		}
		return nil
	})
	if got := readBody(t, a, res.Message); got != raw {
		t.Fatal("malformed message not stored verbatim")
	}
}

func TestFlagsExpungeCopyMove(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	for i := range 5 {
		s.Deliver(ctx, "ann", strings.NewReader(msg(fmt.Sprint(i), "b")))
	}
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if inbox.Unseen != 5 {
		t.Fatalf("unseen %d", inbox.Unseen)
	}
	ms, err := a.ChangeFlags(ctx, inbox.ID, []UID{1, 2, 99}, FlagsAdd, []string{`\Seen`, "Work"})
	if err != nil || len(ms) != 2 || !ms[0].HasFlag("work") {
		t.Fatalf("set flags: %v %+v", err, ms)
	}
	ms, _ = a.ChangeFlags(ctx, inbox.ID, []UID{1}, FlagsRemove, []string{"WORK"})
	if ms[0].HasFlag("work") || !ms[0].HasFlag(`\seen`) {
		t.Fatalf("remove keyword: %v", ms[0].Flags)
	}
	ms, _ = a.ChangeFlags(ctx, inbox.ID, []UID{2}, FlagsReplace, []string{`\Flagged`})
	if !slices.Equal(ms[0].Flags, []string{`\Flagged`}) {
		t.Fatalf("replace: %v", ms[0].Flags)
	}
	// Changed tells apart the messages the call changed.
	ms, _ = a.ChangeFlags(ctx, inbox.ID, []UID{1, 2}, FlagsAdd, []string{`\Flagged`})
	if len(ms) != 2 || !ms[0].Changed || ms[1].Changed {
		t.Fatalf("changed: %+v", ms)
	}
	ms, _ = a.ChangeFlags(ctx, inbox.ID, []UID{1, 2}, FlagsRemove, []string{`\Flagged`})
	if !ms[0].Changed || !ms[1].Changed || ms[0].HasFlag(`\Flagged`) {
		t.Fatalf("changed after remove: %+v", ms)
	}
	inbox, _ = a.Mailbox(ctx, "INBOX")
	if inbox.Unseen != 4 {
		t.Fatalf("unseen after flags %d", inbox.Unseen)
	}

	cr, err := a.Copy(ctx, inbox.ID, []UID{1, 3}, "Archive")
	if err != nil || !slices.Equal(cr.DestUIDs, []UID{1, 2}) || !slices.Equal(cr.SrcUIDs, []UID{1, 3}) {
		t.Fatalf("copy %v %+v", err, cr)
	}
	mr, err := a.Move(ctx, inbox.ID, []UID{4, 5}, "Trash")
	if err != nil || !slices.Equal(mr.DestUIDs, []UID{1, 2}) {
		t.Fatalf("move %v %+v", err, mr)
	}
	snap, _ := a.Snapshot(ctx, inbox.ID)
	if !slices.Equal(snap.UIDs, []UID{1, 2, 3}) {
		t.Fatalf("inbox after move %v", snap.UIDs)
	}
	a.ChangeFlags(ctx, inbox.ID, []UID{1, 3}, FlagsAdd, []string{FlagDeleted})
	gone, err := a.Expunge(ctx, inbox.ID, []UID{3})
	if err != nil || !slices.Equal(gone, []UID{3}) {
		t.Fatalf("uid expunge %v %v", gone, err)
	}
	gone, _ = a.Expunge(ctx, inbox.ID, nil)
	if !slices.Equal(gone, []UID{1}) {
		t.Fatalf("expunge %v", gone)
	}
	// The copy in Archive still has its body (hard link, not shared name).
	arch, _ := a.Mailbox(ctx, "Archive")
	a.Fetch(ctx, arch.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		if !strings.Contains(readBody(t, a, m.Message), "Subject:") {
			t.Fatal("copied body lost")
		}
		return nil
	})
	used, _, _ := a.Usage()
	var sum int64
	for _, b := range must(a.Mailboxes(ctx)) {
		sum += b.Size
	}
	if used != sum {
		t.Fatalf("usage %d, mailboxes sum %d", used, sum)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestMailboxTree(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	if err := a.CreateMailbox(ctx, "Work/2026/Q1", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Work", "Work/2026"} {
		if _, err := a.Mailbox(ctx, n); err != nil {
			t.Fatalf("parent %s not created: %v", n, err)
		}
	}
	if err := a.DeleteMailbox(ctx, "Work"); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("delete with children: %v", err)
	}
	if err := a.RenameMailbox(ctx, "Work", "Jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mailbox(ctx, "Jobs/2026/Q1"); err != nil {
		t.Fatalf("child not renamed: %v", err)
	}
	if err := a.DeleteMailbox(ctx, "inbox"); !errors.Is(err, ErrInboxNotAllowed) {
		t.Fatalf("delete INBOX: %v", err)
	}
	for _, bad := range []string{"", "a//b", "/a", "a/", "../x", "a/../b", "a\x00b", "\xff", strings.Repeat("x", 600)} {
		if err := a.CreateMailbox(ctx, bad, ""); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateMailbox(%q) = %v", bad, err)
		}
	}
	if err := a.CreateMailbox(ctx, "x", `\All`); !errors.Is(err, ErrBadSpecialUse) {
		t.Errorf("special-use \\All: %v", err)
	}
	// RENAME INBOX moves its messages and leaves an empty INBOX that
	// continues the old one's UIDVALIDITY and UIDNEXT; the moved messages
	// get a new UIDVALIDITY. The event names the new INBOX.
	s.Deliver(ctx, "ann", strings.NewReader(msg("m", "b")))
	old, _ := a.Mailbox(ctx, "INBOX")
	evs := make(chan Event, 16)
	stop := a.Watch(func(e Event) { evs <- e })
	if err := a.RenameMailbox(ctx, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	stop()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	moved, _ := a.Mailbox(ctx, "Old")
	if inbox.Messages != 0 || moved.Messages != 1 || moved.ID != old.ID ||
		inbox.UIDValidity != old.UIDValidity || inbox.UIDNext != old.UIDNext || moved.UIDValidity == old.UIDValidity {
		t.Fatalf("after INBOX rename: before %+v, inbox %+v, old %+v", old, inbox, moved)
	}
	var renamed MailboxRenamed
	for len(evs) > 0 {
		if e, ok := (<-evs).(MailboxRenamed); ok {
			renamed = e
		}
	}
	if renamed.Mailbox != old.ID || renamed.NewInbox != inbox.ID || renamed.NewName != "Old" {
		t.Fatalf("rename event %+v", renamed)
	}
	if res, err := s.Deliver(ctx, "ann", strings.NewReader(msg("n", "b"))); err != nil || res.Message.UID != old.UIDNext {
		t.Fatalf("delivery to the new INBOX: %+v %v", res, err)
	}
	// Delete and recreate gives a new UIDVALIDITY.
	a.CreateMailbox(ctx, "tmp", "")
	v1, _ := a.Mailbox(ctx, "tmp")
	a.DeleteMailbox(ctx, "tmp")
	a.CreateMailbox(ctx, "tmp", "")
	v2, _ := a.Mailbox(ctx, "tmp")
	if v1.UIDValidity == v2.UIDValidity {
		t.Fatal("UIDVALIDITY reused")
	}
}

func TestPersistenceAndOrphans(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ann", "pw", 0); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Account(ctx, "ann")
	res, _ := a.Append(ctx, "INBOX", strings.NewReader(msg("p", "b")), AppendOptions{Flags: []string{"$Important"}, InternalDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)})
	blobs := filepath.Join(a.dir, "blobs")
	orphan := filepath.Join(blobs, "ab", "abcdef")
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	os.WriteFile(orphan, []byte("x"), 0o600)
	if _, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	s.Close()

	s = openTest(t, dir)
	a, err = s.Account(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan file not removed")
	}
	var got Message
	a.Fetch(ctx, res.Mailbox, nil, FetchWant{}, func(m *MessageMeta) error { got = m.Message; return nil })
	if got.UID != res.Message.UID || !got.HasFlag("$important") || !got.InternalDate.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("after restart %+v", got)
	}
	if !bytes.Contains([]byte(readBody(t, a, got)), []byte("Subject: p")) {
		t.Fatal("body lost")
	}
}

func TestDeleteUser(t *testing.T) {
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	s.Deliver(ctx, "ann", strings.NewReader(msg("x", "y")))
	dir := a.dir
	if err := s.DeleteUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("mail left behind")
	}
	if _, err := s.Deliver(ctx, "ann", strings.NewReader("x")); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("deliver to deleted user: %v", err)
	}
}

func TestRecordCodec(t *testing.T) {
	for _, internal := range []time.Time{
		time.Unix(100, 5).UTC(),
		time.Date(2024, 1, 1, 0, 30, 0, 0, zone(2*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, zone(-(9*3600 + 30*60))),
	} {
		r := record{bits: bitSeen | bitDraft, keywords: []string{"a", "$b"}, internal: internal, saved: time.Unix(200, 0).UTC(), size: 1234, modseq: 77, blob: "0011"}
		got, err := decodeRecord(r.encode())
		if err != nil || fmt.Sprint(got) != fmt.Sprint(r) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, got, r)
		}
		if _, off := got.internal.Zone(); off != func() int { _, o := internal.Zone(); return o }() {
			t.Errorf("zone offset %d lost", off)
		}
	}
	// A version 1 record (no zone) still reads, in UTC.
	v1 := []byte{recordV1, byte(bitSeen)}
	v1 = binary.AppendVarint(v1, time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC).UnixNano())
	v1 = binary.AppendVarint(v1, time.Unix(300, 0).UnixNano())
	v1 = binary.AppendUvarint(v1, 42)
	v1 = binary.AppendUvarint(v1, 7)
	v1 = appendString(v1, "blob")
	v1 = binary.AppendUvarint(v1, 1)
	v1 = appendString(v1, "$k")
	got, err := decodeRecord(v1)
	want := record{bits: bitSeen, keywords: []string{"$k"}, internal: time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC), saved: time.Unix(300, 0).UTC(), size: 42, modseq: 7, blob: "blob"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("version 1: %v\n%+v\n%+v", err, got, want)
	}
	// An APPEND's date keeps its zone; a delivery's is the server's.
	s := openTest(t, "")
	a := newUser(t, s, "ann")
	date := time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("", 2*3600))
	res, err := a.Append(ctx, "INBOX", strings.NewReader(msg("z", "b")), AppendOptions{InternalDate: date})
	if err != nil {
		t.Fatal(err)
	}
	var stored time.Time
	a.Fetch(ctx, res.Mailbox, []UID{res.Message.UID}, FetchWant{}, func(m *MessageMeta) error {
		stored = m.InternalDate
		return nil
	})
	if stored.Format(time.RFC3339) != "2024-01-01T00:30:00+02:00" {
		t.Errorf("stored internal date %v", stored)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := record{bits: bitSeen, keywords: []string{"k"}, size: 9, blob: "b"}
	f.Add(r.encode())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 15})
	r.internal = time.Date(2024, 1, 1, 0, 30, 0, 0, zone(-3600))
	f.Add(r.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		r2, err := decodeRecord(r.encode())
		if err != nil || fmt.Sprint(r2) != fmt.Sprint(r) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

// panicReader hands out n bytes, then panics, as a bug in a caller's
// reader (or in the parser) would.
type panicReader struct {
	r io.Reader
	n int
}

func (p *panicReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		panic("reader bug")
	}
	b = b[:min(len(b), p.n)]
	n, err := p.r.Read(b)
	p.n -= n
	return n, err
}

// A panic while a body is being written (the LMTP inlet recovers those and
// keeps serving) leaves neither a partial body file nor an open file.
func TestWriteBlobPanicCleansUp(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	a := newUser(t, s, "ann")
	blobs := filepath.Join(dir, "users")
	before := countFiles(t, blobs)
	for range 3 {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			big := strings.Repeat("line of text\r\n", 20000)
			a.Append(ctx, "INBOX", &panicReader{r: strings.NewReader(msg("s", big)), n: 100 << 10}, AppendOptions{})
		}()
	}
	if n := countFiles(t, blobs); n != before {
		t.Fatalf("%d files under users/ after the panics, want %d", n, before)
	}
	if _, err := a.Append(ctx, "INBOX", strings.NewReader(msg("ok", "fine")), AppendOptions{}); err != nil {
		t.Fatalf("append after the panics: %v", err)
	}
}

// A failed login takes as long as checking the costliest kind of hash in
// the store, so that neither an unknown user nor a user with a cheap hash
// answers faster than a user with an old, expensive one: timing tells no one which
// users exist. The old hash is argon2id with the parameters Sealpost used
// before (m=64 MiB, t=2, p=2), left in place until its user next logs in.
// Checked after an import and again after a reopen, where the floor comes
// from the stored hashes at the first failure.
func TestFailedLoginTimingFloor(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{AuthCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	newUser(t, s, "ann") // current argon2id
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("secret"), salt, 2, 64<<10, 2, 32)
	b64 := base64.RawStdEncoding.EncodeToString
	old := "$argon2id$v=19$m=65536,t=2,p=2$" + b64(salt) + "$" + b64(key)
	if _, err := s.ImportUser(ctx, "old", old, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	auth.Verify(old, "wrong")
	expensive := time.Since(start)

	check := func(s *Store) {
		t.Helper()
		// The first failure times the stored hashes' classes, and waits
		// for the floor that gives, too.
		start := time.Now()
		if _, err := s.Authenticate(ctx, "nobody", "x"); !errors.Is(err, ErrAuthFailed) {
			t.Fatal(err)
		}
		first := time.Since(start)
		s.failFloor.mu.Lock()
		floor := s.failFloor.floor
		s.failFloor.mu.Unlock()
		if first < floor {
			t.Errorf("first failed login took %v, less than the floor %v", first, floor)
		}
		if floor < expensive/2 {
			t.Fatalf("floor %v, but checking the old hash takes %v", floor, expensive)
		}
		for _, c := range [][2]string{{"nobody", "x"}, {"ann", "wrong"}, {"old", "wrong"}} {
			start := time.Now()
			if _, err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%s: %v", c[0], err)
			}
			if d := time.Since(start); d < floor {
				t.Errorf("failed login as %s took %v, less than the floor %v", c[0], d, floor)
			}
		}
		// Successes are not held back: a cached login answers at once.
		if _, err := s.Authenticate(ctx, "ann", "pw-ann"); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if _, err := s.Authenticate(ctx, "ann", "pw-ann"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d >= floor {
			t.Errorf("a cached login took %v, the failure floor is %v", d, floor)
		}
	}
	check(s)
	s.Close()
	s, err = Open(dir, Options{AuthCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

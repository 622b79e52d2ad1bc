package mailstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"sealpost/mailstore/storetest"
)

// errFull is what a write to a full disk returns.
var errFull = &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.ENOSPC}

// snapshotAcct lists ann's INBOX as UID → flags and body.
func snapshotAcct(t *testing.T, a *Account) map[UID]string {
	t.Helper()
	info := must(a.Mailbox(ctx, Inbox))
	out := map[UID]string{}
	err := a.Fetch(ctx, info.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		out[m.UID] = fmt.Sprint(m.Flags) + "\n" + readBody(t, a, m.Message)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// With body writes or commits failing as on a full disk, every write fails
// with ErrNoSpace (wrapping the errno), leaves nothing behind and changes
// nothing; once the fault is gone the same store takes writes again.
func TestNoSpaceFaults(t *testing.T) {
	dir := t.TempDir()
	faults := &Faults{}
	s, err := Open(dir, Options{Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := quickUser(t, s, "ann")
	for _, b := range []string{msg("one", "first"), msg("two", "second")} {
		if _, err := s.Deliver(ctx, "ann", strings.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	inbox := must(a.Mailbox(ctx, Inbox)).ID
	before := snapshotAcct(t, a)
	blobs := countBlobs(t, a.dir)

	wantNoSpace := func(what string, err error, errno syscall.Errno) {
		t.Helper()
		if !errors.Is(err, ErrNoSpace) || !errors.Is(err, errno) {
			t.Errorf("%s: %v, want ErrNoSpace wrapping %v", what, err, errno)
		}
	}
	writes := func(errno syscall.Errno, bodies bool) {
		t.Helper()
		_, err := s.Deliver(ctx, "ann", strings.NewReader(msg("three", "lost")))
		wantNoSpace("Deliver", err, errno)
		_, err = a.Append(ctx, Inbox, strings.NewReader(msg("four", "lost")), AppendOptions{})
		wantNoSpace("Append", err, errno)
		_, err = a.Copy(ctx, inbox, []UID{1}, "Archive")
		wantNoSpace("Copy", err, errno)
		if !bodies { // the rest writes no body
			_, err = a.ChangeFlags(ctx, inbox, []UID{1, 2}, FlagsAdd, []string{FlagSeen, FlagDeleted})
			wantNoSpace("ChangeFlags", err, errno)
			_, err = a.Delete(ctx, inbox, []UID{1})
			wantNoSpace("Delete", err, errno)
			wantNoSpace("CreateMailbox", a.CreateMailbox(ctx, "New", ""), errno)
		}
		if got := snapshotAcct(t, a); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("INBOX changed under failing writes:\n%v\nwant\n%v", got, before)
		}
		if n := countBlobs(t, a.dir); n != blobs {
			t.Errorf("%d body files, want %d: a failed write left one behind", n, blobs)
		}
		if left, _ := os.ReadDir(filepath.Join(a.dir, "tmp")); len(left) > 0 {
			t.Errorf("%d files left in tmp/", len(left))
		}
	}

	faults.FailBodies(errFull)
	writes(syscall.ENOSPC, true)
	faults.FailBodies(&fs.PathError{Op: "fsync", Path: "/data/x", Err: syscall.EDQUOT})
	writes(syscall.EDQUOT, true)
	faults.FailBodies(nil)
	faults.FailCommits(errFull)
	writes(syscall.ENOSPC, false)

	// Other I/O errors are not "no space": the frontends answer them as
	// internal errors.
	faults.FailCommits(&fs.PathError{Op: "write", Path: "/data/x", Err: syscall.EIO})
	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("five", "lost"))); err == nil || errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.EIO) {
		t.Errorf("Deliver under EIO: %v", err)
	}

	// Space is back: no restart needed.
	faults.FailCommits(nil)
	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("six", "kept"))); err != nil {
		t.Fatalf("Deliver after the disk was freed: %v", err)
	}
	must(a.ChangeFlags(ctx, inbox, []UID{1}, FlagsAdd, []string{FlagFlagged}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(dir, CheckOptions{})
	if err != nil || len(rep.Problems) > 0 || rep.Messages != 3 {
		t.Fatalf("check: %v, %d messages, problems %v", err, rep.Messages, rep.Problems)
	}
}

// On a real full filesystem, bbolt's own commits fail too (a write
// transaction that needs new pages cannot write them): the error is a
// clean ErrNoSpace, nothing panics, the database is not damaged, and the
// same store works once space is freed.
func TestBoltOnFullDisk(t *testing.T) {
	dir := storetest.MountTmpfs(t, 3<<20)
	s, err := Open(filepath.Join(dir, "data"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := quickUser(t, s, "ann")
	for i := range 20 {
		if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg(fmt.Sprint("m", i), strings.Repeat("body line\r\n", 50)))); err != nil {
			t.Fatal(err)
		}
	}
	inbox := must(a.Mailbox(ctx, Inbox)).ID
	uids := make([]UID, 20)
	for i := range uids {
		uids[i] = UID(i + 1)
	}
	before := snapshotAcct(t, a)
	filler := storetest.FillDisk(t, dir)

	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("full", "x"))); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Deliver on a full disk: %v, want ErrNoSpace", err)
	}
	// Records grow with keywords until a commit needs more pages than the
	// file has: then bbolt's write fails.
	var kws []string
	var boltErr error
	for i := 0; i < 200 && boltErr == nil; i++ {
		kws = append(kws, fmt.Sprintf("$k%03d%s", i, strings.Repeat("x", 200)))
		_, boltErr = a.ChangeFlags(ctx, inbox, uids, FlagsReplace, kws)
	}
	if !errors.Is(boltErr, ErrNoSpace) {
		t.Fatalf("ChangeFlags with growing records on a full disk: %v, want ErrNoSpace", boltErr)
	}
	t.Logf("bbolt commit failed after %d keywords: %v", len(kws), boltErr)
	// Reads still work, and what the failed commit wrote is not visible.
	after := snapshotAcct(t, a)
	if len(after) != len(before) {
		t.Fatalf("%d messages after the failed commit, want %d", len(after), len(before))
	}
	for uid, v := range after {
		if n := strings.Count(v, "$k"); n != len(kws)-1 {
			t.Fatalf("uid %d has %d keywords, want %d (the last commit that succeeded)", uid, n, len(kws)-1)
		}
	}

	// Writes of every kind, concurrently (a failed group commit is retried
	// op by op): each fails cleanly or, if it fits in pages the file
	// already has (deletions often do), succeeds; Check judges the result.
	errs := make(chan error, 4)
	go func() { errs <- a.CreateMailbox(ctx, "Full", "") }()
	go func() { _, err := a.Delete(ctx, inbox, uids[:5]); errs <- err }()
	go func() { _, err := a.Copy(ctx, inbox, uids, "Archive"); errs <- err }()
	go func() { _, err := a.Move(ctx, inbox, uids[5:], "Trash"); errs <- err }()
	for range 4 {
		if err := <-errs; err != nil && !errors.Is(err, ErrNoSpace) {
			t.Errorf("write on a full disk: %v, want success or ErrNoSpace", err)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChangeFlags(ctx, inbox, uids, FlagsReplace, []string{FlagSeen}); err != nil {
		t.Fatalf("ChangeFlags after space came back: %v", err)
	}
	res, err := s.Deliver(ctx, "ann", strings.NewReader(msg("back", "space is back")))
	if err != nil {
		t.Fatalf("Deliver after space came back: %v", err)
	}
	f, _ := a.Open(res.Message)
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != msg("back", "space is back") {
		t.Fatalf("stored %q", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(filepath.Join(dir, "data"), CheckOptions{})
	if err != nil || len(rep.Problems) > 0 || rep.Messages < 16 { // 20 + 1, maybe 5 deleted
		t.Fatalf("check: %v, %d messages, problems %v", err, rep.Messages, rep.Problems)
	}
	s2, err := Open(filepath.Join(dir, "data"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	a2 := must(s2.Account(ctx, "ann"))
	for uid, v := range snapshotAcct(t, a2) {
		if want, ok := before[uid]; ok && strings.SplitN(v, "\n", 2)[1] != strings.SplitN(want, "\n", 2)[1] {
			t.Errorf("uid %d: body changed", uid)
		}
	}
}

package mailstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// sizedMsg returns a message of exactly n bytes (CRLF, so stored as is).
func sizedMsg(n int) string {
	if n == 0 {
		return ""
	}
	head := "Subject: sized\r\n\r\n"
	body := strings.Repeat("x", n-len(head)-2) + "\r\n"
	return head + body
}

func inlineCount(t *testing.T, a *Account) int {
	t.Helper()
	n := 0
	a.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktBodies).Stats().KeyN
		return nil
	})
	return n
}

// A body of up to the inline limit goes into mail.db with its record, a
// larger one into a file; either reads back byte for byte.
func TestInlineBodies(t *testing.T) {
	tests := []struct {
		name   string
		max    int64 // Options.InlineBodyMax
		size   int
		inline bool
	}{
		{"empty", 0, 0, true},
		{"empty, inline off", -1, 0, false},
		{"small", 0, 200, true},
		{"at the limit", 0, DefaultInlineBodyMax, true},
		{"over the limit", 0, DefaultInlineBodyMax + 1, false},
		{"one MB", 0, 1 << 20, false},
		{"configured limit", 1000, 1001, false},
		{"inline off", -1, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{InlineBodyMax: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a := quickUser(t, s, "ann")
			body := sizedMsg(tc.size)
			inbox := must(a.Mailbox(ctx, Inbox))
			res, err := a.Append(ctx, Inbox, strings.NewReader(body), AppendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := isInline(res.Message.Blob); got != tc.inline {
				t.Fatalf("inline %v, want %v", got, tc.inline)
			}
			files, inl := countBlobs(t, a.dir), inlineCount(t, a)
			if tc.inline && (files != 0 || inl != 1) || !tc.inline && (files != 1 || inl != 0) {
				t.Fatalf("%d files, %d inline bodies", files, inl)
			}
			if got := readBody(t, a, res.Message); got != body {
				t.Fatalf("body of %d bytes reads back as %d bytes", len(body), len(got))
			}
			// Expunged, it is gone from wherever it was.
			must(a.Delete(ctx, inbox.ID, []UID{res.Message.UID}))
			if files, inl := countBlobs(t, a.dir), inlineCount(t, a); files+inl != 0 {
				t.Fatalf("after expunge: %d files, %d inline bodies", files, inl)
			}
			if _, err := a.Open(res.Message); !errors.Is(err, ErrGone) {
				t.Fatalf("open after expunge: %v", err)
			}
		})
	}
}

// COPY gives an inline body a copy of its own, MOVE keeps it, and expunge
// and mailbox deletion remove inline bodies with their records: nothing
// is left behind, nothing shared.
func TestInlineBodyLifecycle(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	inbox := must(a.Mailbox(ctx, Inbox))
	body := msg("copy me", "hello")
	res := must(s.Deliver(ctx, "ann", strings.NewReader(body)))
	if err := a.CreateMailbox(ctx, "Work", ""); err != nil {
		t.Fatal(err)
	}
	cp := must(a.Copy(ctx, inbox.ID, []UID{res.Message.UID}, "Archive"))
	if inlineCount(t, a) != 2 {
		t.Fatalf("after COPY: %d inline bodies, want 2", inlineCount(t, a))
	}
	must(a.ChangeFlags(ctx, inbox.ID, []UID{res.Message.UID}, FlagsAdd, []string{FlagDeleted}))
	must(a.Expunge(ctx, inbox.ID, nil))
	if inlineCount(t, a) != 1 {
		t.Fatalf("after EXPUNGE: %d inline bodies, want 1", inlineCount(t, a))
	}
	archive := must(a.Mailbox(ctx, "Archive"))
	var copied Message
	a.Fetch(ctx, archive.ID, cp.DestUIDs, FetchWant{}, func(m *MessageMeta) error {
		copied = m.Message
		return nil
	})
	if got := readBody(t, a, copied); got != body {
		t.Fatalf("copy reads %q after the original's expunge", got)
	}
	mv := must(a.Move(ctx, archive.ID, cp.DestUIDs, "Work"))
	work := must(a.Mailbox(ctx, "Work"))
	var moved Message
	a.Fetch(ctx, work.ID, mv.DestUIDs, FetchWant{}, func(m *MessageMeta) error {
		moved = m.Message
		return nil
	})
	if got := readBody(t, a, moved); got != body || inlineCount(t, a) != 1 {
		t.Fatalf("after MOVE: %q, %d inline bodies", got, inlineCount(t, a))
	}
	if err := a.DeleteMailbox(ctx, "Work"); err != nil {
		t.Fatal(err)
	}
	if n := inlineCount(t, a); n != 0 {
		t.Fatalf("after DELETE: %d inline bodies left", n)
	}
	if _, err := a.Open(moved); err == nil {
		t.Fatal("a deleted message's body still opens")
	}
	if rep, err := s.CheckLive(ctx); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems)
	}
}

// A store written before bodies could be inline (no bodies bucket, every
// body a file) opens, reads its messages and takes new ones inline.
func TestInlineBodiesOldStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{InlineBodyMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := quickUser(t, s, "ann")
	old := msg("old", "from an older version")
	oldRes := must(s.Deliver(ctx, "ann", strings.NewReader(old)))
	acctDir := a.dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(acctDir, "mail.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bktBodies) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if rep, err := Check(dir, CheckOptions{}); err != nil || !rep.OK() {
		t.Fatalf("check of the old store: %v %v", err, rep.Problems)
	}
	s = openTest(t, dir)
	a = must(s.Account(ctx, "ann"))
	if got := readBody(t, a, oldRes.Message); got != old {
		t.Fatalf("old body reads %q", got)
	}
	res := must(s.Deliver(ctx, "ann", strings.NewReader(msg("new", "inline"))))
	if !isInline(res.Message.Blob) {
		t.Fatal("a new small body is not inline")
	}
}

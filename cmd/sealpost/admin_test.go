package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore"
	"sealpost/mailstore/mailfmt"
)

var bg = context.Background()

func openStore(t testing.TB, maxMsg int64) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(t.TempDir(), mailstore.Options{MaxMessageSize: maxMsg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startControl serves a store's control socket in this process and
// returns a client for it.
func startControl(t testing.TB, st *mailstore.Store) controlClient {
	t.Helper()
	l, err := listenControl(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { serveControl(ctx, l, st, slog.New(slog.DiscardHandler)); close(done) }()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return controlClient{path: filepath.Join(st.Dir(), controlSock)}
}

// adminImpls gives both implementations of storeAdmin, each on its own store.
func adminImpls(t *testing.T, maxMsg int64) map[string]struct {
	admin storeAdmin
	store *mailstore.Store
} {
	local := openStore(t, maxMsg)
	remote := openStore(t, maxMsg)
	return map[string]struct {
		admin storeAdmin
		store *mailstore.Store
	}{
		"direct":         {localAdmin{local}, local},
		"control socket": {startControl(t, remote), remote},
	}
}

type memMsg struct {
	mailbox string
	flags   []string
	date    time.Time
	body    string
}

func sliceSource(msgs []*mailfmt.Message) func() (*mailfmt.Message, error) {
	return func() (*mailfmt.Message, error) {
		if len(msgs) == 0 {
			return nil, io.EOF
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	}
}

func exportAll(t *testing.T, a storeAdmin, user, mailbox string) (boxes []string, msgs []memMsg) {
	t.Helper()
	err := a.Export(bg, user, mailbox, func(mb mailstore.MailboxInfo, m *mailfmt.Message) error {
		if m == nil {
			boxes = append(boxes, mb.Name)
			return nil
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		if int64(len(b)) != m.Size {
			t.Errorf("%s: size %d, body %d bytes", mb.Name, m.Size, len(b))
		}
		msgs = append(msgs, memMsg{mb.Name, m.Flags, m.Date, string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return boxes, msgs
}

// Every admin operation behaves the same on a store opened here and
// through a running server's control socket, errors included.
func TestStoreAdminImplementations(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("bcrypt-pw"), bcrypt.MinCost)
	date := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	for name, impl := range adminImpls(t, 64<<10) {
		t.Run(name, func(t *testing.T) {
			a := impl.admin
			if _, err := a.ImportUser(bg, "ann", "{BLF-CRYPT}"+string(hash), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := impl.store.Authenticate(bg, "ann", "bcrypt-pw"); err != nil {
				t.Fatalf("imported bcrypt hash does not verify: %v", err)
			}
			if _, err := a.ImportUser(bg, "ann", "{BLF-CRYPT}"+string(hash), 0); !errors.Is(err, mailstore.ErrUserExists) {
				t.Errorf("duplicate user: %v", err)
			}
			if err := a.CreateMailbox(bg, "ann", "Work/Projects", ""); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				err  error
				want error
			}{
				{a.CreateMailbox(bg, "ann", "Work/Projects", ""), mailstore.ErrMailboxExists},
				{a.CreateMailbox(bg, "ann", "X", `\Bogus`), mailstore.ErrBadSpecialUse},
				{a.DeleteMailbox(bg, "ann", "INBOX"), mailstore.ErrInboxNotAllowed},
				{a.DeleteMailbox(bg, "ann", "Work"), mailstore.ErrHasChildren},
				{a.DeleteMailbox(bg, "ann", "Nope"), mailstore.ErrNoSuchMailbox},
				{a.DeleteMailbox(bg, "nobody", "X"), mailstore.ErrNoSuchUser},
			} {
				if !errors.Is(c.err, c.want) {
					t.Errorf("got %v, want %v", c.err, c.want)
				}
			}

			big := "Subject: big\r\n\r\n" + strings.Repeat("x", 100<<10) + "\r\n"
			var results []importResult
			err := a.Import(bg, "ann", sliceSource([]*mailfmt.Message{
				{Mailbox: "Empty"},
				{Mailbox: "Lists/Go", Flags: []string{mailfmt.FlagSeen, "$Forwarded"}, Date: date, Body: strings.NewReader("Subject: go\r\n\r\nhello\r\n")},
				{Mailbox: "INBOX", Body: strings.NewReader(big)},
				{Mailbox: "bad//name", Body: strings.NewReader("Subject: x\r\n\r\n")},
				{Mailbox: "inbox", Flags: []string{mailfmt.FlagFlagged}, Date: date.Add(time.Hour), Body: strings.NewReader("Subject: in\n\nLF only\n")},
			}), func(r importResult) error {
				results = append(results, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 5 || results[0].Err != nil || results[1].Err != nil || results[1].UID != 1 ||
				!errors.Is(results[2].Err, mailstore.ErrTooBig) || results[2].Fatal ||
				!errors.Is(results[3].Err, mailstore.ErrBadName) || results[4].Err != nil || results[4].Mailbox != "INBOX" {
				t.Fatalf("results %+v", results)
			}
			mbs, err := a.Mailboxes(bg, "ann")
			if err != nil {
				t.Fatal(err)
			}
			sub := map[string]bool{}
			for _, mb := range mbs {
				sub[mb.Name] = mb.Subscribed
			}
			if !sub["Empty"] || !sub["Lists/Go"] || !sub["Work/Projects"] {
				t.Errorf("created mailboxes not all there and subscribed: %v", sub)
			}

			_, msgs := exportAll(t, a, "ann", "")
			want := []memMsg{
				{"INBOX", []string{mailfmt.FlagFlagged}, date.Add(time.Hour), "Subject: in\r\n\r\nLF only\r\n"},
				{"Lists/Go", []string{mailfmt.FlagSeen, "$Forwarded"}, date, "Subject: go\r\n\r\nhello\r\n"},
			}
			if len(msgs) != len(want) {
				t.Fatalf("exported %+v", msgs)
			}
			for i := range want {
				g, w := msgs[i], want[i]
				if g.mailbox != w.mailbox || !slices.Equal(g.flags, w.flags) || !g.date.Equal(w.date) || g.body != w.body {
					t.Errorf("exported %+v, want %+v", g, w)
				}
			}
			boxes, _ := exportAll(t, a, "ann", "Lists/Go")
			if err := a.Export(bg, "ann", "Nope", nil); !errors.Is(err, mailstore.ErrNoSuchMailbox) {
				t.Errorf("export of a missing mailbox: %v", err)
			}
			if len(boxes) != 1 || boxes[0] != "Lists/Go" {
				t.Errorf("export of one mailbox visited %q", boxes)
			}

			st, err := a.Stats(bg)
			if err != nil || st.Users != 1 || st.Messages != 2 || st.PerUser[0].Name != "ann" {
				t.Fatalf("stats %+v %v", st, err)
			}
			if rep, err := a.CheckLive(bg); err != nil || !rep.OK() || rep.Messages != 2 || rep.Users != 1 {
				t.Fatalf("check %+v %v", rep, err)
			}
			bd := &mailstore.BackupDir{Dir: filepath.Join(t.TempDir(), "backup")}
			m, err := a.Backup(bg, bd.Put)
			if err != nil || m.Messages != 2 || m.Users != 1 {
				t.Fatalf("backup %+v %v", m, err)
			}
			if err := bd.Finish(m); err != nil {
				t.Fatal(err)
			}
			_, rep, err := mailstore.Restore(bg, bd.Dir, filepath.Join(t.TempDir(), "restored"))
			if err != nil || !rep.OK() || rep.Messages != 2 {
				t.Fatalf("restore %+v %v", rep, err)
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	copy(p, bytes.Repeat([]byte("y"), k))
	f.n -= k
	return k, nil
}

// Quota exhaustion stops an import; so does a source that cannot be read,
// without storing the half-read message.
func TestImportStops(t *testing.T) {
	for name, impl := range adminImpls(t, 1<<20) {
		t.Run(name, func(t *testing.T) {
			a := impl.admin
			if _, err := a.CreateUser(bg, "ann", "pw", 0); err != nil {
				t.Fatal(err)
			}
			var n int
			err := a.Import(bg, "ann", sliceSource([]*mailfmt.Message{
				{Mailbox: "INBOX", Body: strings.NewReader("Subject: ok\r\n\r\n")},
				{Mailbox: "INBOX", Body: io.MultiReader(strings.NewReader("Subject: broken\r\n\r\n"), &failingReader{n: 300 << 10})},
				{Mailbox: "INBOX", Body: strings.NewReader("Subject: never\r\n\r\n")},
			}), func(importResult) error { n++; return nil })
			if err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("source failure: %v", err)
			}
			if _, msgs := exportAll(t, a, "ann", ""); len(msgs) != 1 {
				t.Fatalf("%d messages stored, want only the first", len(msgs))
			}
			if err := a.SetQuota(bg, "ann", 100); err != nil {
				t.Fatal(err)
			}
			var last importResult
			err = a.Import(bg, "ann", sliceSource([]*mailfmt.Message{
				{Mailbox: "INBOX", Body: strings.NewReader("Subject: over\r\n\r\n" + strings.Repeat("z", 200))},
				{Mailbox: "INBOX", Body: strings.NewReader("Subject: never\r\n\r\n")},
			}), func(r importResult) error { last = r; return nil })
			if !errors.Is(err, mailstore.ErrOverQuota) || !last.Fatal {
				t.Fatalf("over quota: %v %+v", err, last)
			}
			if err := a.Import(bg, "nobody", sliceSource(nil), nil); !errors.Is(err, mailstore.ErrNoSuchUser) {
				t.Fatalf("unknown user: %v", err)
			}
		})
	}
}

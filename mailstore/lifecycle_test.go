package mailstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Size limits: Append takes MaxMessageSize bytes as sent, whatever CRLF
// normalisation adds; Deliver takes TraceAllowance more for the trace
// headers the LMTP inlet prepends.
func TestSizeLimits(t *testing.T) {
	const max = 4096
	// Bodies in files: the test counts what refused messages leave on disk.
	s, err := Open(t.TempDir(), Options{MaxMessageSize: max, InlineBodyMax: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := quickUser(t, s, "ann")
	sized := func(n int, eol string) string {
		m := "Subject: size" + eol + eol
		for len(m) < n {
			m += "x" + eol
		}
		return m[:n]
	}
	tests := []struct {
		name    string
		deliver bool
		body    string
		wantErr error
	}{
		{"append at limit", false, sized(max, "\r\n"), nil},
		{"append over limit", false, sized(max+1, "\r\n"), ErrTooBig},
		// 4096 bytes of bare-LF lines grow to ~8 KB stored: still accepted.
		{"append bare LF at limit", false, sized(max, "\n"), nil},
		{"deliver with trace headers", true, sized(max+TraceAllowance, "\r\n"), nil},
		{"deliver over allowance", true, sized(max+TraceAllowance+1, "\r\n"), ErrTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.deliver {
				_, err = s.Deliver(ctx, "ann", strings.NewReader(tc.body))
			} else {
				_, err = a.Append(ctx, Inbox, strings.NewReader(tc.body), AppendOptions{})
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
	// Nothing of the refused messages is left on disk.
	info, _ := a.Mailbox(ctx, Inbox)
	if n := countBlobs(t, a.dir); n != int(info.Messages) || n != 3 {
		t.Fatalf("%d body files for %d messages (want 3)", n, info.Messages)
	}
}

// quickUser creates a user with a cheap bcrypt hash: the tests below
// create many users and argon2id is slow by design.
func quickUser(t testing.TB, s *Store, name string) *Account {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportUser(ctx, name, string(h), 0); err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func countBlobs(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Every write on an account that is being closed returns (committed or
// ErrClosed), however it races with DeleteUser or Store.Close.
func TestWritesReturnWhenAccountCloses(t *testing.T) {
	for _, how := range []string{"DeleteUser", "Store.Close"} {
		t.Run(how, func(t *testing.T) {
			for round := range 10 {
				s, err := Open(t.TempDir(), Options{})
				if err != nil {
					t.Fatal(err)
				}
				a := quickUser(t, s, "ann")
				res, err := a.Append(ctx, Inbox, strings.NewReader(msg("seed", "x")), AppendOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				returned := make(chan error, 1000)
				start := make(chan struct{})
				for w := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := range 10 {
							var err error
							switch (w + i) % 4 {
							case 0:
								_, err = a.Append(ctx, Inbox, strings.NewReader(msg(fmt.Sprint(w, i), "body")), AppendOptions{})
							case 1:
								_, err = a.ChangeFlags(ctx, res.Mailbox, []UID{res.Message.UID}, FlagsAdd, []string{`\Seen`})
							case 2:
								err = a.CreateMailbox(ctx, fmt.Sprintf("m%d-%d", w, i), "")
							case 3:
								_, err = a.Copy(ctx, res.Mailbox, []UID{res.Message.UID}, "Archive")
							}
							returned <- err
						}
					}()
				}
				close(start)
				time.Sleep(time.Duration(round%5) * time.Millisecond)
				if how == "DeleteUser" {
					if err := s.DeleteUser(ctx, "ann"); err != nil {
						t.Fatal(err)
					}
				} else if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("round %d: writes still hanging after %s", round, how)
				}
				close(returned)
				for err := range returned {
					if err != nil && !errors.Is(err, ErrClosed) {
						t.Fatalf("write failed with %v, want success or ErrClosed", err)
					}
				}
				if how == "DeleteUser" {
					if _, err := os.Stat(a.dir); !os.IsNotExist(err) {
						t.Fatalf("round %d: user dir left behind: %v", round, err)
					}
				}
				s.Close()
			}
		})
	}
}

// Deliveries racing with DeleteUser never recreate the deleted user's
// store (a zombie users/<id> with mail in it).
func TestDeliverRacingDeleteUser(t *testing.T) {
	for round := range 10 {
		s := openTest(t, "")
		a := quickUser(t, s, "ann")
		dir := a.dir
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					_, err := s.Deliver(ctx, "ann", strings.NewReader(msg("race", "x")))
					if err != nil && !errors.Is(err, ErrNoSuchUser) && !errors.Is(err, ErrClosed) {
						t.Errorf("deliver: %v", err)
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		if err := s.DeleteUser(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("round %d: deleted user's store exists again", round)
		}
		if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("late", "x"))); !errors.Is(err, ErrNoSuchUser) {
			t.Fatalf("deliver after delete: %v", err)
		}
	}
}

// A crash after ImportUser committed the user but before the account was
// created must not leave the user without mailboxes; a default the user
// deleted on purpose stays deleted.
func TestDefaultsCreatedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ann", "bob"} {
		if _, err := s.CreateUser(ctx, n, "pw", 0); err != nil {
			t.Fatal(err)
		}
	}
	ann, _ := s.Account(ctx, "ann")
	bob, _ := s.Account(ctx, "bob")
	if err := bob.DeleteMailbox(ctx, "Junk"); err != nil {
		t.Fatal(err)
	}
	annDir := ann.dir
	s.Close()
	// The crash: ann's record is committed, her files are not there yet.
	if err := os.RemoveAll(annDir); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("after crash", "x"))); err != nil {
		t.Fatalf("deliver after crash: %v", err)
	}
	ann, _ = s.Account(ctx, "ann")
	for _, d := range DefaultMailboxes {
		if _, err := ann.Mailbox(ctx, d.Name); err != nil {
			t.Errorf("ann: %s: %v", d.Name, err)
		}
	}
	bob, _ = s.Account(ctx, "bob")
	if _, err := bob.Mailbox(ctx, "Junk"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("bob's deleted Junk came back: %v", err)
	}
}

// Open sweeps what a crash leaves outside any account: the files of a
// user whose record was deleted and partly written bodies in tmp/. An
// account opens with all 256 blob shards in place.
func TestOpenSweepsLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := quickUser(t, s, "ann")
	for i := range 256 {
		if fi, err := os.Stat(filepath.Join(a.dir, "blobs", fmt.Sprintf("%02x", i))); err != nil || !fi.IsDir() {
			t.Fatalf("shard %02x: %v", i, err)
		}
	}
	annDir := a.dir
	s.Close()
	partial := filepath.Join(annDir, "tmp", "new-123")
	os.WriteFile(partial, []byte("half a message"), 0o600)
	ghost := filepath.Join(dir, "users", "999")
	os.MkdirAll(filepath.Join(ghost, "blobs", "ab"), 0o700)
	os.WriteFile(filepath.Join(ghost, "blobs", "ab", "abcd"), []byte("x"), 0o600)

	openTest(t, dir)
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial body in tmp/ survived Open: %v", err)
	}
	if _, err := os.Stat(ghost); !os.IsNotExist(err) {
		t.Errorf("deleted user's dir survived Open: %v", err)
	}
	if _, err := os.Stat(annDir); err != nil {
		t.Errorf("live user's dir removed: %v", err)
	}
}

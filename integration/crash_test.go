package integration

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore"
	"sealpost/mailstore/lmtp"
)

// Kill -9 the server in the middle of a concurrent delivery storm (over
// TCP and the unix socket), restart it, and check that every message that
// got 250 is there, byte for byte, that nothing stored is a torn or
// unknown message, and that the body files on disk are exactly those the
// records point to: no orphan survives the account's first open and no
// record lacks its file.
func TestCrashDuringDeliveryStorm(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	sent := map[string]string{} // Message-ID → body as sent
	acked := map[string]bool{}
	var mu sync.Mutex
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					id := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					lines := 1 + rand.IntN(400) // kept inside mail.db
					if rand.IntN(8) == 0 || w == 0 && i == 0 {
						lines = 4000 + rand.IntN(2000) // a body file of its own
					}
					body := testMessage(id, strings.Repeat(fmt.Sprintf("%s line of text\r\n", id), lines))
					mu.Lock()
					sent[id] = body
					mu.Unlock()
					dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
					network, addr := "tcp", s.LMTP
					if w%2 == 1 {
						network, addr = "unix", s.Socket
					}
					err := lmtp.DeliverOne(dctx, network, addr, "sender@example.org", "ann@example.com", strings.NewReader(body))
					dcancel()
					if err != nil {
						return // the server died
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		s.Kill()
		cancel()
		wg.Wait()
		s.start()
	}
	const trace = "Return-Path: <sender@example.org>\r\nDelivered-To: ann@example.com\r\n"
	c := s.LoginIMAPS(t, "ann", "ann-password") // opens the account: orphans go
	bodies := Bodies(t, c, "INBOX")
	found := map[string]bool{}
	for uid, b := range bodies {
		i := strings.Index(b, "Message-ID: <")
		if i < 0 {
			t.Fatalf("uid %d: no Message-ID (torn message?)", uid)
		}
		id := strings.TrimSuffix(strings.SplitN(b[i+len("Message-ID: <"):], ">", 2)[0], "@test")
		want, ok := sent[id]
		if !ok {
			t.Fatalf("uid %d: unknown message %q", uid, id)
		}
		if b != trace+want {
			t.Fatalf("uid %d (%s): body differs from what was sent", uid, id)
		}
		if found[id] {
			t.Fatalf("%s stored twice", id)
		}
		found[id] = true
	}
	lost := 0
	for id := range acked {
		if !found[id] {
			lost++
			t.Errorf("acknowledged message %s lost", id)
		}
	}
	t.Logf("%d rounds: %d sent, %d acknowledged, %d stored, %d acknowledged lost", rounds, len(sent), len(acked), len(found), lost)
	if len(acked) == 0 {
		t.Fatal("no delivery was acknowledged before the kills")
	}
	checkFilesMatchRecords(t, s.Data, bodies)
}

// checkFilesMatchRecords compares the body files under the data dir with
// the messages IMAP serves that are too big to be kept inside mail.db:
// the same multiset of contents (every such record has its file, since
// IMAP read it, and no file is left without a record), and nothing left
// in any tmp/.
func checkFilesMatchRecords(t *testing.T, data string, bodies map[imap.UID]string) {
	t.Helper()
	onDisk := map[string]int{}
	files := 0
	users, _ := filepath.Glob(filepath.Join(data, "users", "*"))
	for _, u := range users {
		err := filepath.WalkDir(filepath.Join(u, "blobs"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			onDisk[string(b)]++
			files++
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(filepath.Join(u, "tmp")); len(left) > 0 {
			t.Errorf("%s/tmp: %d files left", u, len(left))
		}
	}
	want := 0
	for uid, b := range bodies {
		if len(b) <= mailstore.DefaultInlineBodyMax {
			continue
		}
		want++
		if onDisk[b] == 0 {
			t.Errorf("uid %d: no body file with its content", uid)
			continue
		}
		onDisk[b]--
	}
	orphans := 0
	for _, n := range onDisk {
		orphans += n
	}
	if orphans > 0 || files != want || want == 0 {
		t.Fatalf("%d body files on disk for %d messages too big for mail.db (%d orphans)", files, want, orphans)
	}
}

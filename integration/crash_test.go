package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kill -9 the server in the middle of a concurrent delivery storm, restart
// it, and check that every message that got 250 is there, byte for byte,
// and that nothing stored is a torn or unknown message.
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
					body := testMessage(id, strings.Repeat(fmt.Sprintf("%s line of text\r\n", id), 1+rand.IntN(400)))
					mu.Lock()
					sent[id] = body
					mu.Unlock()
					dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := deliverTCP(dctx, s.LMTP, "ann@example.com", body)
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
	c := s.LoginIMAPS(t, "ann", "ann-password")
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
		if !strings.HasSuffix(b, want) {
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
}

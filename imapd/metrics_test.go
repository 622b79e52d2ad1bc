package imapd

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// connRecorder is a Metrics that keeps the counts it is told.
type connRecorder struct {
	mu       sync.Mutex
	open     map[string]int
	opened   map[string]int
	upgrades int
}

func newConnRecorder() *connRecorder {
	return &connRecorder{open: map[string]int{}, opened: map[string]int{}}
}

func (r *connRecorder) ConnOpened(tls string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[tls]++
	r.opened[tls]++
}

func (r *connRecorder) ConnStartTLS() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[tlsNone]--
	r.open[tlsStartTLS]++
	r.upgrades++
}

func (r *connRecorder) ConnClosed(tls string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[tls]--
}

func (r *connRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("open none=%d starttls=%d implicit=%d; opened none=%d implicit=%d; upgrades=%d",
		r.open[tlsNone], r.open[tlsStartTLS], r.open[tlsImplicit], r.opened[tlsNone], r.opened[tlsImplicit], r.upgrades)
}

// waitState polls until the recorder reads want (counts change on the
// server's goroutines, after the client's side is done).
func waitState(t *testing.T, r *connRecorder, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %s\nwant:    %s", r, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsConnections(t *testing.T) {
	rec := newConnRecorder()
	e := newEnv(t, envConfig{Metrics: rec})
	plain := e.rawPlain()
	waitState(t, rec, "open none=1 starttls=0 implicit=0; opened none=1 implicit=0; upgrades=0")
	plain.startTLS(e.ClientTLS)
	plain.ok("LOGIN ann pw-ann")
	implicit := e.rawLogin("bob")
	stay := e.rawPlain()
	waitState(t, rec, "open none=1 starttls=1 implicit=1; opened none=2 implicit=1; upgrades=1")
	plain.ok("LOGOUT")
	implicit.ok("LOGOUT")
	stay.ok("LOGOUT")
	waitState(t, rec, "open none=0 starttls=0 implicit=0; opened none=2 implicit=1; upgrades=1")
}

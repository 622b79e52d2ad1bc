package pop3d

import (
	"fmt"
	"sync"
	"testing"
)

// connRecorder is a Metrics that keeps the counts it is told.
type connRecorder struct {
	mu       sync.Mutex
	open     map[string]int
	opened   map[string]int
	upgrades int
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
	r.open["none"]--
	r.open["starttls"]++
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
		r.open["none"], r.open["starttls"], r.open["implicit"], r.opened["none"], r.opened["implicit"], r.upgrades)
}

func TestMetricsConnections(t *testing.T) {
	rec := &connRecorder{open: map[string]int{}, opened: map[string]int{}}
	e := startServer(t, func(o *Options) { o.Metrics = rec })
	state := func(want string) {
		t.Helper()
		waitFor(t, want, func() bool { return rec.String() == want })
	}
	plain := e.dial(t)
	state("open none=1 starttls=0 implicit=0; opened none=1 implicit=0; upgrades=0")
	plain.starttls(e.pki.client)
	plain.login("ann", "secret")
	implicit := e.dialTLS(t)
	stay := e.dial(t)
	state("open none=1 starttls=1 implicit=1; opened none=2 implicit=1; upgrades=1")
	implicit.run("C: STLS\nS: -ERR ...") // already TLS: no upgrade counted
	for _, c := range []*client{plain, implicit, stay} {
		c.run("C: QUIT\nS: +OK ...")
	}
	state("open none=0 starttls=0 implicit=0; opened none=2 implicit=1; upgrades=1")
}

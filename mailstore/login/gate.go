package login

import (
	"context"
	"net/netip"
	"sync"

	"sealpost/mailstore/auth"
)

// sourceGate bounds the credential checks in flight per source address.
//
// The throttle decides from the failures already recorded, so without a
// gate an attacker with a hundred parallel connections gets a hundred
// verifications before the first failure is counted, and a hundred
// concurrent throttle delays after that. With at most perSource attempts
// in flight, a source's attempts queue behind each other and the delays add
// up: the attempt rate falls to a few per MaxDelay. Attempts from other
// sources never wait here, so the real user logging in from elsewhere is
// not slowed by the attack.
type sourceGate struct {
	perSource int

	mu sync.Mutex
	m  map[netip.Addr]*gateSlots
}

type gateSlots struct {
	ch   chan struct{} // a token per attempt in flight
	refs int           // holders and waiters; the entry goes at zero
}

func newSourceGate(perSource int) *sourceGate {
	return &sourceGate{perSource: perSource, m: map[netip.Addr]*gateSlots{}}
}

// acquire waits for a slot for ip's source, or for ctx. The returned
// release must be called exactly once when err is nil.
func (g *sourceGate) acquire(ctx context.Context, ip netip.Addr) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src := auth.SourceKey(ip)
	g.mu.Lock()
	e := g.m[src]
	if e == nil {
		e = &gateSlots{ch: make(chan struct{}, g.perSource)}
		g.m[src] = e
	}
	e.refs++
	g.mu.Unlock()
	unref := func() {
		g.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(g.m, src)
		}
		g.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}

// sources returns how many sources have attempts in flight or waiting
// (tests check that entries do not leak).
func (g *sourceGate) sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

package mailstore

import (
	"context"
	"sync"
	"time"

	"sealpost/mailstore/auth"
)

// failFloor makes every failed Authenticate take at least as long as
// verifying the most expensive kind of hash the store holds. Without it,
// a wrong password for a user whose hash is older and costlier (argon2id
// with earlier parameters, until the user next logs in; an imported
// bcrypt or SHA512-CRYPT hash) takes longer than an unknown user's dummy
// check, which tells an attacker that the user exists.
//
// Each cost class (auth.CostClass) is timed once, with one wrong-password
// Verify: the stored ones at the first failed login (not at Open, which
// CLI commands pay too), later ones when a hash of a new class is stored.
// Successful logins are never delayed.
type failFloor struct {
	seeded  sync.Once
	mu      sync.Mutex
	classes map[string]bool
	floor   time.Duration
}

// note times a Verify of hash if its cost class is new.
func (f *failFloor) note(hash string) {
	class := auth.CostClass(hash)
	if class == "" {
		return
	}
	f.mu.Lock()
	seen := f.classes[class]
	if f.classes == nil {
		f.classes = map[string]bool{}
	}
	f.classes[class] = true
	f.mu.Unlock()
	if seen {
		return
	}
	start := time.Now()
	auth.Verify(hash, "\x00not a password")
	d := time.Since(start)
	f.mu.Lock()
	f.floor = max(f.floor, d)
	f.mu.Unlock()
}

// wait sleeps until start + the floor, or until ctx ends. The first call
// times the classes of the hashes stored returns.
func (f *failFloor) wait(ctx context.Context, start time.Time, stored func() []string) {
	f.seeded.Do(func() {
		for _, h := range stored() {
			f.note(h)
		}
	})
	f.mu.Lock()
	d := f.floor - time.Since(start)
	f.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

package login

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealpost/mailstore"
	"sealpost/mailstore/auth"
)

func newTestAuth(t *testing.T, opts Options) *Authenticator {
	t.Helper()
	return newTestAuthStore(t, opts, mailstore.Options{})
}

func newTestAuthStore(t *testing.T, opts Options, sopts mailstore.Options) *Authenticator {
	t.Helper()
	st, err := mailstore.Open(t.TempDir(), sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateUser(context.Background(), "ann", "right", 0); err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	return New(opts)
}

// Parallel attempts from one source are checked at most SourceConcurrency
// at a time, and attempts from another source do not queue behind them.
func TestSourceConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	a := newTestAuth(t, Options{
		SourceConcurrency: 2,
		// Every attempt is delayed (FreeFailures cannot be 0, so fail
		// first), and the fake sleep blocks until released.
		Throttle: auth.NewThrottle(auth.ThrottleOptions{FreeFailures: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, IPLimit: 1000, UserIPLimit: 1000}),
		Sleep: func(ctx context.Context, d time.Duration) error {
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			defer inFlight.Add(-1)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	attacker := netip.MustParseAddr("192.0.2.1")
	// Two failures: with decay, one would already weigh less than one.
	a.opts.Throttle.Failure(attacker, "x", time.Now())
	a.opts.Throttle.Failure(attacker, "x", time.Now())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Login(ctx, attacker, "ann", "wrong")
			errs <- err
		}()
	}
	// The other source is not delayed at all and does not wait for a slot.
	done := make(chan error, 1)
	go func() {
		_, err := a.Login(context.Background(), netip.MustParseAddr("198.51.100.7"), "ann", "right")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login from another source: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("login from another source waited behind the attacker")
	}
	time.Sleep(50 * time.Millisecond)
	if p := peak.Load(); p != 2 {
		t.Errorf("attempts in flight from one source: peak %d, want 2", p)
	}
	// Waiters give up with ErrThrottled when their context ends, and the
	// gate forgets the source.
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrThrottled) {
			t.Errorf("cancelled attempt: %v, want ErrThrottled", err)
		}
	}
	if n := a.gate.sources(); n != 0 {
		t.Errorf("gate still tracks %d sources", n)
	}
}

// A refused attempt waits its delay before the refusal and is not verified.
func TestRefusalWaitsDelay(t *testing.T) {
	var slept []time.Duration
	a := newTestAuth(t, Options{
		Throttle: auth.NewThrottle(auth.ThrottleOptions{IPLimit: 5, UserIPLimit: 5}),
		Sleep: func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		},
	})
	ip := netip.MustParseAddr("192.0.2.9")
	// Decay keeps five quick failures just under the limit of 5: six block.
	for range 6 {
		if _, err := a.Login(context.Background(), ip, "ann", "wrong"); !errors.Is(err, mailstore.ErrAuthFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	slept = nil
	if _, err := a.Login(context.Background(), ip, "ann", "right"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("refused source, right password: %v, want ErrThrottled", err)
	}
	if len(slept) != 1 || slept[0] <= 0 {
		t.Errorf("refusal slept %v, want one positive delay", slept)
	}
}

// With the login cache on, a cached user's wrong passwords are still fully
// checked and counted: they are delayed and, at the limit, refused, and a
// refused source is refused even with the cached right password.
func TestCachedLoginThrottled(t *testing.T) {
	var slept []time.Duration
	a := newTestAuthStore(t, Options{
		Throttle: auth.NewThrottle(auth.ThrottleOptions{IPLimit: 5, UserIPLimit: 5}),
		Sleep: func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		},
	}, mailstore.Options{AuthCacheTTL: time.Hour})
	ip := netip.MustParseAddr("192.0.2.9")
	for range 2 {
		if _, err := a.Login(context.Background(), ip, "ann", "right"); err != nil {
			t.Fatalf("right password: %v", err)
		}
	}
	for i := range 6 {
		before := auth.SlowChecks()
		if _, err := a.Login(context.Background(), ip, "ann", "wrong"); !errors.Is(err, mailstore.ErrAuthFailed) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
		if n := auth.SlowChecks() - before; n != 1 {
			t.Errorf("wrong password %d for a cached user: %d slow checks, want 1", i, n)
		}
	}
	if len(slept) == 0 {
		t.Error("failures of a cached user were not delayed")
	}
	before := auth.SlowChecks()
	if _, err := a.Login(context.Background(), ip, "ann", "right"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("refused source, cached right password: %v, want ErrThrottled", err)
	}
	if n := auth.SlowChecks() - before; n != 0 {
		t.Errorf("a refused attempt ran %d slow checks", n)
	}
	// Another source is not refused and gets the cached answer.
	before = auth.SlowChecks()
	if _, err := a.Login(context.Background(), netip.MustParseAddr("198.51.100.7"), "ann", "right"); err != nil {
		t.Fatalf("other source: %v", err)
	}
	if n := auth.SlowChecks() - before; n != 0 {
		t.Errorf("cached login from another source: %d slow checks, want 0", n)
	}
}

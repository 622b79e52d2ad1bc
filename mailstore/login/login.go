// Package login checks IMAP and POP3 credentials against the store, with
// throttling of failed attempts per source address and per account shared
// by every protocol and mechanism. Frontends call it only on TLS
// connections; it never sees a password that crossed the network in clear.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"sealpost/mailstore"
	"sealpost/mailstore/auth"
)

// ErrThrottled: too many recent failures from this source; the password
// was not checked.
var ErrThrottled = errors.New("login: too many failed logins, try again later")

// Options configure an Authenticator.
type Options struct {
	Store    *mailstore.Store // required
	Throttle *auth.Throttle   // nil: auth.NewThrottle with defaults
	// Domains accepted in "user@domain" login names. Empty: any domain is
	// stripped (single-domain servers).
	Domains []string
	Logger  *slog.Logger // nil: discard
	// Sleep waits out a throttle delay; nil: a timer honouring ctx. Tests
	// may replace it to observe delays.
	Sleep func(ctx context.Context, d time.Duration) error
	// SourceConcurrency is how many attempts from one source address (an
	// IPv6 /64) are checked at once; more wait their turn, so parallel
	// connections do not multiply an attacker's rate, and one source never
	// holds all the hashing slots that other users' logins need. Zero: 1
	// (a mail client opening five connections waits five hash checks).
	SourceConcurrency int
}

// Authenticator logs users in.
type Authenticator struct {
	opts     Options
	gate     *sourceGate
	attempts atomic.Int64
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	if opts.Throttle == nil {
		opts.Throttle = auth.NewThrottle(auth.ThrottleOptions{})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.SourceConcurrency <= 0 {
		opts.SourceConcurrency = 1
	}
	return &Authenticator{opts: opts, gate: newSourceGate(opts.SourceConcurrency)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Attempts counts the credentials checked so far (tests assert that no
// plaintext connection ever reaches this point).
func (a *Authenticator) Attempts() int64 { return a.attempts.Load() }

// Login verifies username and password and returns the user's account.
// Failures are mailstore.ErrAuthFailed or ErrThrottled (also when ctx ends
// while the attempt waits its turn or its throttle delay).
func (a *Authenticator) Login(ctx context.Context, remote netip.Addr, username, password string) (*mailstore.Account, error) {
	a.attempts.Add(1)
	user := a.userName(username)
	log := a.opts.Logger.With("remote", remote.String(), "user", user)
	// One line per verification attempt, before anything else can fail:
	// the integration tests assert from it that no plaintext connection
	// ever reaches this point. Never the password.
	log.Debug("login attempt")
	release, err := a.gate.acquire(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrThrottled, err)
	}
	defer release()
	delay, refuse := a.opts.Throttle.Check(remote, user, time.Now())
	if delay > 0 {
		// Also before a refusal: holding the source's slot while waiting
		// slows a hammering client down at no cost to us.
		if err := a.opts.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrThrottled, err)
		}
	}
	if refuse {
		log.Warn("login refused: throttled", "delay", delay)
		return nil, ErrThrottled
	}
	if user == "" {
		auth.DummyVerify(password)
		a.opts.Throttle.Failure(remote, username, time.Now())
		log.Info("login failed", "delay", delay)
		return nil, mailstore.ErrAuthFailed
	}
	u, err := a.opts.Store.Authenticate(ctx, user, password)
	if err != nil {
		a.opts.Throttle.Failure(remote, user, time.Now())
		log.Info("login failed", "delay", delay)
		return nil, mailstore.ErrAuthFailed
	}
	a.opts.Throttle.Success(remote, user, time.Now())
	acct, err := a.opts.Store.Account(ctx, u.Name)
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", u.Name, err)
	}
	log.Info("login", "delay", delay)
	return acct, nil
}

// userName maps a login name ("ann" or "ann@example.com") to a store user,
// or "" when the domain is not ours.
func (a *Authenticator) userName(login string) string {
	local, domain, hasAt := strings.Cut(strings.TrimSpace(login), "@")
	if hasAt && len(a.opts.Domains) > 0 {
		ok := false
		for _, d := range a.opts.Domains {
			ok = ok || strings.EqualFold(d, domain)
		}
		if !ok {
			return ""
		}
	}
	n, err := mailstore.NormalizeUser(local)
	if err != nil {
		return ""
	}
	return n
}

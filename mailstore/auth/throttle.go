package auth

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ThrottleOptions tune a Throttle. Every zero value selects the default
// given in its comment.
//
// Failures are counted in three kinds of bucket:
//
//   - per source: the client IPv4 address, or the IPv6 /64 (one customer's
//     usual allocation, so hopping addresses inside it does not help);
//   - per account and source: failures for one user name from one source;
//   - per account: failures for one user name from anywhere.
//
// Counts decay exponentially with time constant Window: a failure weighs 1
// when it happens, 1/e (0.37) one Window later, 1/e² two Windows later. A
// bucket therefore holds about the number of failures of the last Window,
// without storing each one: a steady 45 failures per Window keep a source at
// about 45. Small counts are forgiven quickly (3 typos stop mattering after
// 5 minutes with the defaults); 50 stop causing delays after about 45 minutes.
//
// Delays: once a source bucket, or an account-and-source bucket, holds
// FreeFailures, each attempt waits BaseDelay, doubled for every further
// failure, at most MaxDelay (1s, 2s, 4s, 8s, 15s with the defaults).
//
// Refusal: a source reaching IPLimit is refused for Window, for every
// account; an account-and-source bucket reaching UserIPLimit refuses that
// account from that source for Window. A user logging in from elsewhere is
// not affected: refusing per account alone would let anyone lock any user
// out (the "account DoS").
//
// Account cap: a distributed guess against one account, from many sources
// each below the limits, fills the account bucket; at AccountLimit every
// attempt on that account, from any source, waits AccountDelay. That delay
// also hits the real user, so it must stay small (default 2 s): it is a
// brake on botnets, not a lock.
type ThrottleOptions struct {
	Window       time.Duration // decay time constant, and how long a refusal lasts; zero: 15m
	FreeFailures int           // failures before delays start; zero: 3
	BaseDelay    time.Duration // first delay; zero: 1s
	MaxDelay     time.Duration // longest source delay; zero: 15s
	IPLimit      int           // failures per source before refusal; zero: 50
	UserIPLimit  int           // failures per account and source before refusal; zero: 10
	AccountLimit int           // failures per account before AccountDelay; zero: 20
	AccountDelay time.Duration // delay once AccountLimit is reached; zero: 2s
	MaxEntries   int           // buckets kept; the least recently failed are evicted; zero: 100000
}

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Window, 15*time.Minute)
	def(&o.BaseDelay, time.Second)
	def(&o.MaxDelay, 15*time.Second)
	def(&o.AccountDelay, 2*time.Second)
	defInt(&o.FreeFailures, 3)
	defInt(&o.IPLimit, 50)
	defInt(&o.UserIPLimit, 10)
	defInt(&o.AccountLimit, 20)
	defInt(&o.MaxEntries, 100_000)
	return o
}

// Throttle slows down and then refuses failed logins, per source address and
// per account, progressively (see ThrottleOptions). It keeps its state in
// memory, bounded by MaxEntries, and is safe for concurrent use. Loopback
// and private addresses get no exemption: a local proxy or webmail that
// needs one must pass the end user's address.
//
// The caller passes the current time so tests can use a fake clock.
//
// Check does not reserve anything: parallel attempts from one source all see
// the state before any of them failed. Frontends should therefore also cap
// concurrent unauthenticated connections per source.
type Throttle struct {
	opts ThrottleOptions

	mu      sync.Mutex
	buckets map[bucketKey]*list.Element // values are *bucket
	lru     *list.List                  // front: most recent failure
}

type bucketKind uint8

const (
	kindSource bucketKind = iota + 1
	kindUserSource
	kindAccount
)

type bucketKey struct {
	kind bucketKind
	src  netip.Addr // zero for kindAccount
	user string     // empty for kindSource
}

type bucket struct {
	key          bucketKey
	level        float64   // failures, as of at
	at           time.Time // last failure
	blockedUntil time.Time // refused before this time
}

// NewThrottle returns a Throttle with opts (zero values: defaults).
func NewThrottle(opts ThrottleOptions) *Throttle {
	return &Throttle{
		opts:    opts.withDefaults(),
		buckets: make(map[bucketKey]*list.Element),
		lru:     list.New(),
	}
}

// Check is called before verifying credentials. It returns how long the
// caller must wait before answering (0: no delay) and whether the attempt is
// refused outright because of too many recent failures. A refused attempt
// should not be verified nor reported to Failure; delay is still set, and
// waiting it before sending the refusal slows a hammering client cheaply.
func (t *Throttle) Check(ip netip.Addr, user string, now time.Time) (delay time.Duration, refuse bool) {
	src, u := sourceKey(ip), userKey(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	srcLevel, srcBlocked := t.state(bucketKey{kindSource, src, ""}, now)
	delay = t.backoff(srcLevel)
	refuse = srcBlocked
	if u != "" {
		uLevel, uBlocked := t.state(bucketKey{kindUserSource, src, u}, now)
		delay = max(delay, t.backoff(uLevel))
		refuse = refuse || uBlocked
		if acct, _ := t.state(bucketKey{kindAccount, netip.Addr{}, u}, now); acct >= float64(t.opts.AccountLimit) {
			delay = max(delay, t.opts.AccountDelay)
		}
	}
	return delay, refuse
}

// Failure records a failed login by user from ip.
func (t *Throttle) Failure(ip netip.Addr, user string, now time.Time) {
	src, u := sourceKey(ip), userKey(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	t.add(bucketKey{kindSource, src, ""}, t.opts.IPLimit, true, now)
	if u != "" {
		t.add(bucketKey{kindUserSource, src, u}, t.opts.UserIPLimit, true, now)
		t.add(bucketKey{kindAccount, netip.Addr{}, u}, t.opts.AccountLimit, false, now)
	}
}

// Success records a successful login by user from ip. The user's own
// earlier failures from ip (typos) are forgiven: they are removed from the
// account-and-source bucket and subtracted from the source and account
// buckets, so that, say, a mail client opening five connections after the
// user fixed a typo is not delayed. Failures against other accounts stay,
// and a refused source stays refused.
func (t *Throttle) Success(ip netip.Addr, user string, now time.Time) {
	src, u := sourceKey(ip), userKey(user)
	if u == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := bucketKey{kindUserSource, src, u}
	own, _ := t.state(k, now)
	t.remove(k)
	if own == 0 {
		return
	}
	for _, k := range []bucketKey{{kindSource, src, ""}, {kindAccount, netip.Addr{}, u}} {
		if e, ok := t.buckets[k]; ok {
			b := e.Value.(*bucket)
			b.level = max(t.decayed(b, now)-own, 0)
			b.at = maxTime(b.at, now)
			t.lru.MoveToFront(e)
		}
	}
}

// backoff maps a bucket level to a delay.
func (t *Throttle) backoff(level float64) time.Duration {
	n := int(level) - t.opts.FreeFailures
	if n < 0 {
		return 0
	}
	if n >= 30 {
		return t.opts.MaxDelay
	}
	return min(t.opts.BaseDelay<<n, t.opts.MaxDelay)
}

// decayed returns b's level at now.
func (t *Throttle) decayed(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed <= 0 {
		return b.level
	}
	return b.level * math.Exp(-float64(elapsed)/float64(t.opts.Window))
}

// state returns a bucket's level and whether it refuses at now. Buckets
// that can no longer matter are dropped.
func (t *Throttle) state(k bucketKey, now time.Time) (float64, bool) {
	e, ok := t.buckets[k]
	if !ok {
		return 0, false
	}
	b := e.Value.(*bucket)
	level, blocked := t.decayed(b, now), now.Before(b.blockedUntil)
	if dead(level, blocked) {
		t.remove(k)
	}
	return level, blocked
}

// add records one failure in bucket k. The level is capped at limit: more
// would only lengthen the memory of an attack that is already refused. With
// refuses, reaching the limit blocks the bucket for Window.
func (t *Throttle) add(k bucketKey, limit int, refuses bool, now time.Time) {
	e, ok := t.buckets[k]
	if !ok {
		if len(t.buckets) >= t.opts.MaxEntries {
			t.remove(t.lru.Back().Value.(*bucket).key)
		}
		e = t.lru.PushFront(&bucket{key: k, at: now})
		t.buckets[k] = e
	}
	b := e.Value.(*bucket)
	b.level = min(t.decayed(b, now)+1, float64(limit))
	b.at = maxTime(b.at, now)
	if refuses && b.level >= float64(limit) {
		b.blockedUntil = b.at.Add(t.opts.Window)
	}
	t.lru.MoveToFront(e)
}

func (t *Throttle) remove(k bucketKey) {
	if e, ok := t.buckets[k]; ok {
		t.lru.Remove(e)
		delete(t.buckets, k)
	}
}

// sweep drops dead buckets from the least recently failed end of the list,
// stopping at the first live one (the list is ordered by last failure, so
// what it leaves is bounded by MaxEntries, not leaked).
func (t *Throttle) sweep(now time.Time) {
	for e := t.lru.Back(); e != nil; e = t.lru.Back() {
		b := e.Value.(*bucket)
		if !dead(t.decayed(b, now), now.Before(b.blockedUntil)) {
			return
		}
		t.remove(b.key)
	}
}

// dead reports whether a bucket no longer matters: its level is a
// negligible fraction of one failure (with the defaults, a single failure
// lives 45 minutes, a source at the limit about 2 hours) and any refusal is
// over.
func dead(level float64, blocked bool) bool {
	return level < 0.05 && !blocked
}

// sourceKey maps an address to its source bucket: IPv4 addresses (also when
// IPv4-mapped) as they are, IPv6 addresses by their /64. An invalid address
// maps to the zero Addr, one bucket shared by all such callers.
func sourceKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// userKey folds case (so "Ann" and "ann" share buckets even when the
// caller has not normalised an unknown name) and bounds the key size.
func userKey(user string) string {
	if len(user) > 64 {
		sum := sha256.Sum256([]byte(user))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return strings.ToLower(user)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

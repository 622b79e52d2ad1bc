package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// Cache remembers recent successful logins, as Dovecot's auth_cache does,
// so that a mail client opening its usual handful of connections, or
// reconnecting every few minutes, pays for one slow hash check per TTL
// instead of one per connection.
//
// What it keeps per user is an HMAC-SHA256, under a random key that never
// leaves the process, of the user's stored hash and the password that
// matched it: never the password, and nothing that helps outside this
// process. Binding the stored hash means any change to it (new password,
// rehash, user deleted and re-created) makes the entry miss even without
// Forget. Entries expire TTL after the verified login that made them; a hit
// does not extend them.
//
// Only successes are cached. A miss, including a wrong password for a user
// with an entry, tells the caller nothing: it must run the full Verify, so
// a failed login costs the same whether or not the user has an entry, and
// the response time still does not reveal which users exist.
//
// A nil *Cache is a disabled cache: Check always misses.
type Cache struct {
	ttl time.Duration
	key []byte

	mu        sync.Mutex
	m         map[string]cacheEntry
	lastSweep time.Time
	macs      sync.Pool // hash.Hash, each keyed with key
}

type cacheEntry struct {
	mac     [sha256.Size]byte
	expires time.Time
}

// maxCacheEntries bounds the memory of a cache (about 100 bytes each).
// Entries come only from verified logins, so this is far above any real
// number of users logging in within one TTL.
const maxCacheEntries = 100_000

// NewCache returns a cache whose entries live ttl, or nil (disabled) for
// ttl <= 0.
func NewCache(ttl time.Duration) *Cache {
	if ttl <= 0 {
		return nil
	}
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go ≥ 1.24)
	c := &Cache{ttl: ttl, key: key, m: map[string]cacheEntry{}}
	c.macs.New = func() any { return hmac.New(sha256.New, c.key) }
	return c
}

// TTL returns how long entries live (zero for a disabled cache).
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.ttl
}

// mac computes the entry for (user, stored hash, password). Fields are
// length-prefixed so that no two different triples share an input.
func (c *Cache) mac(user, stored, password string) [sha256.Size]byte {
	h := c.macs.Get().(hash.Hash)
	h.Reset()
	var n [8]byte
	for _, f := range []string{user, stored, password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	c.macs.Put(h)
	return out
}

// Check reports whether user logged in with password, against the same
// stored hash, less than TTL ago. The comparison takes constant time. On
// false the caller must Verify.
func (c *Cache) Check(user, stored, password string, now time.Time) bool {
	if c == nil || len(password) > MaxPasswordLen {
		return false
	}
	c.mu.Lock()
	e, ok := c.m[user]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return false
	}
	got := c.mac(user, stored, password)
	return hmac.Equal(got[:], e.mac[:])
}

// Add records that password verified against user's stored hash at now.
// Call it only after a successful Verify.
func (c *Cache) Add(user, stored, password string, now time.Time) {
	if c == nil || len(password) > MaxPasswordLen {
		return
	}
	e := cacheEntry{mac: c.mac(user, stored, password), expires: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) >= c.ttl || len(c.m) >= maxCacheEntries {
		c.sweep(now)
	}
	if _, ok := c.m[user]; !ok && len(c.m) >= maxCacheEntries {
		return
	}
	c.m[user] = e
}

// Forget drops user's entry (password changed, user deleted).
func (c *Cache) Forget(user string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, user)
	c.mu.Unlock()
}

// sweep drops expired entries; c.mu is held.
func (c *Cache) sweep(now time.Time) {
	c.lastSweep = now
	for u, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, u)
		}
	}
}

// Len returns the number of entries, expired ones not yet swept included.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

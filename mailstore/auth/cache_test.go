package auth

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	const ttl = 10 * time.Minute
	tests := []struct {
		name                   string
		user, stored, password string        // what Check is asked
		at                     time.Duration // after the Add
		forget                 string        // Forget this user before Check
		want                   bool
	}{
		{"same login", "1:ann", "H1", "pw", time.Minute, "", true},
		{"just before expiry", "1:ann", "H1", "pw", ttl - time.Nanosecond, "", true},
		{"expired", "1:ann", "H1", "pw", ttl, "", false},
		{"wrong password", "1:ann", "H1", "pW", time.Minute, "", false},
		{"password prefix", "1:ann", "H1", "p", time.Minute, "", false},
		{"empty password", "1:ann", "H1", "", time.Minute, "", false},
		{"stored hash changed", "1:ann", "H2", "pw", time.Minute, "", false},
		{"other user, same password", "2:bob", "H1", "pw", time.Minute, "", false},
		{"same name, new user", "3:ann", "H1", "pw", time.Minute, "", false},
		{"field boundaries are not ambiguous", "1:ann", "H1p", "w", time.Minute, "", false},
		{"forgotten", "1:ann", "H1", "pw", time.Minute, "1:ann", false},
		{"forgetting another user", "1:ann", "H1", "pw", time.Minute, "2:bob", true},
		{"clock going back", "1:ann", "H1", "pw", -time.Hour, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(ttl)
			c.Add("1:ann", "H1", "pw", t0)
			if tt.forget != "" {
				c.Forget(tt.forget)
			}
			if got := c.Check(tt.user, tt.stored, tt.password, t0.Add(tt.at)); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
		})
	}
}

// A hit does not extend an entry: the password is checked again one TTL
// after the login that was verified, however often the user logs in.
func TestCacheHitDoesNotExtend(t *testing.T) {
	c := NewCache(time.Minute)
	c.Add("1:ann", "H", "pw", t0)
	for s := 0; s < 60; s += 10 {
		if !c.Check("1:ann", "H", "pw", t0.Add(time.Duration(s)*time.Second)) {
			t.Fatalf("miss after %ds", s)
		}
	}
	if c.Check("1:ann", "H", "pw", t0.Add(time.Minute)) {
		t.Error("hit one TTL after the verified login")
	}
}

func TestCacheDisabled(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		c := NewCache(ttl)
		if c != nil {
			t.Fatalf("NewCache(%v) = %v, want nil", ttl, c)
		}
		c.Add("1:ann", "H", "pw", t0)
		c.Forget("1:ann")
		if c.Check("1:ann", "H", "pw", t0) || c.Len() != 0 || c.TTL() != 0 {
			t.Errorf("disabled cache (ttl %v) answers", ttl)
		}
	}
}

// Passwords over MaxPasswordLen never verify, so they are never cached
// (and never hashed into an entry).
func TestCacheLongPassword(t *testing.T) {
	c := NewCache(time.Minute)
	long := strings.Repeat("x", MaxPasswordLen+1)
	c.Add("1:ann", "H", long, t0)
	if c.Len() != 0 || c.Check("1:ann", "H", long, t0) {
		t.Error("an over-long password was cached")
	}
}

// Two caches (two processes) have different keys: an entry is worthless
// outside the cache that made it.
func TestCacheKeyPerProcess(t *testing.T) {
	a, b := NewCache(time.Minute), NewCache(time.Minute)
	if a.mac("u", "h", "pw") == b.mac("u", "h", "pw") {
		t.Error("two caches share a key")
	}
}

func TestCacheSweepsAndBounds(t *testing.T) {
	c := NewCache(time.Minute)
	for i := range 100 {
		c.Add(fmt.Sprint(i), "H", "pw", t0)
	}
	c.Add("late", "H", "pw", t0.Add(2*time.Minute))
	if n := c.Len(); n != 1 {
		t.Errorf("%d entries after the others expired, want 1", n)
	}
	for i := range maxCacheEntries + 10 {
		c.Add(fmt.Sprint(i), "H", "pw", t0.Add(3*time.Minute))
	}
	if n := c.Len(); n > maxCacheEntries {
		t.Errorf("%d entries, want at most %d", n, maxCacheEntries)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(time.Minute)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				u := fmt.Sprint(i % 13)
				now := t0.Add(time.Duration(i) * time.Second)
				switch (g + i) % 3 {
				case 0:
					c.Add(u, "H", "pw", now)
				case 1:
					c.Check(u, "H", "pw", now)
				default:
					c.Forget(u)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkCacheCheck is the cost of a cached login's password check.
func BenchmarkCacheCheck(b *testing.B) {
	c := NewCache(time.Hour)
	now := time.Now()
	c.Add("1:ann", dummyHash, "correct horse", now)
	for b.Loop() {
		if !c.Check("1:ann", dummyHash, "correct horse", now) {
			b.Fatal("miss")
		}
	}
}

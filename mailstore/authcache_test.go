package mailstore

import (
	"errors"
	"testing"
	"time"

	"sealpost/mailstore/auth"
)

// login is one step of an Authenticate script: which account and password,
// whether it must succeed, and whether it must run the full (slow) hash
// check, which auth.SlowChecks counts.
type login struct {
	user, password string
	ok, slow       bool
}

func checkLogins(t *testing.T, s *Store, steps []login) {
	t.Helper()
	for i, l := range steps {
		before := auth.SlowChecks()
		_, err := s.Authenticate(ctx, l.user, l.password)
		slow := auth.SlowChecks() - before
		switch {
		case l.ok && err != nil:
			t.Errorf("step %d: %s/%s refused: %v", i, l.user, l.password, err)
		case !l.ok && !errors.Is(err, ErrAuthFailed):
			t.Errorf("step %d: %s/%s: %v, want ErrAuthFailed", i, l.user, l.password, err)
		}
		if want := map[bool]int64{true: 1, false: 0}[l.slow]; slow != want {
			t.Errorf("step %d: %s/%s ran %d slow checks, want %d", i, l.user, l.password, slow, want)
		}
	}
}

func openCached(t *testing.T, ttl time.Duration) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{AuthCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Not parallel: auth.SlowChecks counts the whole process.
func TestAuthCache(t *testing.T) {
	s := openCached(t, time.Hour)
	newUser(t, s, "ann")
	newUser(t, s, "bob")
	checkLogins(t, s, []login{
		{"ann", "pw-ann", true, true},  // verified, now cached
		{"ann", "pw-ann", true, false}, // cached
		{"Ann", "pw-ann", true, false}, // the same user
		// A wrong password for a cached user takes the full check, as
		// for an uncached or unknown user: failures take the same time.
		{"ann", "wrong", false, true},
		{"ann", "", false, true},
		{"bob", "wrong", false, true},
		{"nobody", "pw-ann", false, true},
		{"bob", "pw-ann", false, true}, // ann's password is not bob's
		// Failures neither evict nor get cached.
		{"ann", "pw-ann", true, false},
		{"ann", "wrong", false, true},
	})
	if err := s.SetPassword(ctx, "ann", "new"); err != nil {
		t.Fatal(err)
	}
	checkLogins(t, s, []login{
		{"ann", "pw-ann", false, true},
		{"ann", "new", true, true},
		{"ann", "new", true, false},
	})
	// Deleted and created again: another user with another hash.
	if err := s.DeleteUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	checkLogins(t, s, []login{{"ann", "new", false, true}})
	if _, err := s.CreateUser(ctx, "ann", "new", 0); err != nil {
		t.Fatal(err)
	}
	checkLogins(t, s, []login{
		{"ann", "new", true, true},
		{"ann", "new", true, false},
	})
}

func TestAuthCacheDisabled(t *testing.T) {
	s := openCached(t, 0)
	newUser(t, s, "ann")
	checkLogins(t, s, []login{
		{"ann", "pw-ann", true, true},
		{"ann", "pw-ann", true, true},
	})
}

func TestAuthCacheExpires(t *testing.T) {
	s := openCached(t, 50*time.Millisecond)
	newUser(t, s, "ann")
	checkLogins(t, s, []login{{"ann", "pw-ann", true, true}, {"ann", "pw-ann", true, false}})
	time.Sleep(60 * time.Millisecond)
	checkLogins(t, s, []login{{"ann", "pw-ann", true, true}})
}

// A hash with other argon2id parameters (here Dovecot's, m=64 MiB, t=3)
// still verifies and is replaced by one with the current parameters at the
// first successful login, which the cache then serves.
func TestRehashOnLogin(t *testing.T) {
	const old = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74"
	s := openCached(t, time.Hour)
	if _, err := s.ImportUser(ctx, "carol", old, 0); err != nil {
		t.Fatal(err)
	}
	checkLogins(t, s, []login{{"carol", "wrong", false, true}})
	if _, h, _ := s.lookup("carol"); h != old {
		t.Fatal("a failed login changed the hash")
	}
	before := auth.SlowChecks()
	if _, err := s.Authenticate(ctx, "carol", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if n := auth.SlowChecks() - before; n != 2 {
		t.Errorf("first login ran %d slow checks, want 2 (verify, rehash)", n)
	}
	_, h, _ := s.lookup("carol")
	if auth.NeedsRehash(h) {
		t.Errorf("hash not upgraded: %s", h[:40])
	}
	checkLogins(t, s, []login{{"carol", "correct horse", true, false}})
	// The new hash is the real thing, not just a cache entry.
	u, err := s.LookupUser(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	s.authCache.Forget(cacheKey(u))
	checkLogins(t, s, []login{{"carol", "correct horse", true, true}, {"carol", "wrong", false, true}})
}

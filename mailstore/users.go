package mailstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"sealpost/mailstore/auth"
)

// ErrAuthFailed: wrong user name or password. Which of the two is never told.
var ErrAuthFailed = errors.New("mailstore: authentication failed")

type userRecord struct {
	ID      UserID    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"hash"`
	Quota   int64     `json:"quota,omitempty"`
	Created time.Time `json:"created"`
}

func (r *userRecord) user() User {
	return User{ID: r.ID, Name: r.Name, Quota: r.Quota, Created: r.Created}
}

// CreateUser adds a user with a password (hashed with argon2id) and a quota
// in bytes (0 = unlimited), and creates the default mailboxes.
func (s *Store) CreateUser(ctx context.Context, name, password string, quota int64) (User, error) {
	if password == "" {
		return User{}, fmt.Errorf("create user %s: empty password: %w", name, ErrBadName)
	}
	hash, err := auth.Hash(password)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", name, err)
	}
	return s.ImportUser(ctx, name, hash, quota)
}

// ImportUser adds a user with an existing password hash (argon2id, bcrypt
// or SHA512-CRYPT, optionally with a Dovecot {SCHEME} prefix).
func (s *Store) ImportUser(ctx context.Context, name, hash string, quota int64) (User, error) {
	n, err := NormalizeUser(name)
	if err != nil {
		return User{}, err
	}
	if quota < 0 {
		return User{}, fmt.Errorf("create user %s: negative quota", n)
	}
	if _, err := auth.Verify(hash, ""); errors.Is(err, auth.ErrUnknownScheme) {
		return User{}, fmt.Errorf("create user %s: %w", n, err)
	}
	s.failFloor.note(hash)
	rec := userRecord{Name: n, Hash: hash, Quota: quota, Created: time.Now().UTC().Truncate(time.Second)}
	err = s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bktUsers)
		if users.Get([]byte(n)) != nil {
			return fmt.Errorf("create user %s: %w", n, ErrUserExists)
		}
		meta := tx.Bucket(bktMeta)
		next := uint64(1)
		if v := meta.Get(keyNext); len(v) == 8 {
			next = binary.BigEndian.Uint64(v)
		}
		rec.ID = UserID(next)
		if err := meta.Put(keyNext, idKey(next+1)); err != nil {
			return err
		}
		return putUser(users, &rec)
	})
	if err != nil {
		return User{}, err
	}
	// A leftover directory with this ID can only come from a crash during
	// DeleteUser; the new user must not inherit its mail.
	if err := os.RemoveAll(s.userDir(rec.ID)); err != nil {
		return User{}, fmt.Errorf("create user %s: %w", n, err)
	}
	// Opening the account creates its default mailboxes. Should this crash
	// first, the next open creates them (openAccount), so the user can
	// never end up without an INBOX.
	if _, err := s.account(rec.user()); err != nil {
		return User{}, fmt.Errorf("create user %s: %w", n, err)
	}
	return rec.user(), nil
}

func putUser(b *bolt.Bucket, rec *userRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(rec.Name), v)
}

func (s *Store) lookup(name string) (User, string, error) {
	n, err := NormalizeUser(name)
	if err != nil {
		return User{}, "", fmt.Errorf("user %q: %w", name, ErrNoSuchUser)
	}
	var rec userRecord
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktUsers).Get([]byte(n))
		if v == nil {
			return fmt.Errorf("user %s: %w", n, ErrNoSuchUser)
		}
		return json.Unmarshal(v, &rec)
	})
	return rec.user(), rec.Hash, err
}

// LookupUser returns the named user.
func (s *Store) LookupUser(ctx context.Context, name string) (User, error) {
	u, _, err := s.lookup(name)
	return u, err
}

// Authenticate checks a password. It answers ErrAuthFailed for an unknown
// user and a wrong password alike, and every failure takes at least as
// long as checking the costliest kind of hash the store holds (failFloor),
// so timing does not tell which users exist. A hash in an older scheme or
// with other parameters is upgraded on success.
//
// With Options.AuthCacheTTL, a password that verified for this user and
// this stored hash within the TTL is accepted without the slow check. Any
// other attempt, a wrong password for a cached user included, runs the
// full check, so failures take the same time whether or not the user is
// cached; failures are never cached.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	start := time.Now()
	u, hash, err := s.lookup(name)
	if err != nil {
		auth.DummyVerify(password)
		s.failFloor.wait(ctx, start, s.storedHashes)
		return User{}, ErrAuthFailed
	}
	// The cache key holds the user ID too: a user deleted and created
	// again under the same name is another user.
	key := cacheKey(u)
	if s.authCache.Check(key, hash, password, time.Now()) {
		return u, nil
	}
	ok, err := auth.Verify(hash, password)
	if err != nil {
		s.log.Warn("unusable password hash", "user", u.Name, "err", err)
	}
	if !ok {
		s.failFloor.wait(ctx, start, s.storedHashes)
		return User{}, ErrAuthFailed
	}
	if auth.NeedsRehash(hash) {
		if h, err := auth.Hash(password); err == nil {
			// Only the hash this check verified is replaced: a password
			// changed meanwhile stays.
			err := s.updateUser(u.Name, func(r *userRecord) error {
				if r.ID != u.ID || r.Hash != hash {
					return errHashChanged
				}
				r.Hash = h
				return nil
			})
			if err == nil {
				hash = h
			}
		}
	}
	s.authCache.Add(key, hash, password, time.Now())
	return u, nil
}

var errHashChanged = errors.New("password hash changed meanwhile")

// storedHashes returns every user's password hash (for failFloor).
func (s *Store) storedHashes() []string {
	var hashes []string
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUsers).ForEach(func(_, v []byte) error {
			var rec userRecord
			if json.Unmarshal(v, &rec) == nil {
				hashes = append(hashes, rec.Hash)
			}
			return nil
		})
	})
	return hashes
}

func cacheKey(u User) string { return fmt.Sprintf("%d:%s", u.ID, u.Name) }

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if password == "" {
		return fmt.Errorf("set password of %s: empty password: %w", name, ErrBadName)
	}
	h, err := auth.Hash(password)
	if err != nil {
		return err
	}
	var u User
	err = s.updateUser(name, func(r *userRecord) error { r.Hash = h; u = r.user(); return nil })
	if err == nil {
		s.authCache.Forget(cacheKey(u))
	}
	return err
}

// SetQuota changes a user's quota in bytes (0 = unlimited).
func (s *Store) SetQuota(ctx context.Context, name string, quota int64) error {
	if quota < 0 {
		return fmt.Errorf("set quota of %s: negative quota", name)
	}
	err := s.updateUser(name, func(r *userRecord) error { r.Quota = quota; return nil })
	if err != nil {
		return err
	}
	u, _, err := s.lookup(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if a := s.accounts[u.ID]; a != nil {
		a.quota.Store(quota)
	}
	s.mu.Unlock()
	return nil
}

func (s *Store) updateUser(name string, fn func(*userRecord) error) error {
	n, err := NormalizeUser(name)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, ErrNoSuchUser)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktUsers)
		v := b.Get([]byte(n))
		if v == nil {
			return fmt.Errorf("user %s: %w", n, ErrNoSuchUser)
		}
		var rec userRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		return putUser(b, &rec)
	})
}

// DeleteUser removes a user and all of their mail. Operations in flight on
// the user's account finish first; later ones fail with ErrClosed, and
// the account cannot be opened again.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	u, _, err := s.lookup(name)
	if err != nil {
		return err
	}
	// The record goes and the open account leaves the map in one step
	// under s.mu, which account() also holds to open an account: no
	// delivery can reopen (and so recreate) the store being removed.
	s.mu.Lock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktUsers)
		var rec userRecord
		if v := b.Get([]byte(u.Name)); v == nil || json.Unmarshal(v, &rec) != nil || rec.ID != u.ID {
			return fmt.Errorf("user %s: %w", u.Name, ErrNoSuchUser)
		}
		return b.Delete([]byte(u.Name))
	})
	a := s.accounts[u.ID]
	if err == nil {
		delete(s.accounts, u.ID)
		s.authCache.Forget(cacheKey(u))
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete user %s: %w", u.Name, err)
	}
	if a != nil {
		a.close()
	}
	// Should this fail or crash half-way, the next Open removes the rest
	// (Store.sweep): the record is already gone.
	if err := os.RemoveAll(s.userDir(u.ID)); err != nil {
		return fmt.Errorf("delete user %s: remove mail: %w", u.Name, err)
	}
	return nil
}

// Users lists all users sorted by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUsers).ForEach(func(k, v []byte) error {
			var rec userRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out = append(out, rec.user())
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

package mailstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"sealpost/mailstore/auth"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// MaxMessageSize caps one message in bytes as read (before line ends
	// are normalised to CRLF); zero means 64 MiB. Deliver accepts
	// TraceAllowance bytes more.
	MaxMessageSize int64
	// Logger receives store diagnostics; nil discards them.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process to release
	// the bbolt files; zero means 1 s. (Zero in bbolt would wait forever.)
	LockTimeout time.Duration
	// Observer receives commit and fetch latencies; nil: none.
	Observer Observer
	// AuthCacheTTL is how long Authenticate remembers a successful login
	// (auth.Cache), so that the same password for the same user skips the
	// slow hash check; zero disables the cache.
	AuthCacheTTL time.Duration
	// InlineBodyMax is the largest body, in bytes as stored, kept inside
	// the account's database instead of a file of its own (bodies.go);
	// zero means DefaultInlineBodyMax, negative: every body in a file.
	// At most 1 MiB.
	InlineBodyMax int64
	// Faults injects write errors (tests only; nil in production).
	Faults *Faults
}

// Store is an open message store. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	db   *bolt.DB // global.db

	authCache *auth.Cache // nil when disabled
	failFloor failFloor

	mu       sync.Mutex
	accounts map[UserID]*Account
	closed   bool
}

var (
	bktUsers = []byte("users") // name -> userRecord (JSON)
	bktMeta  = []byte("meta")
	keyNext  = []byte("nextuserid")
)

// Open opens (creating if needed) the store in dir. Only one process can
// have a store open; a second Open fails after LockTimeout.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 64 << 20
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := makeStoreDirs(dir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "global.db"), 0o600, boltOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, lockErr(err))
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktUsers, bktMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		// global.db may be new: make its directory entry durable.
		err = syncDir(dir)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger, db: db, accounts: map[UserID]*Account{},
		authCache: auth.NewCache(opts.AuthCacheTTL)}
	if err := s.sweep(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// makeStoreDirs creates the data directory and users/. Open fsyncs the
// data directory (users/ and global.db are entries in it) once global.db
// exists; the data directory's own entry is fsynced here, on every Open,
// because the caller (serve) may just have created it, or an earlier
// process may have died before its fsync. That is best effort: the parent
// may not be readable to us.
func makeStoreDirs(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o700); err != nil {
		return err
	}
	_ = syncDir(filepath.Dir(filepath.Clean(dir)))
	return nil
}

// sweep runs once at Open, before any account is in use. It removes what a
// crash can leave behind that no later step would: the directory of a user
// whose record is gone (DeleteUser interrupted between the record and the
// files), and partly written bodies in every user's tmp/. Orphaned body
// files in blobs/ need the user's records to be recognised, so they are
// removed when the account is first opened (see cleanOrphans).
func (s *Store) sweep() error {
	live := map[string]bool{}
	damaged := false
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUsers).ForEach(func(k, v []byte) error {
			var rec userRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				// One damaged record must not keep every other user
				// out, but its directory cannot be told from a deleted
				// user's: remove no user directory this time.
				s.log.Error("damaged user record; run sealpost check", "user", string(k), "err", err)
				damaged = true
				return nil
			}
			live[fmt.Sprint(uint64(rec.ID))] = true
			return nil
		})
	})
	if err != nil {
		return err
	}
	users := filepath.Join(s.dir, "users")
	ents, err := os.ReadDir(users)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(users, e.Name())
		if !live[e.Name()] && !damaged {
			s.log.Info("removing the files of a deleted user", "dir", p)
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		if err := clearDir(filepath.Join(p, "tmp")); err != nil {
			return err
		}
	}
	return nil
}

// clearDir removes every file in dir; a missing dir is fine.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// ErrLocked means another process (usually a running `sealpost serve`) has
// the store open.
var ErrLocked = errors.New("mailstore: store is in use by another process")

func lockErr(err error) error {
	if errors.Is(err, bolt.ErrTimeout) {
		return ErrLocked
	}
	return err
}

func boltOptions(opts Options) *bolt.Options {
	return &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType}
}

// Dir returns the store's data directory.
func (s *Store) Dir() string { return s.dir }

// MaxMessageSize returns the largest message the store accepts.
func (s *Store) MaxMessageSize() int64 { return s.opts.MaxMessageSize }

// Close closes every open account and the global database. Writes in
// flight finish first.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	accts := s.accounts
	s.accounts = nil
	s.mu.Unlock()
	var errs []error
	for _, a := range accts {
		errs = append(errs, a.close())
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// Account returns the account of the named user, opening its database on
// first use.
func (s *Store) Account(ctx context.Context, name string) (*Account, error) {
	u, _, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return s.account(u)
}

func (s *Store) account(u User) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if a := s.accounts[u.ID]; a != nil {
		return a, nil
	}
	// u may have been looked up before a concurrent DeleteUser: check
	// again under s.mu (which DeleteUser holds while it removes the
	// record) so a deleted user's store is never recreated.
	if err := s.checkLive(u); err != nil {
		return nil, err
	}
	a, err := openAccount(s, u)
	if err != nil {
		return nil, noSpace(fmt.Errorf("open account %s: %w", u.Name, err))
	}
	s.accounts[u.ID] = a
	return a, nil
}

// checkLive fails with ErrNoSuchUser unless u's record still exists.
func (s *Store) checkLive(u User) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktUsers).Get([]byte(u.Name))
		var rec userRecord
		if v == nil || json.Unmarshal(v, &rec) != nil || rec.ID != u.ID {
			return fmt.Errorf("user %s: %w", u.Name, ErrNoSuchUser)
		}
		return nil
	})
}

func (s *Store) userDir(id UserID) string {
	return filepath.Join(s.dir, "users", fmt.Sprint(uint64(id)))
}

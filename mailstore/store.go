package mailstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// MaxMessageSize caps one message in bytes; zero means 64 MiB.
	MaxMessageSize int64
	// Logger receives store diagnostics; nil discards them.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process to release
	// the bbolt files; zero means 1 s. (Zero in bbolt would wait forever.)
	LockTimeout time.Duration
	// Observer receives commit and fetch latencies; nil: none.
	Observer Observer
}

// Store is an open message store. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	db   *bolt.DB // global.db

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
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o700); err != nil {
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
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return &Store{dir: dir, opts: opts, log: opts.Logger, db: db, accounts: map[UserID]*Account{}}, nil
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
	a, err := openAccount(s, u)
	if err != nil {
		return nil, fmt.Errorf("open account %s: %w", u.Name, err)
	}
	s.accounts[u.ID] = a
	return a, nil
}

func (s *Store) userDir(id UserID) string {
	return filepath.Join(s.dir, "users", fmt.Sprint(uint64(id)))
}

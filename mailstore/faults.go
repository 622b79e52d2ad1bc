package mailstore

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
)

// ErrNoSpace: the filesystem of the data directory is full (ENOSPC) or the
// server's user is over its filesystem quota (EDQUOT). Nothing was stored;
// the same write succeeds once space is freed, without a restart. It wraps
// the system error.
var ErrNoSpace = errors.New("mailstore: no space left on the storage device")

// noSpace wraps a write's error in ErrNoSpace when the disk is full.
// bbolt formats some of its errors with %s, losing the errno, so their
// text is matched too.
func noSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Faults make the store's writes fail on demand, as a full or failing disk
// would. They exist for tests of how the frontends answer (where no small
// filesystem can be mounted) and are nil in production. Safe for
// concurrent use; the zero value injects nothing.
type Faults struct {
	bodies  atomic.Pointer[error]
	commits atomic.Pointer[error]
}

// FailBodies makes every body file write (delivery, APPEND, COPY) fail
// with err at its fsync, after the data was written; nil stops it.
func (f *Faults) FailBodies(err error) { f.bodies.Store(errPtr(err)) }

// FailCommits makes every write transaction fail with err before it
// commits; nil stops it.
func (f *Faults) FailCommits(err error) { f.commits.Store(errPtr(err)) }

func errPtr(err error) *error {
	if err == nil {
		return nil
	}
	return &err
}

func (f *Faults) body() error {
	if f == nil {
		return nil
	}
	if p := f.bodies.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *Faults) commit() error {
	if f == nil {
		return nil
	}
	if p := f.commits.Load(); p != nil {
		return *p
	}
	return nil
}

package mailstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Account is one user's mail: their mailboxes and messages. Get it from
// Store.Account. It is safe for concurrent use.
type Account struct {
	store *Store
	user  User
	dir   string
	db    *bolt.DB
	quota atomic.Int64

	ops  chan *writeOp
	quit chan struct{}
	wg   sync.WaitGroup

	watchMu  sync.Mutex
	watchers map[int]func(Event)
	nextW    int

	popMu     sync.Mutex
	popLocked bool
}

// Per-account bbolt layout (schema.go in spirit; small enough to keep here).
var (
	bktAcctMeta = []byte("meta")   // counters below
	bktNames    = []byte("names")  // mailbox name -> mailbox id
	bktMboxes   = []byte("mboxes") // mailbox id -> bucket {info, msgs, env, part}
	keyInfo     = []byte("info")
	bktMsgs     = []byte("msgs") // UID -> record
	bktEnv      = []byte("env")  // UID -> msgmeta envelope
	bktPart     = []byte("part") // UID -> msgmeta body structure
	keySeq      = []byte("changeseq")
	keyModSeq   = []byte("modseq")
	keyUIDV     = []byte("uidvalidity")
	keyBytes    = []byte("bytes")
	keyNextMbox = []byte("nextmbox")
)

func openAccount(s *Store, u User) (*Account, error) {
	dir := s.userDir(u.ID)
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	db, err := bolt.Open(filepath.Join(dir, "mail.db"), 0o600, boltOptions(s.opts))
	if err != nil {
		return nil, lockErr(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktAcctMeta, bktNames, bktMboxes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	a := &Account{
		store: s, user: u, dir: dir, db: db,
		ops: make(chan *writeOp, 256), quit: make(chan struct{}),
		watchers: map[int]func(Event){},
	}
	a.quota.Store(u.Quota)
	if err := a.cleanOrphans(); err != nil {
		db.Close()
		return nil, fmt.Errorf("clean orphans: %w", err)
	}
	a.wg.Add(1)
	go a.committer()
	return a, nil
}

// User returns the account's owner.
func (a *Account) User() User { return a.user }

func (a *Account) close() error {
	select {
	case <-a.quit:
		return nil
	default:
	}
	close(a.quit)
	a.wg.Wait()
	return a.db.Close()
}

// writeOp is one caller's write, run by the committer inside a shared
// transaction. fn may run more than once (see runBatch), so it must keep
// all its side effects inside the transaction or the wtx.
type writeOp struct {
	fn   func(*wtx) error
	w    *wtx
	err  error
	done chan error
}

var errBatchAborted = errors.New("batch aborted")

// write runs fn in a write transaction and returns after the commit (and
// its fsync) or the failure. Callers never abandon a write: once queued it
// either commits or fails, and the caller learns which.
func (a *Account) write(fn func(*wtx) error) error {
	op := &writeOp{fn: fn, done: make(chan error, 1)}
	select {
	case a.ops <- op:
	case <-a.quit:
		return ErrClosed
	}
	return <-op.done
}

func (a *Account) committer() {
	defer a.wg.Done()
	for {
		var op *writeOp
		select {
		case op = <-a.ops:
		case <-a.quit:
			// Answer anything still queued so no caller hangs.
			for {
				select {
				case op := <-a.ops:
					op.done <- ErrClosed
				default:
					return
				}
			}
		}
		batch := []*writeOp{op}
	drain:
		for len(batch) < 256 {
			select {
			case op := <-a.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		a.runBatch(batch)
	}
}

// runBatch commits a batch in one transaction (group commit). If any write
// fails, the transaction is rolled back and each write runs on its own.
func (a *Account) runBatch(batch []*writeOp) {
	start := time.Now()
	err := a.db.Update(func(tx *bolt.Tx) error {
		for _, op := range batch {
			op.w = &wtx{tx: tx, a: a}
			op.err = nil
			if err := op.fn(op.w); err != nil {
				op.err = err
				return errBatchAborted
			}
			if err := op.w.finish(); err != nil {
				op.err = err
				return errBatchAborted
			}
		}
		return nil
	})
	a.store.observeCommit(start)
	if err != nil {
		if len(batch) > 1 {
			for _, op := range batch {
				a.runBatch([]*writeOp{op})
			}
			return
		}
		if batch[0].err != nil {
			err = batch[0].err
		}
		batch[0].done <- err
		return
	}
	for _, op := range batch {
		a.publish(op.w.events)
		for _, f := range op.w.afterCommit {
			f()
		}
		op.done <- nil
	}
}

// wtx is a write transaction as one write operation sees it.
type wtx struct {
	tx          *bolt.Tx
	a           *Account
	events      []Event
	afterCommit []func()
	modseq      uint64 // allocated lazily, one per write op
	bytesDelta  int64
}

func (w *wtx) meta() *bolt.Bucket { return w.tx.Bucket(bktAcctMeta) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// nextModSeq returns this write's MODSEQ (RFC 7162): every change made by
// one write operation shares one value.
func (w *wtx) nextModSeq() uint64 {
	if w.modseq == 0 {
		w.modseq = getU64(w.meta(), keyModSeq) + 1
	}
	return w.modseq
}

func (w *wtx) emit(e Event) { w.events = append(w.events, e) }

// finish stores the counters a write changed and stamps its events with
// the account's change sequence number.
func (w *wtx) finish() error {
	m := w.meta()
	if w.modseq != 0 {
		if err := m.Put(keyModSeq, idKey(w.modseq)); err != nil {
			return err
		}
	}
	if w.bytesDelta != 0 {
		used := int64(getU64(m, keyBytes)) + w.bytesDelta
		if used < 0 {
			used = 0
		}
		if err := m.Put(keyBytes, idKey(uint64(used))); err != nil {
			return err
		}
	}
	if len(w.events) == 0 {
		return nil
	}
	seq := getU64(m, keySeq) + 1
	for i := range w.events {
		w.events[i] = w.events[i].withSeq(seq)
	}
	return m.Put(keySeq, idKey(seq))
}

// Usage returns the bytes stored for the account and its quota (0 = none).
func (a *Account) Usage() (used, quota int64, err error) {
	err = a.db.View(func(tx *bolt.Tx) error {
		used = int64(getU64(tx.Bucket(bktAcctMeta), keyBytes))
		return nil
	})
	return used, a.quota.Load(), err
}

// LockPOP3 takes the account's exclusive POP3 lock: RFC 1939 §8 allows one
// POP3 session per maildrop. It fails with ErrPOP3Locked while another
// session holds it; call unlock when the session ends.
func (a *Account) LockPOP3() (unlock func(), err error) {
	a.popMu.Lock()
	defer a.popMu.Unlock()
	if a.popLocked {
		return nil, ErrPOP3Locked
	}
	a.popLocked = true
	var once sync.Once
	return func() {
		once.Do(func() {
			a.popMu.Lock()
			a.popLocked = false
			a.popMu.Unlock()
		})
	}, nil
}

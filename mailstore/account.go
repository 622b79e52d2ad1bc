package mailstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
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

	ops     chan *writeOp
	quit    chan struct{} // closed by close: the committer stops
	stopped chan struct{} // closed when the committer has returned
	wg      sync.WaitGroup

	// life gates the operations that touch the account's files or queue
	// writes: close waits for those in flight and refuses new ones, so
	// nothing writes into a directory DeleteUser is removing and no write
	// is queued after the committer stopped.
	lifeMu   sync.Mutex
	closing  bool
	inflight sync.WaitGroup
	once     sync.Once
	closeErr error

	watchMu  sync.Mutex
	watchers map[int]func(Event)
	nextW    int

	popMu     sync.Mutex
	popLocked bool

	removals removalHold // postpones body removal while a backup or check reads (backup.go)

	uids uidCache // UID lists of large mailboxes for Snapshot (mailbox.go)
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
	if err := makeAccountDirs(dir); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "mail.db"), 0o600, boltOptions(s.opts))
	if err != nil {
		return nil, lockErr(err)
	}
	a := &Account{
		store: s, user: u, dir: dir, db: db,
		ops: make(chan *writeOp, 256), quit: make(chan struct{}), stopped: make(chan struct{}),
		watchers: map[int]func(Event){},
	}
	a.quota.Store(u.Quota)
	// The buckets and the default mailboxes are created in the first
	// transaction of a new account, and checked again at every open: a
	// crash right after the user's global record was committed must not
	// leave an account without INBOX.
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktAcctMeta, bktNames, bktMboxes, bktBodies} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return (&wtx{tx: tx, a: a}).ensureDefaults()
	})
	if err == nil {
		// mail.db may be new: make its directory entry durable too.
		err = syncDir(dir)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := a.cleanOrphans(); err != nil {
		db.Close()
		return nil, fmt.Errorf("clean orphans: %w", err)
	}
	a.wg.Add(1)
	go a.committer()
	return a, nil
}

// makeAccountDirs creates an account's directories, including the 256
// blob shards (so placing a body never creates a directory), and fsyncs
// their parents. Directory entries are not durable until their parent is
// fsynced; doing it here, before the account serves any write, means no
// acknowledged message can sit in a directory that a crash would lose.
// The parents are fsynced even when nothing was created, because an
// earlier process may have created the entries and died before its fsync.
func makeAccountDirs(dir string) error {
	blobs := filepath.Join(dir, "blobs")
	dirs := []string{dir, blobs, filepath.Join(dir, "tmp")}
	for i := range 256 {
		dirs = append(dirs, filepath.Join(blobs, fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create account dir: %w", err)
		}
	}
	for _, d := range []string{filepath.Dir(dir), dir, blobs} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// User returns the account's owner.
func (a *Account) User() User { return a.user }

// close stops the account: new operations fail with ErrClosed, those in
// flight finish first, then the committer stops and the database closes.
// It is safe to call more than once.
func (a *Account) close() error {
	a.once.Do(func() {
		a.lifeMu.Lock()
		a.closing = true
		a.lifeMu.Unlock()
		a.inflight.Wait()
		close(a.quit)
		a.wg.Wait()
		a.closeErr = a.db.Close()
	})
	return a.closeErr
}

// hold admits one operation unless the account is closing; the caller
// must call the returned release when done.
func (a *Account) hold() (release func(), err error) {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.closing {
		return nil, ErrClosed
	}
	a.inflight.Add(1)
	return a.inflight.Done, nil
}

// writeOp is one caller's write, run by the committer inside a shared
// transaction. fn may run more than once (see runBatch), so it must keep
// all its side effects inside the transaction or the wtx.
type writeOp struct {
	fn   func(*wtx) error
	dirs []string // to fsync before the commit (new body files in them)
	w    *wtx
	err  error
	done chan error
}

var errBatchAborted = errors.New("batch aborted")

// write runs fn in a write transaction and returns after the commit (and
// its fsync) or the failure. Callers never abandon a write: once queued it
// either commits or fails, and the caller learns which.
func (a *Account) write(fn func(*wtx) error) error {
	return a.writeAfterSync(nil, fn)
}

// writeAfterSync is write for an operation that records new body files
// (written and fsynced by the caller) in dirs: before the transaction
// commits, the committer fsyncs each directory, once for all the
// operations of a batch, so the bodies' names are durable before any
// record points at them. If that fsync fails, the operation fails
// without running.
func (a *Account) writeAfterSync(dirs []string, fn func(*wtx) error) error {
	release, err := a.hold()
	if err != nil {
		return err
	}
	defer release()
	op := &writeOp{fn: fn, dirs: dirs, done: make(chan error, 1)}
	select {
	case a.ops <- op:
	case <-a.stopped:
		return ErrClosed
	}
	// hold keeps the committer running until this write is answered; the
	// stopped case is a second line of defence so that a write can never
	// wait for a committer that is gone.
	select {
	case err := <-op.done:
		return noSpace(err)
	case <-a.stopped:
		select {
		case err := <-op.done:
			return noSpace(err)
		default:
			return ErrClosed
		}
	}
}

func (a *Account) committer() {
	defer a.wg.Done()
	defer close(a.stopped)
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
		if batch = a.syncBatchDirs(batch); len(batch) > 0 {
			a.runBatch(batch)
		}
	}
}

// syncBatchDirs fsyncs each directory the batch's operations need once
// (group commit for directory entries: concurrent bodies usually share a
// shard, see newBlobName). Operations whose directory failed to sync are
// answered with the error and dropped from the batch.
func (a *Account) syncBatchDirs(batch []*writeOp) []*writeOp {
	synced := map[string]error{}
	kept := batch[:0]
	for _, op := range batch {
		var err error
		for _, d := range op.dirs {
			if d == "" {
				continue
			}
			e, ok := synced[d]
			if !ok {
				e = syncDir(d)
				synced[d] = e
			}
			if err == nil {
				err = e
			}
		}
		if err != nil {
			op.done <- fmt.Errorf("store message: %w", err)
			continue
		}
		kept = append(kept, op)
	}
	return kept
}

// runBatch commits a batch in one transaction (group commit). If any write
// fails, the transaction is rolled back and each write runs on its own.
func (a *Account) runBatch(batch []*writeOp) {
	start := time.Now()
	err := a.db.Update(func(tx *bolt.Tx) error {
		if err := a.store.opts.Faults.commit(); err != nil {
			return err
		}
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

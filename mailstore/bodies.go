package mailstore

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Small bodies live inside the account's database, in the bodies bucket
// under a name starting with "i", written in the same transaction as
// their record. A new file costs an inode, a directory entry and the
// journal commits of two fsyncs (about 1 ms on the disks we measured,
// five times an fdatasync of bbolt's already allocated pages); a body in
// bbolt rides on the commit's fsync instead. Large bodies stay in files
// (see blobs.go) so a slow reader never holds a read transaction open.
//
// Inline bodies are copied out of the transaction when opened, so no
// reader keeps bbolt's mmap pinned; at DefaultInlineBodyMax that copy is
// at most 64 KiB.

// DefaultInlineBodyMax is the largest body (as stored, CRLF) kept in the
// database when Options.InlineBodyMax is zero.
const DefaultInlineBodyMax = 64 << 10

var bktBodies = []byte("bodies") // inline body name -> body

func isInline(name string) bool { return len(name) > 0 && name[0] == 'i' }

// newInlineName returns a random name for an inline body. File names are
// hex, so the "i" prefix never clashes with them.
func newInlineName() string {
	var b [12]byte
	rand.Read(b[:])
	return "i" + hex.EncodeToString(b[:])
}

func (s *Store) inlineMax() int {
	switch m := s.opts.InlineBodyMax; {
	case m == 0:
		return DefaultInlineBodyMax
	case m < 0:
		return -1
	default:
		return int(min(m, 1<<20))
	}
}

// Body is an opened message body.
type Body interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
}

type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// getInline returns the inline body name from b (nil: none). Unlike Get
// it tells an empty body from a missing one.
func getInline(b *bolt.Bucket, name string) (v []byte, ok bool) {
	if b == nil {
		return nil, false
	}
	k, v := b.Cursor().Seek([]byte(name))
	if string(k) != name {
		return nil, false
	}
	return v, true
}

// openInline copies an inline body out of the database.
func (a *Account) openInline(m Message) (Body, error) {
	var body []byte
	found := false
	err := a.db.View(func(tx *bolt.Tx) error {
		v, ok := getInline(tx.Bucket(bktBodies), m.Blob)
		body, found = bytes.Clone(v), ok
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open message %d: %w", m.UID, err)
	}
	if !found {
		return nil, fmt.Errorf("open message %d: %w", m.UID, ErrGone)
	}
	return memBody{bytes.NewReader(body)}, nil
}

// putInline stores a new inline body in w's transaction.
func (w *wtx) putInline(name string, body []byte) error {
	return w.tx.Bucket(bktBodies).Put([]byte(name), body)
}

// copyInline gives the inline body src a second name for a COPY, inside
// w's transaction. ok is false if src is gone (expunged meanwhile).
func (w *wtx) copyInline(src, dst string) (ok bool, err error) {
	if err := w.a.store.opts.Faults.body(); err != nil {
		return false, err
	}
	b := w.tx.Bucket(bktBodies)
	v, ok := getInline(b, src)
	if !ok {
		return false, nil
	}
	// The value lives in the mmap, which a growing commit may remap.
	return true, b.Put([]byte(dst), bytes.Clone(v))
}

// dropBodies deletes the inline bodies among names inside w's transaction
// and returns the others: files, to remove after the commit.
func (w *wtx) dropBodies(names []string) ([]string, error) {
	files := names[:0:0]
	b := w.tx.Bucket(bktBodies)
	for _, n := range names {
		if !isInline(n) {
			files = append(files, n)
			continue
		}
		if err := b.Delete([]byte(n)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// bodyWriter holds a new body in memory while it fits the inline limit
// and moves it to a file (created on demand) once it grows past it.
type bodyWriter struct {
	a    *Account
	max  int // -1: always a file
	buf  []byte
	f    *os.File
	bw   *bufio.Writer
	name string // the file's blob name, once spilled
	path string
}

func (w *bodyWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		if len(w.buf)+len(p) <= w.max {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	return w.bw.Write(p)
}

func (w *bodyWriter) spill() error {
	w.name = newBlobName()
	w.path = w.a.blobPath(w.name)
	// The shard directories exist and are durable since the account
	// opened (makeAccountDirs). O_EXCL: names are random, never reused.
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, 64<<10)
	_, err = w.bw.Write(w.buf)
	w.buf = nil
	return err
}

// discard closes and removes the file, if any.
func (w *bodyWriter) discard() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.path)
	}
}

// finish makes the body durable: a file is flushed, fsynced and closed;
// an inline body becomes durable with its record's commit.
func (w *bodyWriter) finish(size int64) (*newBlob, error) {
	if w.f == nil && w.max < 0 {
		if err := w.spill(); err != nil { // an empty body, and files only
			return nil, err
		}
	}
	if w.f == nil {
		if w.buf == nil {
			w.buf = []byte{} // an empty body is still a value
		}
		if err := w.a.store.opts.Faults.body(); err != nil {
			return nil, err
		}
		return &newBlob{name: newInlineName(), size: size, inline: w.buf}, nil
	}
	if err := w.bw.Flush(); err != nil {
		return nil, err
	}
	err := w.a.store.opts.Faults.body()
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		os.Remove(w.path)
		return nil, err
	}
	return &newBlob{name: w.name, dir: filepath.Dir(w.path), size: size}, nil
}

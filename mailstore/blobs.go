package mailstore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"sealpost/mailstore/msgmeta"
)

// Message bodies are immutable files named by a random ID under
// blobs/<first two hex digits>/. A body is written straight to its final
// path and fsynced; its directory is fsynced by the account's committer
// (syncBatchDirs) before the transaction that records it commits, so no
// record ever names a body that a crash could lose. A crash before the
// commit leaves a file no record names, which the next open removes
// (cleanOrphans).

// newBlobName returns a random name. Its first byte, the shard directory,
// changes every 100 ms rather than per file, so bodies written close
// together share a directory and a commit batch fsyncs it once for all of
// them; over time the 256 shards fill evenly.
func newBlobName() string {
	var b [12]byte
	rand.Read(b[1:])
	b[0] = byte(time.Now().UnixMilli() / 100)
	return hex.EncodeToString(b[:])
}

func (a *Account) blobPath(name string) string { return filepath.Join(a.dir, blobRel(name)) }

// Open returns a message's body for reading. The file stays readable even
// if the message is expunged while it is open. A message already expunged
// gives ErrGone.
func (a *Account) Open(m Message) (Body, error) {
	if isInline(m.Blob) {
		return a.openInline(m)
	}
	f, err := os.Open(a.blobPath(m.Blob))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open message %d: %w", m.UID, ErrGone)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

type newBlob struct {
	name   string
	dir    string // a file's shard directory, to fsync before the record commits
	size   int64
	meta   *msgmeta.Meta
	inline []byte // the body itself when it is kept in the database (bodies.go)
}

// limitReader fails with ErrTooBig once more than n bytes were read, so an
// over-size message is refused instead of silently truncated.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, ErrTooBig
	}
	return n, err
}

// writeBlob reads r (line endings normalised to CRLF) into a new body,
// parsing its MIME metadata on the way. A body of at most the inline limit
// stays in memory, to be stored with its record (bodies.go); a larger one
// goes to a file, fsynced, that the caller commits with
// writeAfterSync([]string{nb.dir}, ...), which makes its directory entry
// durable first. More than limit bytes of r fail with ErrTooBig; the
// limit applies to r as the sender sent it, so CRLF normalisation never
// turns an accepted size into a refusal.
func (a *Account) writeBlob(r io.Reader, limit int64) (*newBlob, error) {
	bw := &bodyWriter{a: a, max: a.store.inlineMax()}
	// Every way out but success, a panic in the parser included (the LMTP
	// inlet recovers those and keeps serving), closes and removes the file.
	defer bw.discard()
	src := msgmeta.NormalizeCRLF(&limitReader{r: r, n: limit})
	cw := &countWriter{w: bw}
	meta, err := msgmeta.Parse(io.TeeReader(src, cw))
	if err == nil {
		err = cw.err
	}
	if err != nil {
		if !errors.Is(err, ErrTooBig) {
			err = noSpace(fmt.Errorf("write message: %w", err))
		}
		return nil, err
	}
	nb, err := bw.finish(cw.n)
	if err != nil {
		return nil, noSpace(fmt.Errorf("write message: %w", err))
	}
	nb.meta = meta
	return nb, nil
}

// placeBlob puts a file at blob name's path through put (a link or a
// copy) and fsyncs the directory so the name survives a crash. The shard
// directory itself was created and made durable when the account opened
// (makeAccountDirs), so no writer can acknowledge a body whose directory
// entry is not yet on disk.
func (a *Account) placeBlob(name string, put func(dst string) error) error {
	dst := a.blobPath(name)
	dir := filepath.Dir(dst)
	if err := put(dst); err != nil {
		return fmt.Errorf("store message: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// linkBlob makes a new name for an existing body (COPY): a hard link, or a
// copy where links are not possible.
func (a *Account) linkBlob(src string) (string, error) {
	name := newBlobName()
	err := a.placeBlob(name, func(dst string) error {
		if err := a.store.opts.Faults.body(); err != nil {
			return err
		}
		if err := os.Link(a.blobPath(src), dst); err == nil {
			return nil
		}
		return copyFile(a.blobPath(src), dst)
	})
	return name, noSpace(err)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

func (a *Account) removeBlobs(names []string) {
	if a.removals.postpone(names) {
		return
	}
	for _, n := range names {
		if isInline(n) {
			continue // deleted with its record, in the same transaction
		}
		if err := os.Remove(a.blobPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.store.log.Warn("remove message file", "user", a.user.Name, "err", err)
		}
	}
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// cleanOrphans removes partly written files and body files no record
// refers to (left by a crash between writing a body and its commit, or
// between an expunge's commit and the file removal). It runs when the
// account is opened, before any write can be in flight.
func (a *Account) cleanOrphans() error {
	tmp := filepath.Join(a.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		os.Remove(filepath.Join(tmp, e.Name()))
	}
	used := map[string]bool{}
	err = a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktMboxes).ForEach(func(k, _ []byte) error {
			m, err := openMbox(tx, MailboxID(binary.BigEndian.Uint64(k)))
			if err != nil {
				return err
			}
			return m.msgs().ForEach(func(_, v []byte) error {
				r, err := decodeRecord(v)
				if err != nil {
					return err
				}
				used[r.blob] = true
				return nil
			})
		})
	})
	if err != nil {
		// A damaged record hides which body it owns: remove nothing, but
		// let the account open (its other mail stays readable).
		a.store.log.Error("not removing orphaned message files: the account has damaged records; run sealpost check",
			"user", a.user.Name, "err", err)
		return nil
	}
	var orphans []string
	err = filepath.WalkDir(filepath.Join(a.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !used[d.Name()] {
			orphans = append(orphans, d.Name())
		}
		return nil
	})
	if len(orphans) > 0 {
		a.store.log.Info("removing orphaned message files", "user", a.user.Name, "count", len(orphans))
		a.removeBlobs(orphans)
	}
	return err
}

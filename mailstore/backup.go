package mailstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup is the data directory's layout minus sockets and spool files:
// global.db, users/<id>/mail.db, the body files those databases
// reference, the generated certificate in tls/, and a manifest. Each
// database is copied with bbolt's Tx.WriteTo inside a read transaction, so
// it is a consistent snapshot while the server keeps delivering; every body
// file that snapshot references is copied afterwards, and removals of body
// files (expunge, mailbox delete) are postponed until it is copied.

// BackupManifestName is the manifest's file name in a backup directory.
const BackupManifestName = "sealpost-backup.json"

const backupFormat = 1

// BackupFile is one file of a backup, named by its path in the data
// directory. WriteTo writes exactly Size bytes.
type BackupFile struct {
	Path    string // slash-separated, relative to the data directory
	Size    int64
	ModTime time.Time
	WriteTo func(io.Writer) (int64, error) `json:"-"`
}

// BackupManifest describes a backup.
type BackupManifest struct {
	Format   int       `json:"format"`
	Started  time.Time `json:"started"` // every message committed before this is in the backup
	Finished time.Time `json:"finished"`
	Users    int       `json:"users"`
	Messages int64     `json:"messages"`
	Bytes    int64     `json:"bytes"` // message bytes
	Files    int       `json:"files"`
	// Skipped lists users deleted while the backup ran: their record is in
	// global.db but their mail is not, and Restore removes them.
	Skipped []string `json:"skipped,omitempty"`
	// Problems are inconsistencies met on the way (a body file missing or
	// of the wrong size); the rest of the backup is still made.
	Problems []string `json:"problems,omitempty"`
}

// removalHold postpones body file removals while a backup or a check
// reads an account's snapshot: a file the snapshot references must still
// be there when it is copied.
type removalHold struct {
	mu       sync.Mutex
	n        int
	deferred []string
}

func (h *removalHold) acquire() {
	h.mu.Lock()
	h.n++
	h.mu.Unlock()
}

// release ends one hold and returns the removals to do now.
func (h *removalHold) release() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n--
	if h.n > 0 {
		return nil
	}
	d := h.deferred
	h.deferred = nil
	return d
}

// postpone queues names for removal if a hold is active.
func (h *removalHold) postpone(names []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return false
	}
	h.deferred = append(h.deferred, names...)
	return true
}

// holdRemovals keeps every body file of the account until release runs.
func (a *Account) holdRemovals() (release func()) {
	a.removals.acquire()
	var once sync.Once
	return func() {
		once.Do(func() {
			if d := a.removals.release(); len(d) > 0 {
				a.removeBlobs(d)
			}
		})
	}
}

// Backup passes every file of a consistent copy of the store to put, in
// order: global.db, then per user mail.db and its body files, then the
// generated certificate. It runs while the store is in use.
func (s *Store) Backup(ctx context.Context, put func(*BackupFile) error) (*BackupManifest, error) {
	m := &BackupManifest{Format: backupFormat, Started: time.Now().UTC()}
	putf := func(f *BackupFile) error {
		m.Files++
		return put(f)
	}
	var users []userRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bktUsers).ForEach(func(k, v []byte) error {
			var rec userRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			users = append(users, rec)
			return nil
		})
		if err != nil {
			return err
		}
		return putf(&BackupFile{Path: "global.db", Size: tx.Size(), ModTime: time.Now(), WriteTo: tx.WriteTo})
	})
	if err != nil {
		return nil, fmt.Errorf("backup global.db: %w", err)
	}
	for _, rec := range users {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.Users++
		gone, err := s.backupUser(ctx, rec, putf, m)
		if err != nil {
			return nil, fmt.Errorf("backup user %s: %w", rec.Name, err)
		}
		if gone {
			m.Skipped = append(m.Skipped, rec.Name)
		}
	}
	if err := s.backupTLS(putf); err != nil {
		return nil, err
	}
	m.Finished = time.Now().UTC()
	return m, nil
}

// userGone reports whether the user of rec no longer exists as that user.
func (s *Store) userGone(rec userRecord) bool {
	u, _, err := s.lookup(rec.Name)
	return errors.Is(err, ErrNoSuchUser) || err == nil && u.ID != rec.ID
}

type blobRef struct {
	name   string
	size   int64
	mbox   string
	uid    UID
	inline int64 // an inline body's length in the snapshot (-1: missing)
}

func (s *Store) backupUser(ctx context.Context, rec userRecord, put func(*BackupFile) error, m *BackupManifest) (gone bool, err error) {
	if s.userGone(rec) {
		return true, nil
	}
	a, err := s.account(rec.user())
	if err != nil {
		if s.userGone(rec) {
			return true, nil
		}
		return false, err
	}
	release := a.holdRemovals()
	defer release()
	var refs []blobRef
	base := fmt.Sprintf("users/%d/", uint64(rec.ID))
	err = a.db.View(func(tx *bolt.Tx) error {
		refs, err = collectBlobs(tx)
		if err != nil {
			return err
		}
		return put(&BackupFile{Path: base + "mail.db", Size: tx.Size(), ModTime: time.Now(), WriteTo: tx.WriteTo})
	})
	if err != nil {
		if s.userGone(rec) {
			return true, nil
		}
		return false, err
	}
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if isInline(r.name) {
			// In mail.db, copied above with its record.
			switch {
			case r.inline < 0:
				m.Problems = append(m.Problems, fmt.Sprintf("user %s mailbox %q uid %d: inline body missing", rec.Name, r.mbox, r.uid))
				continue
			case r.inline != r.size:
				m.Problems = append(m.Problems, fmt.Sprintf("user %s mailbox %q uid %d: inline body has %d bytes, record says %d", rec.Name, r.mbox, r.uid, r.inline, r.size))
			}
			m.Messages++
			m.Bytes += r.size
			continue
		}
		path := a.blobPath(r.name)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) && s.userGone(rec) {
			return true, nil
		}
		if err != nil {
			m.Problems = append(m.Problems, fmt.Sprintf("user %s mailbox %q uid %d: body file: %v", rec.Name, r.mbox, r.uid, err))
			continue
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return false, err
		}
		if fi.Size() != r.size {
			m.Problems = append(m.Problems, fmt.Sprintf("user %s mailbox %q uid %d: body file has %d bytes, record says %d", rec.Name, r.mbox, r.uid, fi.Size(), r.size))
		}
		rel, _ := filepath.Rel(s.dir, path)
		err = put(&BackupFile{Path: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime(), WriteTo: func(w io.Writer) (int64, error) {
			return io.Copy(w, io.LimitReader(f, fi.Size()))
		}})
		f.Close()
		if err != nil {
			return false, err
		}
		m.Messages++
		m.Bytes += r.size
	}
	return false, nil
}

// collectBlobs lists the body files an account snapshot references.
func collectBlobs(tx *bolt.Tx) ([]blobRef, error) {
	var refs []blobRef
	bodies := tx.Bucket(bktBodies)
	err := tx.Bucket(bktMboxes).ForEach(func(k, _ []byte) error {
		mb, err := openMbox(tx, MailboxID(binary.BigEndian.Uint64(k)))
		if err != nil {
			return err
		}
		return mb.msgs().ForEach(func(uk, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("mailbox %q: %w", mb.info.Name, err)
			}
			ref := blobRef{name: r.blob, size: r.size, mbox: mb.info.Name, uid: UID(binary.BigEndian.Uint32(uk))}
			if isInline(r.blob) {
				ref.inline = -1
				if v, ok := getInline(bodies, r.blob); ok {
					ref.inline = int64(len(v))
				}
			}
			refs = append(refs, ref)
			return nil
		})
	})
	return refs, err
}

// backupTLS adds the generated certificate and key (a configured
// certificate lives elsewhere and is backed up with the system).
func (s *Store) backupTLS(put func(*BackupFile) error) error {
	dir := filepath.Join(s.dir, "tls")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		err = put(&BackupFile{Path: "tls/" + e.Name(), Size: int64(len(b)), ModTime: time.Now(), WriteTo: func(w io.Writer) (int64, error) {
			n, err := w.Write(b)
			return int64(n), err
		}})
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrNotEmpty: a restore into a directory that already holds files.
var ErrNotEmpty = errors.New("mailstore: directory is not empty")

// ReadBackupManifest reads a backup directory's manifest.
func ReadBackupManifest(dir string) (*BackupManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, BackupManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a sealpost backup (no %s)", dir, BackupManifestName)
	}
	if err != nil {
		return nil, err
	}
	var m BackupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", BackupManifestName, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%s: unknown backup format %d", BackupManifestName, m.Format)
	}
	return &m, nil
}

// EmptyDir fails with ErrNotEmpty unless dir is absent or empty.
func EmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s: %w", dir, ErrNotEmpty)
	}
	return nil
}

// Restore copies the backup in backupDir into dataDir, which must be
// absent or empty, removes users that were deleted while the backup ran,
// and checks the result. The backup is left as it was.
func Restore(ctx context.Context, backupDir, dataDir string) (*BackupManifest, *CheckReport, error) {
	m, err := ReadBackupManifest(backupDir)
	if err != nil {
		return nil, nil, err
	}
	if err := EmptyDir(dataDir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	err = filepath.WalkDir(backupDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(backupDir, p)
		if err != nil || rel == "." || rel == BackupManifestName {
			return err
		}
		dst := filepath.Join(dataDir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(rel, ".sock") {
			return nil
		}
		return copyNoSync(p, dst)
	})
	if err != nil {
		return m, nil, fmt.Errorf("restore: copy: %w", err)
	}
	syncAll()
	st, err := Open(dataDir, Options{})
	if err != nil {
		return m, nil, fmt.Errorf("restore: open: %w", err)
	}
	defer st.Close()
	for _, name := range m.Skipped {
		if err := st.DeleteUser(ctx, name); err != nil && !errors.Is(err, ErrNoSuchUser) {
			return m, nil, fmt.Errorf("restore: remove user %s deleted during the backup: %w", name, err)
		}
	}
	rep, err := st.CheckLive(ctx)
	return m, rep, err
}

// copyNoSync copies a file; the caller syncs everything once at the end.
func copyNoSync(src, dst string) error {
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
		return err
	}
	return out.Close()
}

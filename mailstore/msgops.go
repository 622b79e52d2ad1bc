package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	bolt "go.etcd.io/bbolt"
)

// Expunge removes the messages flagged \Deleted, limited to uids when uids
// is not nil, and returns the UIDs removed in ascending order.
func (a *Account) Expunge(ctx context.Context, id MailboxID, uids []UID) ([]UID, error) {
	return a.removeMessages(id, uids, true)
}

// Delete removes the given messages whatever their flags (POP3 UPDATE
// state). It is atomic: all of them or none. Already-gone UIDs are skipped.
func (a *Account) Delete(ctx context.Context, id MailboxID, uids []UID) ([]UID, error) {
	return a.removeMessages(id, uids, false)
}

func (a *Account) removeMessages(id MailboxID, uids []UID, onlyDeleted bool) ([]UID, error) {
	var gone []UID
	err := a.write(func(w *wtx) error {
		gone = gone[:0]
		m, err := openMbox(w.tx, id)
		if err != nil {
			return err
		}
		want := uids
		if want == nil {
			c := m.msgs().Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(v) > 1 && flagBits(v[1])&bitDeleted != 0 {
					want = append(want, UID(beUint32(k)))
				}
			}
		}
		var blobs []string
		for _, uid := range want {
			if onlyDeleted {
				v := m.msgs().Get(uidKey(uid))
				if len(v) < 2 || flagBits(v[1])&bitDeleted == 0 {
					continue
				}
			}
			r, ok, err := w.remove(m, uid)
			if err != nil {
				return err
			}
			if ok {
				gone = append(gone, uid)
				blobs = append(blobs, r.blob)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		files, err := w.dropBodies(blobs)
		if err != nil {
			return err
		}
		w.emit(Expunged{Mailbox: m.id, UIDs: gone})
		w.afterCommit = append(w.afterCommit, func() { a.removeBlobs(files) })
		return m.save()
	})
	return gone, err
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// CopyResult maps source UIDs to their new UIDs (RFC 4315 COPYUID).
type CopyResult struct {
	Mailbox     MailboxID
	UIDValidity uint32
	SrcUIDs     []UID
	DestUIDs    []UID
}

// Copy copies messages into the named mailbox, keeping flags and internal
// dates. Body files are hard-linked and inline bodies copied; either way
// the copies count against the quota again.
func (a *Account) Copy(ctx context.Context, src MailboxID, uids []UID, dest string) (CopyResult, error) {
	type item struct {
		uid  UID
		rec  record
		env  []byte
		part []byte
		blob string // the copy's own link
	}
	release, err := a.hold()
	if err != nil {
		return CopyResult{}, err
	}
	defer release()
	var items []item
	err = a.db.View(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, src)
		if err != nil {
			return err
		}
		if _, err := lookupMbox(tx, dest); err != nil {
			return err
		}
		for _, uid := range uids {
			k := uidKey(uid)
			v := m.msgs().Get(k)
			if v == nil {
				continue
			}
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			items = append(items, item{uid: uid, rec: r,
				env:  append([]byte(nil), m.b.Bucket(bktEnv).Get(k)...),
				part: append([]byte(nil), m.b.Bucket(bktPart).Get(k)...)})
		}
		return nil
	})
	if err != nil {
		return CopyResult{}, err
	}
	var links []string
	kept := items[:0]
	for _, it := range items {
		if isInline(it.rec.blob) {
			it.blob = newInlineName() // copied inside the transaction
			kept = append(kept, it)
			continue
		}
		name, err := a.linkBlob(it.rec.blob)
		if errors.Is(err, fs.ErrNotExist) && a.expungedSince(src, it.uid) {
			// Expunged by another session after the read above, and its
			// body removed: copied are the others, as if it had been
			// expunged first.
			continue
		}
		if err != nil {
			a.removeBlobs(links)
			return CopyResult{}, fmt.Errorf("copy: %w", err)
		}
		it.blob = name
		kept = append(kept, it)
		links = append(links, name)
	}
	items = kept
	var res CopyResult
	err = a.write(func(w *wtx) error {
		res = CopyResult{}
		d, err := lookupMbox(w.tx, dest)
		if err != nil {
			return err
		}
		var total int64
		for _, it := range items {
			total += it.rec.size
		}
		if err := w.checkQuota(total); err != nil {
			return fmt.Errorf("copy to %s: %w", d.info.Name, err)
		}
		res.Mailbox, res.UIDValidity = d.id, d.info.UIDValidity
		for _, it := range items {
			if isInline(it.blob) {
				ok, err := w.copyInline(it.rec.blob, it.blob)
				if err != nil {
					return err
				}
				if !ok {
					continue // expunged since the read above
				}
			}
			r := it.rec
			r.blob = it.blob
			uid, err := w.insert(d, &r, it.env, it.part)
			if err != nil {
				return err
			}
			res.SrcUIDs = append(res.SrcUIDs, it.uid)
			res.DestUIDs = append(res.DestUIDs, uid)
		}
		return nil
	})
	if err != nil {
		a.removeBlobs(links)
		return CopyResult{}, err
	}
	return res, nil
}

// Move moves messages into the named mailbox in one transaction (RFC 6851):
// they appear there with new UIDs and are expunged from the source.
func (a *Account) Move(ctx context.Context, src MailboxID, uids []UID, dest string) (CopyResult, error) {
	var res CopyResult
	err := a.write(func(w *wtx) error {
		res = CopyResult{}
		s, err := openMbox(w.tx, src)
		if err != nil {
			return err
		}
		d, err := lookupMbox(w.tx, dest)
		if err != nil {
			return err
		}
		if d.id == s.id {
			d = s // one in-memory copy of the info, or the last save wins
		}
		res.Mailbox, res.UIDValidity = d.id, d.info.UIDValidity
		for _, uid := range uids {
			k := uidKey(uid)
			env := append([]byte(nil), s.b.Bucket(bktEnv).Get(k)...)
			part := append([]byte(nil), s.b.Bucket(bktPart).Get(k)...)
			r, ok, err := w.remove(s, uid)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			nuid, err := w.insert(d, &r, env, part)
			if err != nil {
				return err
			}
			res.SrcUIDs = append(res.SrcUIDs, uid)
			res.DestUIDs = append(res.DestUIDs, nuid)
		}
		if len(res.SrcUIDs) == 0 {
			return nil
		}
		// Insert already emitted MessageAdded for each; the expunge goes
		// first so a watcher of both mailboxes never sees a message twice.
		exp := Expunged{Mailbox: s.id, UIDs: res.SrcUIDs}
		w.events = append([]Event{exp}, w.events...)
		if err := s.save(); err != nil {
			return err
		}
		return d.save()
	})
	return res, err
}

// expungedSince reports whether message uid is no longer in mailbox id
// (or the mailbox is gone).
func (a *Account) expungedSince(id MailboxID, uid UID) bool {
	gone := false
	a.db.View(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, id)
		gone = err != nil || m.msgs().Get(uidKey(uid)) == nil
		return nil
	})
	return gone
}

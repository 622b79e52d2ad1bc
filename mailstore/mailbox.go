package mailstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMailboxes are created, subscribed and special-use marked for
// every new user.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{Inbox, ""}, {"Sent", SpecialSent}, {"Drafts", SpecialDrafts},
	{"Trash", SpecialTrash}, {"Junk", SpecialJunk}, {"Archive", SpecialArchive},
}

type mboxInfo struct {
	Name          string `json:"n"`
	UIDValidity   uint32 `json:"v"`
	UIDNext       uint32 `json:"u"`
	HighestModSeq uint64 `json:"h"`
	Messages      uint32 `json:"m"`
	Unseen        uint32 `json:"un,omitempty"`
	Deleted       uint32 `json:"d,omitempty"`
	Size          int64  `json:"s,omitempty"`
	SpecialUse    string `json:"su,omitempty"`
	Subscribed    bool   `json:"sub,omitempty"`
}

func (i *mboxInfo) public(id MailboxID) MailboxInfo {
	return MailboxInfo{
		ID: id, Name: i.Name, UIDValidity: i.UIDValidity, UIDNext: UID(i.UIDNext),
		HighestModSeq: i.HighestModSeq, Messages: i.Messages, Unseen: i.Unseen, Deleted: i.Deleted,
		Size: i.Size, SpecialUse: i.SpecialUse, Subscribed: i.Subscribed,
	}
}

// mbox is a mailbox opened inside a transaction.
type mbox struct {
	id   MailboxID
	b    *bolt.Bucket
	info mboxInfo
}

func (m *mbox) save() error {
	v, err := json.Marshal(&m.info)
	if err != nil {
		return err
	}
	return m.b.Put(keyInfo, v)
}

// msgs returns the mailbox's message records. UIDs only grow, so records
// are appended at the right edge and rewritten in place (same size, unless
// keywords change): full pages halve the pages a commit writes, e.g. when
// STORE touches every message, where bbolt's default 0.5 split leaves them
// half empty.
func (m *mbox) msgs() *bolt.Bucket {
	b := m.b.Bucket(bktMsgs)
	if b != nil {
		b.FillPercent = 0.9
	}
	return b
}

func openMbox(tx *bolt.Tx, id MailboxID) (*mbox, error) {
	b := tx.Bucket(bktMboxes).Bucket(idKey(uint64(id)))
	if b == nil {
		return nil, fmt.Errorf("mailbox #%d: %w", id, ErrNoSuchMailbox)
	}
	m := &mbox{id: id, b: b}
	if err := json.Unmarshal(b.Get(keyInfo), &m.info); err != nil {
		return nil, fmt.Errorf("mailbox #%d info: %w", id, err)
	}
	return m, nil
}

func lookupMbox(tx *bolt.Tx, name string) (*mbox, error) {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return nil, err
	}
	v := tx.Bucket(bktNames).Get([]byte(n))
	if len(v) != 8 {
		return nil, fmt.Errorf("mailbox %q: %w", n, ErrNoSuchMailbox)
	}
	return openMbox(tx, MailboxID(binary.BigEndian.Uint64(v)))
}

func checkSpecialUse(su string) (string, error) {
	if su == "" {
		return "", nil
	}
	for _, ok := range []string{SpecialArchive, SpecialDrafts, SpecialJunk, SpecialSent, SpecialTrash} {
		if strings.EqualFold(su, ok) {
			return ok, nil
		}
	}
	return "", fmt.Errorf("special-use %q: %w", su, ErrBadSpecialUse)
}

// createMbox creates name (already normalised) and any missing parents.
func (w *wtx) createMbox(name, specialUse string, subscribe bool) (*mbox, error) {
	names := w.tx.Bucket(bktNames)
	for _, p := range parentNames(name) {
		if names.Get([]byte(p)) == nil {
			if _, err := w.createMbox(p, "", false); err != nil {
				return nil, err
			}
		}
	}
	if names.Get([]byte(name)) != nil {
		return nil, fmt.Errorf("create %q: %w", name, ErrMailboxExists)
	}
	meta := w.meta()
	id := getU64(meta, keyNextMbox) + 1
	uv, err := w.nextUIDValidity()
	if err != nil {
		return nil, err
	}
	if err := meta.Put(keyNextMbox, idKey(id)); err != nil {
		return nil, err
	}
	b, err := w.tx.Bucket(bktMboxes).CreateBucket(idKey(id))
	if err != nil {
		return nil, err
	}
	for _, sub := range [][]byte{bktMsgs, bktEnv, bktPart} {
		if _, err := b.CreateBucket(sub); err != nil {
			return nil, err
		}
	}
	if err := names.Put([]byte(name), idKey(id)); err != nil {
		return nil, err
	}
	m := &mbox{id: MailboxID(id), b: b, info: mboxInfo{
		Name: name, UIDValidity: uv, UIDNext: 1, SpecialUse: specialUse, Subscribed: subscribe,
	}}
	w.emit(MailboxCreated{Mailbox: m.id, Name: name})
	return m, m.save()
}

// nextUIDValidity hands out a UIDVALIDITY. It must never repeat for a
// name (RFC 9051 §2.3.1.1): take a time-based value, strictly above every
// value handed out before.
func (w *wtx) nextUIDValidity() (uint32, error) {
	meta := w.meta()
	uv := uint32(getU64(meta, keyUIDV)) + 1
	if now := uint32(time.Now().Unix()); now > uv {
		uv = now
	}
	return uv, meta.Put(keyUIDV, idKey(uint64(uv)))
}

// ensureDefaults gives a new account (one without any mailbox) the
// default mailboxes, and any account its INBOX. It is idempotent and runs
// each time an account is opened. Other defaults the user deleted stay
// deleted: only INBOX cannot be deleted, so only a brand-new account has
// no mailbox at all.
func (w *wtx) ensureDefaults() error {
	names := w.tx.Bucket(bktNames)
	first, _ := names.Cursor().First()
	fresh := first == nil
	for _, d := range DefaultMailboxes {
		if !fresh && d.Name != Inbox || names.Get([]byte(d.Name)) != nil {
			continue
		}
		if _, err := w.createMbox(d.Name, d.SpecialUse, true); err != nil {
			return err
		}
	}
	return w.finish()
}

// CreateMailbox creates a mailbox (and any missing parents), optionally
// with a special-use attribute (RFC 6154 CREATE-SPECIAL-USE).
func (a *Account) CreateMailbox(ctx context.Context, name, specialUse string) error {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return err
	}
	su, err := checkSpecialUse(specialUse)
	if err != nil {
		return err
	}
	return a.write(func(w *wtx) error {
		_, err := w.createMbox(n, su, false)
		return err
	})
}

// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be
// deleted, nor can a mailbox with children (delete them first).
func (a *Account) DeleteMailbox(ctx context.Context, name string) error {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return err
	}
	if n == Inbox {
		return fmt.Errorf("delete %s: %w", n, ErrInboxNotAllowed)
	}
	return a.write(func(w *wtx) error {
		m, err := lookupMbox(w.tx, n)
		if err != nil {
			return err
		}
		c := w.tx.Bucket(bktNames).Cursor()
		prefix := []byte(n + string(Delimiter))
		if k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)) {
			return fmt.Errorf("delete %q: %w", n, ErrHasChildren)
		}
		var blobs []string
		err = m.msgs().ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			blobs = append(blobs, r.blob)
			return nil
		})
		if err != nil {
			return err
		}
		files, err := w.dropBodies(blobs)
		if err != nil {
			return err
		}
		w.bytesDelta -= m.info.Size
		if err := w.tx.Bucket(bktMboxes).DeleteBucket(idKey(uint64(m.id))); err != nil {
			return err
		}
		if err := w.tx.Bucket(bktNames).Delete([]byte(n)); err != nil {
			return err
		}
		w.emit(MailboxDeleted{Mailbox: m.id, Name: n})
		w.afterCommit = append(w.afterCommit, func() { a.removeBlobs(files) })
		return nil
	})
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves
// its messages to the new name and leaves an empty INBOX (RFC 9051 §6.3.6).
func (a *Account) RenameMailbox(ctx context.Context, oldName, newName string) error {
	on, err := NormalizeMailbox(oldName)
	if err != nil {
		return err
	}
	nn, err := NormalizeMailbox(newName)
	if err != nil {
		return err
	}
	if nn == Inbox || isChildOf(nn, on) || nn == on {
		return fmt.Errorf("rename %q to %q: %w", on, nn, ErrBadName)
	}
	return a.write(func(w *wtx) error {
		names := w.tx.Bucket(bktNames)
		if names.Get([]byte(nn)) != nil {
			return fmt.Errorf("rename to %q: %w", nn, ErrMailboxExists)
		}
		if _, err := lookupMbox(w.tx, on); err != nil {
			return err
		}
		// Collect the mailbox and its children before changing keys.
		type ren struct{ from, to string }
		var rens []ren
		c := names.Cursor()
		for k, _ := c.Seek([]byte(on)); k != nil; k, _ = c.Next() {
			s := string(k)
			if s == on {
				rens = append(rens, ren{s, nn})
			} else if isChildOf(s, on) {
				if on == Inbox {
					continue // INBOX's children stay where they are
				}
				rens = append(rens, ren{s, nn + s[len(on):]})
			} else if !strings.HasPrefix(s, on) {
				break
			}
		}
		for _, p := range parentNames(nn) {
			if names.Get([]byte(p)) == nil {
				if _, err := w.createMbox(p, "", false); err != nil {
					return err
				}
			}
		}
		for _, r := range rens {
			id := names.Get([]byte(r.from))
			m, err := openMbox(w.tx, MailboxID(binary.BigEndian.Uint64(id)))
			if err != nil {
				return err
			}
			idc := append([]byte(nil), id...)
			if err := names.Delete([]byte(r.from)); err != nil {
				return err
			}
			if err := names.Put([]byte(r.to), idc); err != nil {
				return err
			}
			m.info.Name = r.to
			ev := MailboxRenamed{Mailbox: m.id, OldName: r.from, NewName: r.to}
			if r.from == Inbox {
				// The new INBOX continues the old one's UIDVALIDITY and
				// UIDNEXT: (INBOX, UIDVALIDITY, UID) keeps naming one
				// message forever, and sessions with INBOX selected can
				// move to the new one. The moved messages, under a name
				// no client knows yet, get a UIDVALIDITY of their own.
				inbox, err := w.createMbox(Inbox, "", true)
				if err != nil {
					return err
				}
				inbox.info.UIDValidity, inbox.info.UIDNext = m.info.UIDValidity, m.info.UIDNext
				if err := inbox.save(); err != nil {
					return err
				}
				if m.info.UIDValidity, err = w.nextUIDValidity(); err != nil {
					return err
				}
				ev.NewInbox = inbox.id
			}
			if err := m.save(); err != nil {
				return err
			}
			w.emit(ev)
		}
		return nil
	})
}

// SetSubscribed subscribes or unsubscribes a mailbox.
func (a *Account) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	return a.write(func(w *wtx) error {
		m, err := lookupMbox(w.tx, name)
		if err != nil {
			return err
		}
		m.info.Subscribed = subscribed
		return m.save()
	})
}

// Mailboxes lists all mailboxes sorted by name.
func (a *Account) Mailboxes(ctx context.Context) ([]MailboxInfo, error) {
	var out []MailboxInfo
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktNames).ForEach(func(k, v []byte) error {
			m, err := openMbox(tx, MailboxID(binary.BigEndian.Uint64(v)))
			if err != nil {
				return err
			}
			out = append(out, m.info.public(m.id))
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Mailbox returns one mailbox by name.
func (a *Account) Mailbox(ctx context.Context, name string) (MailboxInfo, error) {
	var info MailboxInfo
	err := a.db.View(func(tx *bolt.Tx) error {
		m, err := lookupMbox(tx, name)
		if err != nil {
			return err
		}
		info = m.info.public(m.id)
		return nil
	})
	return info, err
}

// Snapshot is a mailbox's state at one commit: what SELECT shows.
type Snapshot struct {
	Info MailboxInfo
	UIDs []UID  // ascending; shared with other snapshots, never to be changed in place (append copies)
	Seq  uint64 // events with Seq() <= this are already reflected
}

// Snapshot reads a mailbox's info and UID list in one transaction. To
// follow changes without gaps, call Watch first, then Snapshot, and drop
// watched events whose Seq is not above Snapshot.Seq.
//
// The UID list of a large mailbox comes from a cache (uidCache) while the
// mailbox has not changed, instead of a walk over every record.
func (a *Account) Snapshot(ctx context.Context, id MailboxID) (*Snapshot, error) {
	s := new(Snapshot)
	err := a.db.View(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, id)
		if err != nil {
			return err
		}
		s.Info = m.info.public(m.id)
		s.Seq = getU64(tx.Bucket(bktAcctMeta), keySeq)
		key := uidListKey{id: id, uidValidity: m.info.UIDValidity, uidNext: m.info.UIDNext, messages: m.info.Messages}
		if s.UIDs = a.uids.get(key); s.UIDs != nil {
			return nil
		}
		s.UIDs = make([]UID, 0, m.info.Messages)
		c := m.msgs().Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			s.UIDs = append(s.UIDs, UID(binary.BigEndian.Uint32(k)))
		}
		s.UIDs = slices.Clip(s.UIDs) // so that an append by the caller copies
		a.uids.put(key, s.UIDs)
		return nil
	})
	return s, err
}

// uidListKey identifies the set of UIDs in a mailbox. Only insert and
// remove change that set: insert raises UIDNEXT (which never goes down) and
// the message count, remove lowers the count. So while UIDNEXT and the
// count of a mailbox (an ID is never reused) stay the same, so does its set
// of UIDs. Anything else that adds or deletes records must keep that true.
type uidListKey struct {
	id          MailboxID
	uidValidity uint32
	uidNext     uint32
	messages    uint32
}

// uidCache keeps the UID lists of the last few large mailboxes read by
// Snapshot, so that SELECT of a 100k-message mailbox walks no records.
// The lists are shared with the snapshots, which never change them.
type uidCache struct {
	mu      sync.Mutex
	entries []uidCacheEntry // most recent last
}

type uidCacheEntry struct {
	key  uidListKey
	uids []UID
}

const (
	uidCacheMin     = 1000 // smaller mailboxes are walked: it is cheap
	uidCacheEntries = 4
)

func (c *uidCache) get(key uidListKey) []UID {
	if key.messages < uidCacheMin {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == key {
			return e.uids
		}
	}
	return nil
}

func (c *uidCache) put(key uidListKey, uids []UID) {
	if key.messages < uidCacheMin || len(uids) != int(key.messages) {
		return // a count that disagrees with the records: do not trust it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = slices.DeleteFunc(c.entries, func(e uidCacheEntry) bool { return e.key.id == key.id })
	if len(c.entries) >= uidCacheEntries {
		c.entries = slices.Delete(c.entries, 0, 1)
	}
	c.entries = append(c.entries, uidCacheEntry{key: key, uids: uids})
}

// FirstUnseen returns the lowest UID without \Seen (ok false if there is
// none). It reads the flag byte of the records only, from both ends at
// once: from the start it stops at the first unseen message; from the end
// it stops once it has passed as many unseen messages as the mailbox
// counts, so a mailbox whose unread mail is recent is not walked whole.
func (a *Account) FirstUnseen(ctx context.Context, id MailboxID) (uid UID, ok bool, err error) {
	err = a.db.View(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, id)
		if err != nil {
			return err
		}
		if m.info.Unseen == 0 {
			return nil
		}
		unseen := func(v []byte) bool { return len(v) < 2 || flagBits(v[1])&bitSeen == 0 }
		fwd, back := m.msgs().Cursor(), m.msgs().Cursor()
		fk, fv := fwd.First()
		bk, bv := back.Last()
		left := m.info.Unseen // unseen messages the backward walk has yet to pass
		for fk != nil && bk != nil && bytes.Compare(fk, bk) <= 0 {
			if unseen(fv) {
				uid, ok = UID(beUint32(fk)), true
				return nil
			}
			if unseen(bv) {
				uid, ok = UID(beUint32(bk)), true // the lowest the backward walk has seen
				if left--; left == 0 {
					return nil
				}
			}
			fk, fv = fwd.Next()
			bk, bv = back.Prev()
		}
		return nil // the walks met (the count was off): the backward walk's lowest, if any
	})
	return uid, ok, err
}

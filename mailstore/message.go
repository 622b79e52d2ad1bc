package mailstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"sealpost/mailstore/msgmeta"
)

// AppendOptions are APPEND's optional arguments.
type AppendOptions struct {
	Flags        []string
	InternalDate time.Time // kept with its zone offset; zero: now, local zone
}

// AppendResult says where an appended message landed (RFC 4315 APPENDUID).
type AppendResult struct {
	Mailbox     MailboxID
	UIDValidity uint32
	Message     Message
}

// TraceAllowance is how many bytes Deliver accepts beyond MaxMessageSize:
// room for the trace header fields (Return-Path, Delivered-To, Received) a
// delivery agent prepends to a message it accepted at the size limit. An
// MTA that was told SIZE n must not see a message of n bytes bounced
// because of what the inlet added.
const TraceAllowance = 4 << 10

// Deliver stores a message in the named user's INBOX. It returns once the
// message is durable. r may be up to MaxMessageSize + TraceAllowance bytes
// (counted as read, before line ends are normalised). Errors:
// ErrNoSuchUser, ErrOverQuota, ErrTooBig, or a storage failure.
func (s *Store) Deliver(ctx context.Context, user string, r io.Reader) (AppendResult, error) {
	a, err := s.Account(ctx, user)
	if err != nil {
		return AppendResult{}, err
	}
	return a.appendLimit(ctx, Inbox, r, AppendOptions{}, s.opts.MaxMessageSize+TraceAllowance)
}

// Append stores a message in a mailbox and returns once it is durable. r
// may be up to MaxMessageSize bytes (as read, before line ends are
// normalised to CRLF, so the stored size can be larger).
func (a *Account) Append(ctx context.Context, mailbox string, r io.Reader, opts AppendOptions) (AppendResult, error) {
	return a.appendLimit(ctx, mailbox, r, opts, a.store.opts.MaxMessageSize)
}

func (a *Account) appendLimit(ctx context.Context, mailbox string, r io.Reader, opts AppendOptions, limit int64) (AppendResult, error) {
	name, err := NormalizeMailbox(mailbox)
	if err != nil {
		return AppendResult{}, err
	}
	release, err := a.hold()
	if err != nil {
		return AppendResult{}, err
	}
	defer release()
	// Fail fast when the mailbox is missing or the account is full, before
	// reading what may be a large body.
	if _, err := a.Mailbox(ctx, name); err != nil {
		return AppendResult{}, err
	}
	if used, quota, err := a.Usage(); err == nil && quota > 0 && used >= quota {
		return AppendResult{}, fmt.Errorf("append to %s: %w", name, ErrOverQuota)
	}
	nb, err := a.writeBlob(r, limit)
	if err != nil {
		return AppendResult{}, err
	}
	now := time.Now()
	idate := opts.InternalDate // kept in its own zone: FETCH returns it as given
	if idate.IsZero() {
		idate = now // delivery: the server's local zone
	}
	bits, kws := splitFlags(opts.Flags)
	rec := record{bits: bits, keywords: kws, internal: idate, saved: now.UTC(), size: nb.size, blob: nb.name}
	env := msgmeta.EncodeEnvelope(&nb.meta.Envelope)
	part := msgmeta.EncodePart(&nb.meta.Root)
	var res AppendResult
	err = a.writeAfterSync([]string{nb.dir}, func(w *wtx) error {
		m, err := lookupMbox(w.tx, name)
		if err != nil {
			return err
		}
		if err := w.checkQuota(nb.size); err != nil {
			return fmt.Errorf("append to %s: %w", name, err)
		}
		if isInline(nb.name) {
			if err := w.putInline(nb.name, nb.inline); err != nil {
				return err
			}
		}
		r := rec
		uid, err := w.insert(m, &r, env, part)
		if err != nil {
			return err
		}
		res = AppendResult{Mailbox: m.id, UIDValidity: m.info.UIDValidity, Message: r.message(uid)}
		return nil
	})
	if err != nil {
		a.removeBlobs([]string{nb.name})
		return AppendResult{}, err
	}
	return res, nil
}

func (w *wtx) checkQuota(add int64) error {
	q := w.a.quota.Load()
	if q <= 0 {
		return nil
	}
	used := int64(getU64(w.meta(), keyBytes)) + w.bytesDelta
	if used+add > q {
		return ErrOverQuota
	}
	return nil
}

// insert adds a record under the mailbox's next UID and updates counters.
func (w *wtx) insert(m *mbox, r *record, env, part []byte) (UID, error) {
	uid := UID(m.info.UIDNext)
	if uid == 0 || m.info.UIDNext == ^uint32(0) {
		return 0, fmt.Errorf("mailbox %q: UID space exhausted", m.info.Name)
	}
	r.modseq = w.nextModSeq()
	k := uidKey(uid)
	if err := m.msgs().Put(k, r.encode()); err != nil {
		return 0, err
	}
	if err := m.b.Bucket(bktEnv).Put(k, env); err != nil {
		return 0, err
	}
	if err := m.b.Bucket(bktPart).Put(k, part); err != nil {
		return 0, err
	}
	m.info.UIDNext++
	m.info.Messages++
	if r.bits&bitSeen == 0 {
		m.info.Unseen++
	}
	if r.bits&bitDeleted != 0 {
		m.info.Deleted++
	}
	m.info.Size += r.size
	m.info.HighestModSeq = r.modseq
	w.bytesDelta += r.size
	w.emit(MessageAdded{Mailbox: m.id, Message: r.message(uid)})
	return uid, m.save()
}

// remove deletes a message record and returns it; the caller decides what
// happens to the body file.
func (w *wtx) remove(m *mbox, uid UID) (record, bool, error) {
	k := uidKey(uid)
	v := m.msgs().Get(k)
	if v == nil {
		return record{}, false, nil
	}
	r, err := decodeRecord(v)
	if err != nil {
		return r, false, fmt.Errorf("mailbox %q uid %d: %w", m.info.Name, uid, err)
	}
	for _, b := range [][]byte{bktMsgs, bktEnv, bktPart} {
		if err := m.b.Bucket(b).Delete(k); err != nil {
			return r, false, err
		}
	}
	m.info.Messages--
	if r.bits&bitSeen == 0 && m.info.Unseen > 0 {
		m.info.Unseen--
	}
	if r.bits&bitDeleted != 0 && m.info.Deleted > 0 {
		m.info.Deleted--
	}
	m.info.Size -= r.size
	m.info.HighestModSeq = w.nextModSeq()
	w.bytesDelta -= r.size
	return r, true, nil
}

// FetchWant selects the parsed metadata Fetch returns besides the record.
type FetchWant struct {
	Envelope bool
	// RawEnvelope returns the envelope in its stored encoding (read it with
	// msgmeta.ReadEnvelope), which costs no decoding or allocation per
	// message.
	RawEnvelope bool
	Structure   bool
}

const fetchChunk = 1024

// Fetch calls fn for each existing message among uids (ascending; nil means
// all), in UID order. Records are read in short transactions of up to 1024
// messages and fn runs outside any transaction, so a slow client never
// holds the database.
func (a *Account) Fetch(ctx context.Context, id MailboxID, uids []UID, want FetchWant, fn func(*MessageMeta) error) error {
	var after UID // for uids == nil: resume after this UID
	for i := 0; uids == nil || i < len(uids); {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := make([]MessageMeta, 0, fetchChunk)
		var arena []byte // raw envelopes of the batch, copied out of the tx
		if want.RawEnvelope {
			arena = make([]byte, 0, 256*fetchChunk)
		}
		start := time.Now()
		err := a.db.View(func(tx *bolt.Tx) error {
			m, err := openMbox(tx, id)
			if err != nil {
				return err
			}
			// One cursor per bucket, moving forward: Bucket.Get makes
			// (and allocates) a new cursor for every call.
			msgs := m.msgs().Cursor()
			env, part := newSeeker(m.b.Bucket(bktEnv)), newSeeker(m.b.Bucket(bktPart))
			add := func(k, v []byte) error {
				r, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("mailbox %q: %w", m.info.Name, err)
				}
				mm := MessageMeta{Message: r.message(UID(binary.BigEndian.Uint32(k)))}
				if want.Envelope {
					e, err := msgmeta.DecodeEnvelope(env.get(k))
					if err == nil {
						mm.Envelope = &e
					}
				}
				if want.RawEnvelope {
					// Earlier envelopes keep the old array when append
					// grows the arena.
					n := len(arena)
					arena = append(arena, env.get(k)...)
					mm.RawEnvelope = arena[n:len(arena):len(arena)]
				}
				if want.Structure {
					p, err := msgmeta.DecodePart(part.get(k))
					if err == nil {
						mm.Structure = &p
					}
				}
				batch = append(batch, mm)
				return nil
			}
			if uids == nil {
				k, v := msgs.Seek(uidKey(after + 1))
				for ; k != nil && len(batch) < fetchChunk; k, v = msgs.Next() {
					if err := add(k, v); err != nil {
						return err
					}
				}
				return nil
			}
			ms := &seeker{c: msgs}
			k := make([]byte, 4)
			for ; i < len(uids) && len(batch) < fetchChunk; i++ {
				binary.BigEndian.PutUint32(k, uint32(uids[i]))
				if v := ms.get(k); v != nil {
					if err := add(k, v); err != nil {
						return err
					}
				}
			}
			return nil
		})
		a.store.observeFetch(start)
		if err != nil {
			return err
		}
		for j := range batch {
			if err := fn(&batch[j]); err != nil {
				return err
			}
		}
		if uids == nil {
			if len(batch) < fetchChunk {
				return nil
			}
			after = batch[len(batch)-1].UID
		}
	}
	return nil
}

// seeker reads a bucket at ascending keys: when the next key asked for is
// the next key in the bucket (the envelopes and structures of a mailbox
// have the same keys as its records), one step replaces a search.
type seeker struct {
	c *bolt.Cursor
	k []byte // where c is; nil: not positioned
}

func newSeeker(b *bolt.Bucket) *seeker {
	if b == nil {
		return &seeker{}
	}
	return &seeker{c: b.Cursor()}
}

func (s *seeker) get(key []byte) []byte {
	if s.c == nil {
		return nil
	}
	var k, v []byte
	if s.k != nil && bytes.Compare(s.k, key) < 0 {
		k, v = s.c.Next()
		if k != nil && bytes.Compare(k, key) < 0 {
			k, v = s.c.Seek(key)
		}
	} else {
		k, v = s.c.Seek(key)
	}
	s.k = k
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// seekGet is Bucket.Get through a cursor the caller reuses (nil: no
// bucket, no value).
func seekGet(c *bolt.Cursor, key []byte) []byte {
	if c == nil {
		return nil
	}
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

func applyFlags(cur flagBits, curKw []string, op FlagOp, bits flagBits, kws []string) (flagBits, []string) {
	switch op {
	case FlagsReplace:
		return bits, kws
	case FlagsAdd:
		_, nk := splitFlags(append(slices.Clone(curKw), kws...))
		return cur | bits, nk
	default: // FlagsRemove
		nk := slices.DeleteFunc(slices.Clone(curKw), func(k string) bool {
			return slices.ContainsFunc(kws, func(x string) bool { return strings.EqualFold(x, k) })
		})
		return cur &^ bits, nk
	}
}

package mailstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"sealpost/mailstore/msgmeta"
)

// acctCheck is the checker's pass over one account, offline or live.
type acctCheck struct {
	c      *checker
	u      User
	dir    string
	refs   map[string]bool // body paths (relative to dir) that records name
	byName map[string]bool // body names that records name
	// unsure: some records could not be read, so a body file no record
	// names may still belong to one; orphans are then reported, not removed.
	unsure bool
	// inboxNamed: a nameless mailbox calls itself INBOX and gets (or,
	// with Repair, got) that name.
	inboxNamed bool
	bodies     *bolt.Bucket // inline bodies; nil in a store older than them
}

func (c *checker) newAcct(u User, dir string) *acctCheck {
	return &acctCheck{c: c, u: u, dir: dir, refs: map[string]bool{}, byName: map[string]bool{}}
}

func (a *acctCheck) add(kind ProblemKind, mailbox string, uid UID, format string, args ...any) *Problem {
	p := &Problem{User: a.u.Name, Mailbox: mailbox, UID: uid, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	a.c.add(p)
	return p
}

func (a *acctCheck) fix(p *Problem, repair func() error) error { return a.c.fix(p, repair) }

// blobRel is a body's path relative to its account directory.
func blobRel(name string) string {
	if len(name) < 3 {
		return filepath.Join("blobs", "_", name)
	}
	return filepath.Join("blobs", name[:2], name)
}

// acctMax collects what the account-wide counters must cover.
type acctMax struct {
	bytes, modseq uint64
	uidv          uint32
	mboxID        uint64
}

// db checks an account's database in one transaction (read-write only
// with Repair; live, a read transaction of the open database).
func (a *acctCheck) db(tx *bolt.Tx) error {
	meta, names, mboxes := tx.Bucket(bktAcctMeta), tx.Bucket(bktNames), tx.Bucket(bktMboxes)
	if meta == nil || names == nil || mboxes == nil {
		a.add(ProblemAccountDB, "", 0, "mail.db lacks its buckets")
		a.unsure = true
		return nil
	}
	a.bodies = tx.Bucket(bktBodies)
	nameOf := map[MailboxID]string{}
	type dangle struct {
		key []byte
		p   *Problem
	}
	var dangling []dangle
	err := names.ForEach(func(k, v []byte) error {
		if len(v) != 8 || mboxes.Bucket(v) == nil {
			p := a.add(ProblemMailboxName, string(k), 0, "name points to no mailbox")
			dangling = append(dangling, dangle{append([]byte(nil), k...), p})
			return nil
		}
		id := MailboxID(binary.BigEndian.Uint64(v))
		if other, ok := nameOf[id]; ok {
			a.add(ProblemMailboxName, string(k), 0, "mailbox #%d also has the name %q", id, other)
			return nil
		}
		nameOf[id] = string(k)
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range dangling {
		if err := a.fix(d.p, func() error { return names.Delete(d.key) }); err != nil {
			return err
		}
	}
	var ids []MailboxID
	err = mboxes.ForEach(func(k, v []byte) error {
		if v != nil || len(k) != 8 {
			a.add(ProblemAccountDB, "", 0, "stray key %x in the mailbox list", k)
			return nil
		}
		ids = append(ids, MailboxID(binary.BigEndian.Uint64(k)))
		return nil
	})
	if err != nil {
		return err
	}
	var noInbox *Problem
	if names.Get([]byte(Inbox)) == nil {
		noInbox = a.add(ProblemNoInbox, "", 0, "no INBOX (the server creates an empty one when the account is next opened)")
	}
	var m acctMax
	uidvs := map[uint32]string{}
	for _, id := range ids {
		name, named := nameOf[id]
		info, err := a.mailbox(tx, id, name, named, &m)
		if err != nil {
			return err
		}
		if info == nil {
			continue
		}
		if other, ok := uidvs[info.UIDValidity]; ok {
			a.add(ProblemCounter, info.Name, 0, "UIDVALIDITY %d is also %q's", info.UIDValidity, other)
		}
		uidvs[info.UIDValidity] = info.Name
		m.uidv = max(m.uidv, info.UIDValidity)
		m.modseq = max(m.modseq, info.HighestModSeq)
		m.mboxID = max(m.mboxID, uint64(id))
	}
	if noInbox != nil && a.inboxNamed {
		noInbox.Repairable, noInbox.Repaired = true, a.c.opts.Repair // a nameless INBOX gets its name back
	}
	if err := a.strayBodies(); err != nil {
		return err
	}
	return a.acctCounters(meta, m)
}

// strayBodies reports inline bodies no record names. They cannot come
// from a crash (a body commits with its record), only from damage or a
// bug; they take space but nothing can reach them.
func (a *acctCheck) strayBodies() error {
	if a.bodies == nil {
		return nil
	}
	var stray [][]byte
	err := a.bodies.ForEach(func(k, _ []byte) error {
		if !a.byName[string(k)] {
			stray = append(stray, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stray {
		if a.unsure {
			a.add(ProblemOrphanBody, "", 0, "inline body %s: no readable record names it (kept: some records could not be read)", k)
			continue
		}
		p := a.add(ProblemOrphanBody, "", 0, "inline body %s: no record names it", k)
		if err := a.fix(p, func() error { return a.bodies.Delete(k) }); err != nil {
			return err
		}
	}
	return nil
}

// body returns a record's body for a metadata repair.
func (a *acctCheck) body(name string) (io.ReadCloser, error) {
	if isInline(name) {
		return io.NopCloser(bytes.NewReader(a.bodies.Get([]byte(name)))), nil
	}
	return os.Open(filepath.Join(a.dir, blobRel(name)))
}

// statBody checks that a record's body exists with the record's size.
func (a *acctCheck) statBody(r record) (ok bool, kind ProblemKind, detail string) {
	if isInline(r.blob) {
		v, found := getInline(a.bodies, r.blob)
		switch {
		case !found:
			return false, ProblemMissingBody, fmt.Sprintf("inline body %s missing", r.blob)
		case int64(len(v)) != r.size:
			return false, ProblemBodySize, fmt.Sprintf("inline body %s has %d bytes, its record says %d", r.blob, len(v), r.size)
		}
		return true, "", ""
	}
	rel := blobRel(r.blob)
	a.refs[rel] = true
	switch fi, err := os.Stat(filepath.Join(a.dir, rel)); {
	case errors.Is(err, fs.ErrNotExist):
		return false, ProblemMissingBody, fmt.Sprintf("body file missing: %s does not exist", rel)
	case err != nil:
		return false, ProblemMissingBody, err.Error()
	case fi.Size() != r.size:
		return false, ProblemBodySize, fmt.Sprintf("%s has %d bytes, its record says %d", rel, fi.Size(), r.size)
	}
	return true, "", ""
}

// acctCounters checks the account-wide counters against what its
// mailboxes hold.
func (a *acctCheck) acctCounters(meta *bolt.Bucket, m acctMax) error {
	for _, k := range []struct {
		key  []byte
		what string
		want uint64
		min  bool // the counter must be at least want (else exactly want)
	}{
		{keyBytes, "bytes used", m.bytes, false},
		{keyModSeq, "highest MODSEQ", m.modseq, true},
		{keyUIDV, "last UIDVALIDITY", uint64(m.uidv), true},
		{keyNextMbox, "last mailbox ID", m.mboxID, true},
	} {
		got := getU64(meta, k.key)
		if got == k.want || k.min && got > k.want || a.unsure && !k.min {
			continue // (bytes used are unknowable when records are unreadable)
		}
		rel := "is"
		if k.min {
			rel = "is below"
		}
		p := a.add(ProblemCounter, "", 0, "%s %d %s %d, what the mailboxes hold", k.what, got, rel, k.want)
		if err := a.fix(p, func() error { return meta.Put(k.key, idKey(k.want)) }); err != nil {
			return err
		}
	}
	return nil
}

// mboxSums are a mailbox's counters as its records give them.
type mboxSums struct {
	messages, unseen, deleted uint32
	size                      int64
	maxUID                    UID
	maxModSeq                 uint64
	unreadable                int // records that do not decode: the sums lack them
}

// mailbox checks one mailbox: its name, every record, its body file and
// metadata, and its counters. It returns the info as repaired, or nil if
// the info does not decode.
func (a *acctCheck) mailbox(tx *bolt.Tx, id MailboxID, name string, named bool, m *acctMax) (*mboxInfo, error) {
	names := tx.Bucket(bktNames)
	b := tx.Bucket(bktMboxes).Bucket(idKey(uint64(id)))
	var info mboxInfo
	dirty := false
	if err := json.Unmarshal(b.Get(keyInfo), &info); err != nil {
		a.add(ProblemAccountDB, name, 0, "mailbox #%d: info does not decode: %v", id, err)
		// Walk the records anyway, so their bodies are not taken for orphans.
		_, err := a.records(b, name, m)
		return nil, err
	}
	switch {
	case !named:
		p := a.add(ProblemMailboxName, info.Name, 0, "mailbox #%d is in no name entry: its messages are unreachable", id)
		if n, err := NormalizeMailbox(info.Name); err == nil && n == info.Name && names.Get([]byte(n)) == nil {
			if err := a.fix(p, func() error { return names.Put([]byte(n), idKey(uint64(id))) }); err != nil {
				return nil, err
			}
			a.inboxNamed = a.inboxNamed || n == Inbox
		}
		name = info.Name
	case info.Name != name:
		p := a.add(ProblemMailboxName, name, 0, "mailbox #%d calls itself %q", id, info.Name)
		a.fix(p, func() error { info.Name, dirty = name, true; return nil })
	}
	s, err := a.records(b, name, m)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return &info, nil
	}
	counters := []struct {
		what      string
		got, want uint64
		set       func()
	}{
		{"messages", uint64(info.Messages), uint64(s.messages), func() { info.Messages = s.messages }},
		{"unseen", uint64(info.Unseen), uint64(s.unseen), func() { info.Unseen = s.unseen }},
		{"deleted", uint64(info.Deleted), uint64(s.deleted), func() { info.Deleted = s.deleted }},
		{"size", uint64(info.Size), uint64(s.size), func() { info.Size = s.size }},
	}
	if s.unreadable > 0 {
		counters = nil // unknowable: the unreadable records count too
	}
	for _, f := range counters {
		if f.got != f.want {
			p := a.add(ProblemCounter, name, 0, "%s counter %d, records say %d", f.what, f.got, f.want)
			a.fix(p, func() error { f.set(); dirty = true; return nil })
		}
	}
	if s.maxUID != 0 && info.UIDNext <= uint32(s.maxUID) {
		p := a.add(ProblemCounter, name, 0, "UIDNEXT %d is not above UID %d", info.UIDNext, s.maxUID)
		a.fix(p, func() error { info.UIDNext, dirty = uint32(s.maxUID)+1, true; return nil })
	}
	if info.HighestModSeq < s.maxModSeq {
		p := a.add(ProblemCounter, name, 0, "HIGHESTMODSEQ %d is below a message's MODSEQ %d", info.HighestModSeq, s.maxModSeq)
		a.fix(p, func() error { info.HighestModSeq, dirty = s.maxModSeq, true; return nil })
	}
	if dirty {
		v, err := json.Marshal(&info)
		if err != nil {
			return nil, err
		}
		if err := b.Put(keyInfo, v); err != nil {
			return nil, err
		}
	}
	return &info, nil
}

// records checks a mailbox's records, their bodies and metadata, and
// returns their sums; nil if the mailbox lacks its buckets.
func (a *acctCheck) records(b *bolt.Bucket, name string, m *acctMax) (*mboxSums, error) {
	msgs, env, part := b.Bucket(bktMsgs), b.Bucket(bktEnv), b.Bucket(bktPart)
	if msgs == nil || env == nil || part == nil {
		a.add(ProblemAccountDB, name, 0, "mailbox lacks its record buckets")
		a.unsure = true
		return nil, nil
	}
	type metaFix struct {
		key       []byte
		env, part []byte
	}
	var fixes []metaFix
	var s mboxSums
	err := msgs.ForEach(func(k, v []byte) error {
		if len(k) != 4 {
			a.add(ProblemRecord, name, 0, "record key %x is not a UID", k)
			a.unsure = true
			return nil
		}
		uid := UID(binary.BigEndian.Uint32(k))
		s.maxUID = max(s.maxUID, uid)
		r, err := decodeRecord(v)
		if err != nil {
			a.add(ProblemRecord, name, uid, "record does not decode (left as it is: the counters still count it)")
			a.unsure = true
			s.unreadable++
			return nil
		}
		s.messages++
		if r.bits&bitSeen == 0 {
			s.unseen++
		}
		if r.bits&bitDeleted != 0 {
			s.deleted++
		}
		s.size += r.size
		s.maxModSeq = max(s.maxModSeq, r.modseq)
		m.modseq = max(m.modseq, r.modseq)
		m.bytes += uint64(r.size)
		a.c.rep.Messages++
		a.c.rep.Bytes += r.size
		if a.byName[r.blob] {
			a.add(ProblemSharedBody, name, uid, "body %s is also another record's: expunging one loses the other", r.blob)
		}
		a.byName[r.blob] = true
		bodyOK, kind, detail := a.statBody(r)
		if !bodyOK {
			a.add(kind, name, uid, "%s", detail)
		}
		_, envErr := msgmeta.DecodeEnvelope(env.Get(k))
		_, partErr := msgmeta.DecodePart(part.Get(k))
		if envErr == nil && partErr == nil {
			return nil
		}
		p := a.add(ProblemMetadata, name, uid, "envelope or body structure missing or undecodable: %v", errors.Join(envErr, partErr))
		if !bodyOK {
			return nil // parsed again only from a sound body
		}
		return a.fix(p, func() error {
			f, err := a.body(r.blob)
			if err != nil {
				return err
			}
			defer f.Close()
			mm, err := msgmeta.Parse(f)
			if err != nil {
				return fmt.Errorf("parse body %s: %w", r.blob, err)
			}
			fixes = append(fixes, metaFix{append([]byte(nil), k...), msgmeta.EncodeEnvelope(&mm.Envelope), msgmeta.EncodePart(&mm.Root)})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, f := range fixes {
		if err := env.Put(f.key, f.env); err != nil {
			return nil, err
		}
		if err := part.Put(f.key, f.part); err != nil {
			return nil, err
		}
	}
	for _, mb := range []*bolt.Bucket{env, part} {
		var stray [][]byte
		err := mb.ForEach(func(k, _ []byte) error {
			if msgs.Get(k) == nil {
				stray = append(stray, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, k := range stray {
			p := a.add(ProblemStrayMeta, name, 0, "metadata under key %x has no record", k)
			if err := a.fix(p, func() error { return mb.Delete(k) }); err != nil {
				return nil, err
			}
		}
	}
	a.c.rep.Mailboxes++
	return &s, nil
}

// blobs walks the account's body files: each must be named by a record.
// Live, a file no record names is passed over: it may be a body placed
// for a record not yet committed, or one expunged and waiting for its
// removal (held back by this check or a backup); the next account open
// removes real orphans (cleanOrphans).
func (a *acctCheck) blobs() error {
	err := filepath.WalkDir(filepath.Join(a.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(a.dir, p)
		if err != nil {
			return err
		}
		switch {
		case a.refs[rel]:
		case a.byName[d.Name()]:
			a.add(ProblemMisplaced, "", 0, "%s: a record names this body, in another directory", rel)
		case a.c.live:
		case a.unsure:
			a.add(ProblemOrphanBody, "", 0, "%s: no readable record names it (kept: some records could not be read)", rel)
		default:
			pr := a.add(ProblemOrphanBody, "", 0, "%s: no record names it", rel)
			return a.fix(pr, func() error { return os.Remove(p) })
		}
		return nil
	})
	return err
}

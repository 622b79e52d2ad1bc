package mailstore

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
)

// FlagState is a message's flags after ChangeFlags.
type FlagState struct {
	UID     UID
	Flags   []string // shared between messages: never change it in place
	ModSeq  uint64   // the message's MODSEQ after the call
	Changed bool     // the call changed the flags (and so the MODSEQ)
}

// HasFlag reports whether the message carries flag (case-insensitive, as IMAP).
func (f *FlagState) HasFlag(flag string) bool {
	return slices.ContainsFunc(f.Flags, func(x string) bool { return strings.EqualFold(x, flag) })
}

// ChangeFlags changes the flags of the given messages and returns the state
// of every one of them that still exists, in the order of uids. Messages
// whose flags did not change are not rewritten: they keep their MODSEQ,
// produce no event and are reported with Changed false. The FlagsChanged
// event lists the changed ones in Changes.
//
// It serves a whole mailbox at a time (IMAP STORE 1:*): one
// cursor walks the records and rewrites them in place, and a record whose
// keywords stay the same is patched, its flag byte and MODSEQ, instead of
// being decoded and encoded again.
func (a *Account) ChangeFlags(ctx context.Context, id MailboxID, uids []UID, op FlagOp, flags []string) ([]FlagState, error) {
	bits, kws := splitFlags(flags)
	var out []FlagState
	err := a.write(func(w *wtx) error {
		var err error
		out, err = w.changeFlags(id, uids, op, bits, kws)
		return err
	})
	return out, err
}

func (w *wtx) changeFlags(id MailboxID, uids []UID, op FlagOp, bits flagBits, kws []string) ([]FlagState, error) {
	m, err := openMbox(w.tx, id)
	if err != nil {
		return nil, err
	}
	out := make([]FlagState, 0, len(uids))
	var first map[UID]int // for uids not strictly ascending: index in out
	for i := 1; i < len(uids) && first == nil; i++ {
		if uids[i] <= uids[i-1] {
			first = map[UID]int{}
		}
	}
	// One cursor walks the records (a step to the next key, a search only
	// for a gap) and rewrites each where it is, with Cursor.Update (our
	// bbolt patch): no search from the root per message, as Put does.
	// bbolt keeps the values it is given until the commit, so the new
	// records are built in one arena.
	c := m.msgs().Cursor()
	var (
		key     [4]byte
		arena   []byte
		at      UID  // the UID the cursor is at
		atOK    bool // at is set: the cursor is at a record with a 4-byte key
		changes []FlagState
	)
	for _, uid := range uids {
		if first != nil {
			if j, dup := first[uid]; dup {
				// Applied already: as if again, nothing changes.
				st := out[j]
				st.Changed = false
				out = append(out, st)
				continue
			}
		}
		binary.BigEndian.PutUint32(key[:], uint32(uid))
		var k, v []byte
		if atOK && at < uid {
			k, v = c.Next()
			if len(k) == 4 && UID(beUint32(k)) < uid {
				k, v = c.Seek(key[:])
			}
		} else {
			k, v = c.Seek(key[:])
		}
		if atOK = len(k) == 4; atOK {
			at = UID(beUint32(k))
		}
		if !atOK || at != uid {
			continue
		}
		st := FlagState{UID: uid}
		n := len(arena)
		var cur, nb flagBits
		if loc, ok := locateRecord(v); ok && loc.keywords == 0 && (len(kws) == 0 || op == FlagsRemove) {
			// The keywords stay none: only the flag byte and the MODSEQ
			// change, and the flag list is one of bitFlags'.
			cur = flagBits(v[1])
			nb = applyBits(cur, op, bits)
			st.Flags, st.ModSeq = joinFlags(nb, nil), loc.modseq
			if nb != cur {
				st.ModSeq = w.nextModSeq()
				arena = reserve(arena, len(v), len(uids)-len(out))
				arena = appendPatched(arena, v, loc, nb, st.ModSeq)
			}
		} else {
			r, err := decodeRecord(v)
			if err != nil {
				return nil, err
			}
			cur = r.bits
			var nk []string
			nb, nk = applyFlags(r.bits, r.keywords, op, bits, kws)
			st.ModSeq = r.modseq
			if nb != r.bits || !slices.Equal(nk, r.keywords) {
				r.bits, r.keywords, r.modseq = nb, nk, w.nextModSeq()
				st.ModSeq = r.modseq
				arena = reserve(arena, len(v), len(uids)-len(out))
				arena = r.appendEncoded(arena)
			}
			st.Flags = joinFlags(r.bits, r.keywords)
		}
		if st.Changed = len(arena) > n; st.Changed {
			if err := c.Update(arena[n:len(arena):len(arena)]); err != nil {
				return nil, err
			}
			m.info.countFlags(cur, nb)
			m.info.HighestModSeq = st.ModSeq
		}
		if first != nil {
			first[uid] = len(out)
		}
		out = append(out, st)
	}
	// The event shares out when every message changed (STORE 1:* does):
	// neither is changed after this.
	changes = out
	for i := range out {
		if !out[i].Changed {
			changes = nil
			break
		}
	}
	if changes == nil {
		for i := range out {
			if out[i].Changed {
				changes = append(changes, out[i])
			}
		}
	}
	if len(changes) == 0 {
		return out, nil
	}
	w.emit(FlagsChanged{Mailbox: m.id, ModSeq: w.modseq, Changes: changes})
	return out, m.save()
}

// reserve allocates the arena at the first change, for left more records
// of about size bytes (those of one mailbox are about the same size, and a
// new MODSEQ is at most a byte longer).
func reserve(arena []byte, size, left int) []byte {
	if arena == nil {
		arena = make([]byte, 0, (size+2)*left)
	}
	return arena
}

// applyBits is applyFlags for the system flags alone.
func applyBits(cur flagBits, op FlagOp, bits flagBits) flagBits {
	switch op {
	case FlagsReplace:
		return bits
	case FlagsAdd:
		return cur | bits
	default: // FlagsRemove
		return cur &^ bits
	}
}

// countFlags updates the mailbox's \Seen and \Deleted counters for a
// message whose flags went from cur to nb.
func (i *mboxInfo) countFlags(cur, nb flagBits) {
	switch {
	case cur&bitSeen == 0 && nb&bitSeen != 0:
		i.Unseen--
	case cur&bitSeen != 0 && nb&bitSeen == 0:
		i.Unseen++
	}
	switch {
	case cur&bitDeleted == 0 && nb&bitDeleted != 0:
		i.Deleted++
	case cur&bitDeleted != 0 && nb&bitDeleted == 0:
		i.Deleted--
	}
}

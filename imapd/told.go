package imapd

import (
	"cmp"
	"slices"

	"sealpost/mailstore"
)

// What a session's own STOREs (and FETCH's implicit \Seen) told its
// client, kept until the next flush, so that the store's events for the
// same changes are not reported again (see mailboxView.noteFlags).

// toldBatch is what one STORE told (or, silent, did not tell) the client:
// the state it left each message in, ascending by UID. A list per STORE
// rather than a map entry per message: recording it costs nothing, and the
// store's event for the same change is recognised by its MODSEQ alone.
type toldBatch struct {
	msgs   []mailstore.FlagState
	modseq uint64 // of the write that changed msgs (0: it changed none)
	silent bool   // the client was not sent the flags: only changed ones count
}

// lookup returns the state the batch recorded for uid.
func (b *toldBatch) lookup(uid mailstore.UID) (*mailstore.FlagState, bool) {
	i, ok := slices.BinarySearchFunc(b.msgs, uid, func(m mailstore.FlagState, u mailstore.UID) int { return cmp.Compare(m.UID, u) })
	if !ok || b.silent && !b.msgs[i].Changed {
		return nil, false
	}
	return &b.msgs[i], true
}

// toldState returns what the latest STORE that recorded uid left it in.
func (v *mailboxView) toldState(uid mailstore.UID) (t *mailstore.FlagState, silent, ok bool) {
	for i := len(v.told) - 1; i >= 0; i-- {
		if t, ok := v.told[i].lookup(uid); ok {
			return t, v.told[i].silent, true
		}
	}
	return nil, false, false
}

// ownLatest reports whether modseq is that of the last STORE told: the
// write whose event it is changed exactly the messages that STORE
// recorded with that MODSEQ, and no later STORE recorded any of them, so
// noteFlags would drop each.
func (v *mailboxView) ownLatest(modseq uint64) bool {
	n := len(v.told)
	return modseq != 0 && n > 0 && v.told[n-1].modseq == modseq
}

// tell records flags this session has just set. The matching FlagsChanged
// events arrive before ChangeFlags returns, so they are absorbed by the next
// flush, which then forgets told. silent: the client was not sent them, so
// only the messages the call changed are recorded. An unchanged message
// reports the state someone else left, possibly with a change this client
// has not heard of yet: recording it would suppress that change's event.
//
// msgs must be ascending by UID (ChangeFlags of a resolved set); the view
// keeps it until the next flush.
func (v *mailboxView) tell(msgs []mailstore.FlagState, silent bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := toldBatch{msgs: msgs, silent: silent}
	for i := range msgs {
		if msgs[i].Changed {
			b.modseq = msgs[i].ModSeq // one write: the same for all
			break
		}
	}
	v.told = append(v.told, b)
	// A change already absorbed but not yet sent is older than this
	// state: replace it, or drop it when the reply carries the flags.
	for uid := range v.flags {
		if m, ok := b.lookup(uid); ok {
			if silent {
				v.flags[uid] = m.Flags
			} else {
				delete(v.flags, uid)
			}
		}
	}
}

package imapd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore"
)

// mailboxView is a selected mailbox as one session's client sees it: the
// UIDs its sequence numbers refer to, plus the changes not yet reported.
// It replaces imapserver's MailboxTracker, which races and panics
// (LIBRARIES.md §2.5): every session follows the store's events on its own.
//
// Two locks, so that a slow client never slows the store down:
//   - qmu guards queue, which the Watch callback appends to on the store's
//     commit path (it must not block);
//   - mu guards everything else and is held while writing updates to the
//     client; only the session's goroutines take it.
//
// Commands get the mailbox to act on from target, which first absorbs the
// queue: a command never acts on a mailbox the view has already left
// (deleted, or INBOX renamed away) by the time the command starts.
type mailboxView struct {
	acct        *mailstore.Account
	readOnly    bool
	uidValidity uint32
	stopWatch   func()
	notify      chan struct{} // capacity 1: "the queue has something"
	queueLimit  int

	qmu      sync.Mutex
	queue    []mailstore.Event
	watchID  mailstore.MailboxID // the mailbox onEvent follows
	overflow bool                // more than queueLimit events: queue dropped

	mu      sync.Mutex
	id      mailstore.MailboxID // the mailbox commands act on
	name    string
	snapSeq uint64
	// uids is the client's view, ascending: sequence number n is uids[n-1].
	// It is never changed in place (it may be shared, see openView).
	uids []mailstore.UID
	// adds are messages that arrived after the view; EXISTS announces them.
	adds []mailstore.UID
	// expunged are UIDs still in uids whose EXPUNGE is not yet sent.
	expunged map[mailstore.UID]struct{}
	// flags are new flags of messages in the view, not yet sent.
	flags map[mailstore.UID][]string
	// told are flags this session's own STOREs (or implicit \Seen) have
	// already accounted for, oldest first, until the next flush; see tell.
	told []toldBatch
	// searchRes is the result saved by SEARCH RETURN (SAVE) (RFC 5182).
	searchRes []mailstore.UID
	// gone: the mailbox was deleted; later events no longer concern this
	// view.
	gone bool
}

// errViewOverflow: the client left more than queueLimit changes unread;
// the session is ended (BYE) rather than let its queue grow without bound.
var errViewOverflow = errors.New("too many unreported changes to the selected mailbox")

// defaultQueueLimit bounds the events one selected session keeps for its
// client between two polls. A client that is connected but never polls (or
// IDLEs) would otherwise hold them until autologout. Ten thousand separate
// changes is far beyond what an active client lets pile up.
const defaultQueueLimit = 10000

// openView starts following a mailbox. Watch comes before Snapshot, and
// events the snapshot already reflects are dropped when absorbed.
func openView(ctx context.Context, acct *mailstore.Account, name string, readOnly bool, queueLimit int) (*mailboxView, *mailstore.Snapshot, error) {
	for attempt := 0; ; attempt++ {
		info, err := acct.Mailbox(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		v := &mailboxView{
			acct: acct, id: info.ID, watchID: info.ID, readOnly: readOnly, name: info.Name,
			queueLimit: queueLimit,
			notify:     make(chan struct{}, 1),
			expunged:   map[mailstore.UID]struct{}{},
			flags:      map[mailstore.UID][]string{},
		}
		v.stopWatch = acct.Watch(v.onEvent)
		snap, err := acct.Snapshot(ctx, info.ID)
		if err == nil && snap.Info.Name != info.Name {
			// Renamed between the lookup and the snapshot (e.g. RENAME
			// INBOX): the snapshot is not of the mailbox asked for.
			err = mailstore.ErrNoSuchMailbox
		}
		if err != nil {
			v.stopWatch()
			if errors.Is(err, mailstore.ErrNoSuchMailbox) && attempt < 3 {
				continue // look the name up again
			}
			return nil, nil, err
		}
		v.uidValidity = snap.Info.UIDValidity
		v.uids, v.snapSeq = snap.UIDs, snap.Seq // shared: only appended to or replaced
		return v, snap, nil
	}
}

func (v *mailboxView) close() { v.stopWatch() }

// onEvent runs on the store's commit path: it filters and queues, nothing
// more. When INBOX is renamed away it goes on with the new INBOX at once,
// so no delivery to it is missed.
func (v *mailboxView) onEvent(e mailstore.Event) {
	v.qmu.Lock()
	var mine bool
	switch e := e.(type) {
	case mailstore.MessageAdded:
		mine = e.Mailbox == v.watchID
	case mailstore.FlagsChanged:
		mine = e.Mailbox == v.watchID
	case mailstore.Expunged:
		mine = e.Mailbox == v.watchID
	case mailstore.MailboxDeleted:
		mine = e.Mailbox == v.watchID
	case mailstore.MailboxRenamed:
		mine = e.Mailbox == v.watchID
		if mine && e.NewInbox != 0 {
			v.watchID = e.NewInbox
		}
	}
	switch {
	case !mine || v.overflow:
	case len(v.queue) >= v.queueLimit:
		v.overflow, v.queue = true, nil
	default:
		v.queue = append(v.queue, e)
	}
	v.qmu.Unlock()
	if mine {
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// absorbLocked moves queued events into the pending state. v.mu is held.
// It fails only when the queue overflowed: the view can no longer be
// brought up to date.
func (v *mailboxView) absorbLocked() error {
	v.qmu.Lock()
	q, overflow := v.queue, v.overflow
	v.queue = nil
	v.qmu.Unlock()
	if overflow {
		return errViewOverflow
	}
	for _, e := range q {
		if e.Seq() <= v.snapSeq || v.gone {
			continue // already in the snapshot, or no longer ours
		}
		switch e := e.(type) {
		case mailstore.MessageAdded:
			if e.Message.UID > v.lastUID() {
				v.adds = append(v.adds, e.Message.UID)
			}
		case mailstore.FlagsChanged:
			if v.ownLatest(e.ModSeq) {
				// The echo of this session's last STORE: every message
				// in it was told with this MODSEQ or is newer.
				break
			}
			states := e.Changes
			for i := range states {
				v.noteFlags(&states[i])
			}
		case mailstore.Expunged:
			for _, uid := range e.UIDs {
				v.noteExpunge(uid)
			}
		case mailstore.MailboxDeleted:
			v.vanish()
			v.gone = true
		case mailstore.MailboxRenamed:
			if e.NewInbox != 0 {
				// RENAME INBOX moves its messages away and leaves a new,
				// empty INBOX (RFC 9051 §6.3.6): the client sees them
				// expunged, and the view follows the new INBOX, which
				// continues the old UIDVALIDITY and UIDNEXT, so later
				// deliveries arrive as EXISTS with UIDs above every old one.
				v.vanish()
				v.id = e.NewInbox
				break
			}
			v.name = e.NewName
		}
	}
	return nil
}

// vanish empties the view: its messages are gone.
func (v *mailboxView) vanish() {
	for _, uid := range v.uids {
		v.expunged[uid] = struct{}{}
	}
	v.adds = nil
	clear(v.flags)
}

// errSelectedGone answers commands on messages of a selected mailbox that
// was deleted meanwhile.
var errSelectedGone = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeNonExistent,
	Text: "The selected mailbox no longer exists",
}

// target absorbs pending changes and returns the mailbox commands act on:
// errSelectedGone when it was deleted, errViewOverflow when the view is
// lost. Nothing is written to the client.
func (v *mailboxView) target() (mailstore.MailboxID, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.absorbLocked(); err != nil {
		return 0, err
	}
	if v.gone {
		return 0, errSelectedGone
	}
	return v.id, nil
}

func (v *mailboxView) lastUID() mailstore.UID {
	if n := len(v.adds); n > 0 {
		return v.adds[n-1]
	}
	if n := len(v.uids); n > 0 {
		return v.uids[n-1]
	}
	return 0
}

// index returns the position of uid in the view.
func (v *mailboxView) index(uid mailstore.UID) (int, bool) {
	return slices.BinarySearch(v.uids, uid)
}

func (v *mailboxView) noteExpunge(uid mailstore.UID) {
	if i, ok := slices.BinarySearch(v.adds, uid); ok {
		// Never announced: the client need not hear of it at all.
		v.adds = slices.Delete(v.adds, i, i+1)
		return
	}
	if _, ok := v.index(uid); ok {
		v.expunged[uid] = struct{}{}
		delete(v.flags, uid)
	}
}

func (v *mailboxView) noteFlags(m *mailstore.FlagState) {
	if _, ok := v.index(m.UID); !ok {
		return // not in the view (new messages are fetched by the client)
	}
	if _, gone := v.expunged[m.UID]; gone {
		return
	}
	if t, silent, ok := v.toldState(m.UID); ok && m.ModSeq <= t.ModSeq {
		// This session's own STORE produced or already reported a newer
		// state. After a .SILENT STORE, an older change by someone else
		// is still news to the client: send the state the STORE left.
		if silent && m.ModSeq < t.ModSeq {
			v.flags[m.UID] = t.Flags
		}
		return
	}
	v.flags[m.UID] = m.Flags
}

// updateWriter is what flush writes to: imapserver's UpdateWriter.
type updateWriter interface {
	WriteExpunge(seqNum uint32) error
	WriteNumMessages(n uint32) error
	WriteMessageFlags(seqNum uint32, uid imap.UID, flags []imap.Flag) error
}

// flush reports pending changes: EXPUNGEs (when allowed), then EXISTS for
// new messages, then FETCH FLAGS for changed ones.
func (v *mailboxView) flush(w updateWriter, allowExpunge bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.absorbLocked(); err != nil {
		return err
	}
	clear(v.told) // drop the references to the STOREs' results
	v.told = v.told[:0]
	if allowExpunge {
		if err := v.writeExpungesLocked(w.WriteExpunge); err != nil {
			return err
		}
	}
	if len(v.adds) > 0 {
		v.uids = append(v.uids, v.adds...)
		v.adds = nil
		if err := w.WriteNumMessages(uint32(len(v.uids))); err != nil {
			return err
		}
	}
	if len(v.flags) == 0 {
		return nil
	}
	changed := make([]mailstore.UID, 0, len(v.flags))
	for uid := range v.flags {
		changed = append(changed, uid)
	}
	slices.Sort(changed)
	for _, uid := range changed {
		fl := v.flags[uid]
		delete(v.flags, uid)
		if i, ok := v.index(uid); ok {
			if err := w.WriteMessageFlags(uint32(i+1), imap.UID(uid), imapFlags(fl)); err != nil {
				return err
			}
		}
	}
	return nil
}

// expungeNow absorbs the queue and reports every pending EXPUNGE through
// write: EXPUNGE, UID EXPUNGE and MOVE call it after their own change.
func (v *mailboxView) expungeNow(write func(seqNum uint32) error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.absorbLocked(); err != nil {
		return err
	}
	return v.writeExpungesLocked(write)
}

// writeExpungesLocked sends EXPUNGE for pending expunges from the highest
// sequence number down, so each number is right when it is sent, and
// removes them from the view.
func (v *mailboxView) writeExpungesLocked(write func(seqNum uint32) error) error {
	if len(v.expunged) == 0 {
		return nil
	}
	var err error
	for i := len(v.uids) - 1; i >= 0 && err == nil; i-- {
		if _, ok := v.expunged[v.uids[i]]; ok {
			err = write(uint32(i + 1))
		}
	}
	// The view follows even if the client did not get every line: the
	// connection is then broken anyway. A new slice: uids may be the
	// store's snapshot, shared with other views (mailstore.Snapshot).
	kept := make([]mailstore.UID, 0, len(v.uids)-min(len(v.expunged), len(v.uids)))
	for _, u := range v.uids {
		if _, ok := v.expunged[u]; !ok {
			kept = append(kept, u)
		}
	}
	v.uids = kept
	clear(v.expunged)
	return err
}

// msgRef is a message of the view: its sequence number and UID.
type msgRef struct {
	seq uint32
	uid mailstore.UID
}

func uidsOf(refs []msgRef) []mailstore.UID {
	out := make([]mailstore.UID, len(refs))
	for i, r := range refs {
		out[i] = r.uid
	}
	return out
}

// checkSeq refuses a sequence set that names a message beyond the view
// (RFC 9051 §2.3.1.2: a client never references a number above the last
// EXISTS): BAD, like Dovecot, rather than OK with nothing. A range that
// only ends beyond is clamped; "*" and UID sets are always fine.
func (v *mailboxView) checkSeq(set imap.NumSet) error {
	seqs, ok := set.(imap.SeqSet)
	if !ok {
		return nil
	}
	v.mu.Lock()
	n := uint32(len(v.uids))
	v.mu.Unlock()
	for _, r := range seqs {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = n
		}
		if hi == 0 {
			hi = n
		}
		if min(lo, hi) > n {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
				Text: fmt.Sprintf("No message %d: the mailbox has %d", min(lo, hi), n)}
		}
	}
	return nil
}

// resolve turns a command's message set into messages of the view, in
// ascending order. "*" is the last message (or the highest UID) of the
// view, "$" the saved SEARCH result; numbers outside the view are ignored.
func (v *mailboxView) resolve(set imap.NumSet) []msgRef {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := len(v.uids)
	var ranges [][2]int // index ranges into uids, inclusive
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			lo, hi := int(r.Start), int(r.Stop)
			if lo == 0 {
				lo = n
			}
			if hi == 0 {
				hi = n
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo < 1 {
				lo = 1
			}
			hi = min(hi, n)
			if lo <= hi {
				ranges = append(ranges, [2]int{lo - 1, hi - 1})
			}
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range v.searchRes {
				if i, ok := v.index(uid); ok {
					ranges = append(ranges, [2]int{i, i})
				}
			}
			break
		}
		if n == 0 {
			return nil
		}
		last := v.uids[n-1]
		for _, r := range set {
			lo, hi := mailstore.UID(r.Start), mailstore.UID(r.Stop)
			if lo == 0 {
				lo = last
			}
			if hi == 0 {
				hi = last
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			i, _ := v.index(lo)
			j, found := v.index(hi)
			if !found {
				j--
			}
			if i <= j {
				ranges = append(ranges, [2]int{i, j})
			}
		}
	}
	return v.refsLocked(ranges)
}

// refsLocked merges index ranges and lists their messages.
func (v *mailboxView) refsLocked(ranges [][2]int) []msgRef {
	if len(ranges) == 0 {
		return nil
	}
	slices.SortFunc(ranges, func(a, b [2]int) int { return a[0] - b[0] })
	var out []msgRef
	next := 0 // first index not yet listed
	for _, r := range ranges {
		for i := max(r[0], next); i <= r[1]; i++ {
			out = append(out, msgRef{seq: uint32(i + 1), uid: v.uids[i]})
		}
		next = max(next, r[1]+1)
	}
	return out
}

// all lists every message of the view.
func (v *mailboxView) all() []msgRef {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]msgRef, len(v.uids))
	for i, uid := range v.uids {
		out[i] = msgRef{seq: uint32(i + 1), uid: uid}
	}
	return out
}

func (v *mailboxView) saveSearch(uids []mailstore.UID) {
	v.mu.Lock()
	v.searchRes = uids
	v.mu.Unlock()
}

func (v *mailboxView) savedSearch() []mailstore.UID {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.searchRes
}

func imapFlags(fl []string) []imap.Flag {
	out := make([]imap.Flag, len(fl))
	for i, f := range fl {
		out[i] = imap.Flag(f)
	}
	return out
}

func storeFlags(fl []imap.Flag) []string {
	out := make([]string, len(fl))
	for i, f := range fl {
		out[i] = string(f)
	}
	return out
}

package mailstore

// Event is a committed change to an account, published to watchers after
// its commit, in commit order. Events of one write share a sequence number
// that increases by one per write that changed anything; a snapshot taken
// with Account.Snapshot tells which sequence number it already reflects.
type Event interface {
	Seq() uint64
	withSeq(uint64) Event
}

type seq uint64

func (s seq) Seq() uint64 { return uint64(s) }

// MessageAdded: a message was delivered, appended, copied or moved in.
type MessageAdded struct {
	seq
	Mailbox MailboxID
	Message Message
}

// FlagsChanged: these messages' flags changed (ChangeFlags). Changes has
// each with its new flags and MODSEQ; ModSeq is the MODSEQ they share
// (that of the write that changed them). The slice is shared: never
// change it.
type FlagsChanged struct {
	seq
	Mailbox MailboxID
	ModSeq  uint64
	Changes []FlagState
}

// Expunged: these messages were removed (expunge, move out, POP3 delete).
type Expunged struct {
	seq
	Mailbox MailboxID
	UIDs    []UID
}

// MailboxCreated: a new mailbox exists.
type MailboxCreated struct {
	seq
	Mailbox MailboxID
	Name    string
}

// MailboxRenamed: a mailbox changed its name (its ID and messages stay).
// When it was INBOX, NewInbox is the new, empty INBOX created in the same
// write; it continues the old INBOX's UIDVALIDITY and UIDNEXT, so a session
// that had INBOX selected can follow it without any UID changing meaning.
type MailboxRenamed struct {
	seq
	Mailbox  MailboxID
	OldName  string
	NewName  string
	NewInbox MailboxID
}

// MailboxDeleted: a mailbox and its messages are gone.
type MailboxDeleted struct {
	seq
	Mailbox MailboxID
	Name    string
}

func (e MessageAdded) withSeq(s uint64) Event   { e.seq = seq(s); return e }
func (e FlagsChanged) withSeq(s uint64) Event   { e.seq = seq(s); return e }
func (e Expunged) withSeq(s uint64) Event       { e.seq = seq(s); return e }
func (e MailboxCreated) withSeq(s uint64) Event { e.seq = seq(s); return e }
func (e MailboxRenamed) withSeq(s uint64) Event { e.seq = seq(s); return e }
func (e MailboxDeleted) withSeq(s uint64) Event { e.seq = seq(s); return e }

// Watch registers fn to receive every event of this account from now on.
// fn runs on the account's commit path: it must be quick and must not call
// back into the store (queue the event and return). stop unregisters it.
func (a *Account) Watch(fn func(Event)) (stop func()) {
	a.watchMu.Lock()
	id := a.nextW
	a.nextW++
	a.watchers[id] = fn
	a.watchMu.Unlock()
	return func() {
		a.watchMu.Lock()
		delete(a.watchers, id)
		a.watchMu.Unlock()
	}
}

func (a *Account) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	a.watchMu.Lock()
	defer a.watchMu.Unlock()
	for _, e := range evs {
		for _, fn := range a.watchers {
			fn(e)
		}
	}
}

package mailstore

import (
	"slices"
	"strings"
	"time"

	"sealpost/mailstore/msgmeta"
)

// UserID identifies a user; it names the user's directory.
type UserID uint64

// MailboxID identifies a mailbox for its whole life, across renames.
type MailboxID uint64

// UID is a message's IMAP unique identifier within its mailbox.
type UID uint32

// User is an account as listed by the store. The password hash stays inside.
type User struct {
	ID      UserID
	Name    string
	Quota   int64 // bytes; 0 = unlimited
	Created time.Time
}

// System flags, in IMAP spelling (RFC 9051 §2.3.2).
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// flagBits holds the system flags as a bitmask; keywords are stored by name.
type flagBits uint8

const (
	bitSeen flagBits = 1 << iota
	bitAnswered
	bitFlagged
	bitDeleted
	bitDraft
)

var systemFlags = []struct {
	name string
	bit  flagBits
}{
	{FlagSeen, bitSeen}, {FlagAnswered, bitAnswered}, {FlagFlagged, bitFlagged},
	{FlagDeleted, bitDeleted}, {FlagDraft, bitDraft},
}

// Special-use attributes (RFC 6154) that mailboxes can carry.
const (
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// Message is a message's record: everything but its body and MIME metadata.
type Message struct {
	UID          UID
	Flags        []string // system flags in canonical spelling, then keywords
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64 // exact octets of the stored (CRLF) body
	ModSeq       uint64
	Blob         string // opaque body reference for Account.Open
}

// HasFlag reports whether the message carries flag (case-insensitive, as IMAP).
func (m *Message) HasFlag(flag string) bool {
	return slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// MessageMeta is a message record plus, when asked for, its parsed metadata.
type MessageMeta struct {
	Message
	Envelope    *msgmeta.Envelope
	RawEnvelope []byte // with FetchWant.RawEnvelope: the stored bytes (a copy)
	Structure   *msgmeta.Part
}

// MailboxInfo describes a mailbox and its counters.
type MailboxInfo struct {
	ID            MailboxID
	Name          string
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	Messages      uint32
	Unseen        uint32
	Deleted       uint32 // messages flagged \Deleted
	Size          int64
	SpecialUse    string
	Subscribed    bool
}

// splitFlags turns a flag list into the stored form: a bitmask of system
// flags and the keywords, de-duplicated case-insensitively. Unknown
// backslash flags (e.g. \Recent, which clients cannot set) are dropped.
func splitFlags(flags []string) (flagBits, []string) {
	var bits flagBits
	var kws []string
outer:
	for _, f := range flags {
		if f == "" {
			continue
		}
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf.name) {
				bits |= sf.bit
				continue outer
			}
		}
		if f[0] == '\\' {
			continue
		}
		if !slices.ContainsFunc(kws, func(k string) bool { return strings.EqualFold(k, f) }) {
			kws = append(kws, f)
		}
	}
	return bits, kws
}

// bitFlags[bits] is joinFlags(bits, nil), shared: flag lists are read,
// never changed in place, and a full slice makes append copy.
var bitFlags = func() (t [32][]string) {
	for bits := range t {
		l := []string{}
		for _, sf := range systemFlags {
			if flagBits(bits)&sf.bit != 0 {
				l = append(l, sf.name)
			}
		}
		t[bits] = l[:len(l):len(l)]
	}
	return t
}()

func joinFlags(bits flagBits, kws []string) []string {
	if len(kws) == 0 && int(bits) < len(bitFlags) {
		return bitFlags[bits]
	}
	out := make([]string, 0, len(kws)+2)
	for _, sf := range systemFlags {
		if bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, kws...)
}

// FlagOp says how ChangeFlags combines the given flags with
// the current ones.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

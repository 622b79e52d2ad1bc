package mailfmt

import (
	"errors"
	"io"
	"slices"
	"strings"
	"time"
)

// Message is one message read from, or to be written to, a mail file.
type Message struct {
	// Mailbox is the folder, '/'-separated; "INBOX" is the inbox.
	Mailbox string
	// Flags are IMAP flags: system flags (\Seen ...) and keywords.
	Flags []string
	// Date is the internal (received) date; zero when the source has none.
	Date time.Time
	// Body is the raw message. Readers hand out a Body that is valid until
	// the next call to Next.
	Body io.Reader
	// Size is the message's size in the source, or -1 when unknown.
	Size int64
}

// IMAP system flags, spelled as the store spells them.
const (
	FlagSeen      = `\Seen`
	FlagAnswered  = `\Answered`
	FlagFlagged   = `\Flagged`
	FlagDeleted   = `\Deleted`
	FlagDraft     = `\Draft`
	FlagForwarded = "$Forwarded"
)

// ErrFormat means the input is not in the expected format.
var ErrFormat = errors.New("mailfmt: bad format")

func hasFlag(flags []string, f string) bool {
	return slices.ContainsFunc(flags, func(x string) bool { return strings.EqualFold(x, f) })
}

// keywords returns the flags that are not system flags and are valid IMAP
// atoms (RFC 9051 flag-keyword), in order.
func keywords(flags []string) []string {
	var out []string
	for _, f := range flags {
		if f == "" || f[0] == '\\' || !validKeyword(f) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// validKeyword reports whether s can be an IMAP keyword: a non-empty atom
// (no controls, spaces or atom-specials) of sane length.
func validKeyword(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func addFlag(flags []string, f string) []string {
	if hasFlag(flags, f) {
		return flags
	}
	return append(flags, f)
}

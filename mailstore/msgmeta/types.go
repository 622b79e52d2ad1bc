package msgmeta

import "time"

// Address is one entry of an ENVELOPE address list.
//
// RFC 5322 group syntax ("team: a@b, c@d;") is represented as IMAP does
// (RFC 9051 §7.5.2): a start marker {Mailbox: groupName} with an empty Host,
// the members, then an end marker {} with every field empty. Parse never
// returns an ordinary address with both Mailbox and Host empty, so such an
// entry is always an end marker. An address without "@" has an empty Host
// too, so it looks like a group start; IMAP has the same ambiguity.
type Address struct {
	Name    string // display name, RFC 2047 decoded to UTF-8
	Mailbox string // local part, unquoted
	Host    string // domain
}

// Envelope is the data of an IMAP ENVELOPE, taken from a message header.
// Sender and ReplyTo are stored as they appear (nil when absent); the IMAP
// layer defaults them to From (RFC 9051 §7.5.2). Empty lists are nil.
type Envelope struct {
	Date      time.Time // zero if missing or unparseable; UTC or a fixed zone
	Subject   string    // RFC 2047 decoded, converted to UTF-8
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo []string // message-ids, each with its angle brackets
	MessageID string   // with angle brackets, "" if none
}

// Part is one MIME entity: its BODYSTRUCTURE fields and where it lies in the
// message. Empty maps and slices are nil.
//
// Offsets are byte offsets into the message as given to Parse:
// [HeaderStart, BodyStart) is the header including the blank line that ends
// it (BODY[n.MIME], or BODY[HEADER] for a message), [BodyStart, End) is the
// body (BODY[n], BODY[TEXT]). The line break before a multipart boundary
// belongs to the boundary (RFC 2046 §5.1.1), so End stops before it.
type Part struct {
	Type    string            // lower-case, never empty; default "text"
	Subtype string            // lower-case, never empty; default "plain"
	Params  map[string]string // Content-Type parameters, lower-case keys, decoded values (boundary raw)

	ID          string // Content-ID, as written
	Description string // Content-Description, RFC 2047 decoded
	Encoding    string // Content-Transfer-Encoding, lower-case; "" if absent (IMAP shows "7BIT")

	Disposition       string            // lower-case, "" if none
	DispositionParams map[string]string // lower-case keys, decoded values
	Language          []string          // Content-Language tags
	Location          string            // Content-Location
	MD5               string            // Content-MD5, as written

	HeaderStart int64 // offset of the first header line
	BodyStart   int64 // offset just after the blank line that ends the header
	End         int64 // offset one past the body
	Lines       int64 // lines in the body (IMAP body-fld-lines)

	// Children holds the parts of a multipart/*; it always has at least one.
	Children []Part
	// Envelope and Message are set for every message/rfc822 part: the
	// envelope and root part of the embedded message (Message.HeaderStart ==
	// BodyStart). When the embedded message could not be parsed (it is
	// base64 or quoted-printable encoded, or a limit was reached), Envelope
	// is empty and Message is a text/plain leaf with an empty header that
	// covers the whole body.
	Envelope *Envelope
	Message  *Part
}

// Size is the body size in bytes (IMAP body-fld-octets).
func (p *Part) Size() int64 { return p.End - p.BodyStart }

// Meta is everything Parse learns about a message.
type Meta struct {
	Envelope Envelope // from the top-level header
	Root     Part     // the message itself; Root.HeaderStart is 0
	Size     int64    // total bytes read
}

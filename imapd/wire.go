package imapd

import (
	"mime"
	"strconv"
	"time"
	"unicode"

	"sealpost/mailstore"
	"sealpost/mailstore/msgmeta"
)

// The common FETCH items (UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE)
// encoded straight from the store's records into one buffer per message,
// written with FetchResponseWriter.WriteRaw. A FETCH of a whole mailbox
// then builds no go-imap values and decodes no envelope into strings.
// The bytes are exactly those imapserver's own writer produces
// (TestWireEnvelope compares them with imapserver.EncodeEnvelope).

// envelopeDateLayout (without its zone) and internalDateLayout are
// imapserver's layouts.
const (
	envelopeDateLayout = "Mon, 02 Jan 2006 15:04:05 "
	internalDateLayout = "_2-Jan-2006 15:04:05 -0700" // imapserver's (date-day-fixed)
	maxQuoted          = 4096                         // longer strings are literals, as imapwire does
)

// appendFlags appends FLAGS (...). A stored keyword that is not a valid
// flag atom (nothing the parser lets in, but the store does not check) is
// left out rather than break the response.
func appendFlags(b []byte, flags []string) []byte {
	b = append(b, "FLAGS ("...)
	first := true
	for _, f := range flags {
		if !validFlag(f) {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, f...)
	}
	return append(b, ')')
}

// validFlag is imapwire's isValidFlag: atom characters, with a backslash
// only first.
func validFlag(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\\' {
			if i != 0 {
				return false
			}
		} else if !atomChar(ch) {
			return false
		}
	}
	return len(s) > 0
}

func atomChar(ch byte) bool {
	switch ch {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return !unicode.IsControl(rune(ch))
}

// appendRecordItems appends the record's items the client asked for,
// separated by SP.
func (f *fetcher) appendRecordItems(b []byte, m *mailstore.MessageMeta) []byte {
	sep := func() {
		if len(b) > 0 {
			b = append(b, ' ')
		}
	}
	if f.opts.UID {
		b = append(b, "UID "...) // first, as clients expect
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	if f.flags {
		sep()
		b = appendFlags(b, m.Flags)
	}
	if f.opts.InternalDate {
		sep()
		b = append(b, `INTERNALDATE "`...) // in the zone APPEND gave it
		b = m.InternalDate.AppendFormat(b, internalDateLayout)
		b = append(b, '"')
	}
	if f.opts.RFC822Size {
		sep()
		b = append(b, "RFC822.SIZE "...)
		b = strconv.AppendInt(b, m.Size, 10)
	}
	if f.opts.Envelope {
		sep()
		b = append(b, "ENVELOPE "...)
		if msgmeta.ReadEnvelope(m.RawEnvelope, &f.env) != nil {
			f.env = msgmeta.EnvelopeView{} // unreadable: an empty envelope, as before
		}
		b = appendEnvelope(b, &f.env, f.utf8, &f.scratch)
	}
	return b
}

// appendEnvelope writes an envelope as imapserver's writeEnvelope does
// after toEnvelope: Sender and Reply-To default to From, names and subject
// are RFC 2047 Q-encoded, message-ids get their brackets back. utf8: the
// client enabled IMAP4rev2 or UTF8=ACCEPT, so quoted strings may carry it.
// scratch is reused between calls.
func appendEnvelope(b []byte, v *msgmeta.EnvelopeView, utf8 bool, scratch *[]byte) []byte {
	b = append(b, '(')
	if v.HasDate {
		// The date in its own zone, formatted without building a
		// time.Location: shift the instant by the offset and format UTC.
		b = append(b, '"')
		b = time.Unix(v.DateUnix+int64(v.DateZone), v.DateNsec).UTC().AppendFormat(b, envelopeDateLayout)
		b = appendZone(b, v.DateZone)
		b = append(b, '"')
	} else {
		b = append(b, "NIL"...)
	}
	b = append(b, ' ')
	b = appendQEncoded(b, v.Subject, utf8)
	from := v.Lists[0]
	for i, l := range v.Lists {
		if len(l) == 0 && (i == 1 || i == 2) {
			l = from // Sender, Reply-To
		}
		b = append(b, ' ')
		b = appendAddresses(b, l, utf8)
	}
	b = append(b, ' ')
	if len(v.InReplyTo) == 0 {
		b = append(b, "NIL"...)
	} else {
		s := (*scratch)[:0]
		for i, id := range v.InReplyTo {
			if i > 0 {
				s = append(s, ' ')
			}
			s = append(s, '<')
			s = append(s, stripBracketBytes(id)...)
			s = append(s, '>')
		}
		*scratch = s
		b = appendString(b, s, utf8)
	}
	b = append(b, ' ')
	if id := stripBracketBytes(v.MessageID); len(id) == 0 {
		b = append(b, "NIL"...)
	} else {
		s := append(append(append((*scratch)[:0], '<'), id...), '>')
		*scratch = s
		b = appendString(b, s, utf8)
	}
	return append(b, ')')
}

// appendZone appends time's -0700 form of an offset in seconds.
func appendZone(b []byte, off int) []byte {
	zone := off / 60
	if zone < 0 {
		b = append(b, '-')
		zone = -zone
	} else {
		b = append(b, '+')
	}
	h, m := zone/60, zone%60
	return append(b, byte('0'+h/10), byte('0'+h%10), byte('0'+m/10), byte('0'+m%10))
}

func appendAddresses(b []byte, l []msgmeta.AddressView, utf8 bool) []byte {
	if len(l) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i := range l {
		a := &l[i]
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = appendQEncoded(b, a.Name, utf8)
		b = append(b, " NIL "...)
		b = appendNString(b, a.Mailbox, utf8)
		b = append(b, ' ')
		b = appendNString(b, a.Host, utf8)
		b = append(b, ')')
	}
	return append(b, ')')
}

// appendQEncoded is writeNString(mime.QEncoding.Encode("utf-8", s)):
// plain printable ASCII goes as it is, anything else through mime.
func appendQEncoded(b, s []byte, utf8 bool) []byte {
	for _, c := range s {
		if (c < ' ' || c > '~') && c != '\t' {
			return appendNString(b, []byte(mime.QEncoding.Encode("utf-8", string(s))), utf8)
		}
	}
	return appendNString(b, s, utf8)
}

func appendNString(b, s []byte, utf8 bool) []byte {
	if len(s) == 0 {
		return append(b, "NIL"...)
	}
	return appendString(b, s, utf8)
}

// appendString is imapwire's Encoder.String on the server side: a quoted
// string when it may be one, else a literal.
func appendString(b, s []byte, utf8 bool) []byte {
	if !validQuoted(s, utf8) {
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, "}\r\n"...)
		return append(b, s...)
	}
	b = append(b, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

func validQuoted(s []byte, utf8 bool) bool {
	if len(s) > maxQuoted {
		return false
	}
	for _, c := range s {
		switch {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case !utf8 && c > unicode.MaxASCII:
			return false
		}
	}
	return true
}

func stripBracketBytes(id []byte) []byte {
	if len(id) > 0 && id[0] == '<' {
		id = id[1:]
	}
	if len(id) > 0 && id[len(id)-1] == '>' {
		id = id[:len(id)-1]
	}
	return id
}

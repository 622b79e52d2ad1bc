package msgmeta

import (
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxAddresses caps the addresses (group markers included) Parse keeps over
// a whole message. A header of "a@b," repeated costs 5 bytes an address in
// the input but ten times that in memory; lists past the cap are cut.
const maxAddresses = 10000

// parseEnvelope builds the ENVELOPE of a message from its header, taking
// addresses from *budget.
func parseEnvelope(h textproto.Header, budget *int) *Envelope {
	mh := mail.Header{Header: message.Header{Header: h}}
	e := &Envelope{
		From:      parseAddressList(h.Get("From"), budget),
		Sender:    parseAddressList(h.Get("Sender"), budget),
		ReplyTo:   parseAddressList(h.Get("Reply-To"), budget),
		To:        parseAddressList(h.Get("To"), budget),
		Cc:        parseAddressList(h.Get("Cc"), budget),
		Bcc:       parseAddressList(h.Get("Bcc"), budget),
		InReplyTo: parseInReplyTo(mh),
		MessageID: parseMessageID(mh),
	}
	if t, err := mh.Date(); err == nil {
		e.Date = canonTime(t)
	}
	// On an unknown charset Subject returns the raw value, which is the
	// best there is.
	e.Subject, _ = mh.Subject()
	return e
}

// canonTime returns t in the form DecodeEnvelope gives back: UTC for a zero
// offset, otherwise an unnamed fixed zone. Zone names are dropped.
func canonTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < minUnix || t.Unix() > maxUnix {
		return time.Time{}
	}
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

func parseMessageID(mh mail.Header) string {
	if id, err := mh.MessageID(); err == nil && id != "" {
		return "<" + id + ">"
	}
	raw := strings.Join(strings.Fields(mh.Get("Message-Id")), " ")
	if ids := scanMsgIDs(raw); len(ids) > 0 {
		return ids[0]
	}
	return raw
}

func parseInReplyTo(mh mail.Header) []string {
	ids, err := mh.MsgIDList("In-Reply-To")
	if err != nil {
		return scanMsgIDs(mh.Get("In-Reply-To"))
	}
	var out []string
	for _, id := range ids {
		out = append(out, "<"+id+">")
	}
	return out
}

// scanMsgIDs returns every "<...>" in s, for values msg-id parsing rejects
// (RFC 822 phrases around the id, spaces inside it).
func scanMsgIDs(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return out
		}
		if j > 1 {
			out = append(out, s[i:i+j+1])
		}
		s = s[i+j+1:]
	}
}

// addrParser parses one mailbox, decoding encoded words in any charset.
var addrParser = &netmail.AddressParser{WordDecoder: wordDecoder}

// parseAddressList parses an address-list (RFC 5322 §3.4) with group syntax
// kept as IMAP markers. It is best effort: it splits the list itself and
// parses each mailbox alone, so one malformed address does not lose the
// others, and a mailbox net/mail rejects is taken apart by hand. It returns
// at most *budget entries, plus an end marker for a group it cut, and takes
// them from *budget.
func parseAddressList(s string, budget *int) []Address {
	if *budget <= 0 || strings.TrimSpace(s) == "" {
		return nil
	}
	items, ok := splitAddressList(s)
	if !ok {
		// Unbalanced quotes, comments or brackets: fall back to commas.
		items = items[:0]
		for _, seg := range strings.Split(s, ",") {
			items = append(items, listItem{text: seg})
		}
	}
	var out []Address
	inGroup := false
	for _, it := range items {
		if len(out) >= *budget {
			break
		}
		switch {
		case it.groupStart:
			out = append(out, Address{Mailbox: it.text})
			inGroup = true
		case it.groupEnd:
			out = append(out, Address{})
			inGroup = false
		default:
			if a, ok := parseMailbox(it.text); ok {
				out = append(out, a)
			}
		}
	}
	if inGroup {
		out = append(out, Address{})
	}
	*budget -= len(out)
	return out
}

type listItem struct {
	text       string // a mailbox, or the group name of a group start
	groupStart bool
	groupEnd   bool
}

// splitAddressList splits s at the commas, colons and semicolons that are
// outside quoted strings, comments, domain literals and angle brackets. A
// colon opens a group and a semicolon closes it; outside a group a
// semicolon separates addresses as a comma does (a common mistake). ok is
// false when s ends inside a quote, comment, literal or angle bracket.
func splitAddressList(s string) (items []listItem, ok bool) {
	var (
		start   int
		inQuote bool
		inLit   bool
		inAngle bool
		paren   int
		inGroup bool
		named   bool // the open group has a name, so it gets markers
	)
	mailbox := func(end int) {
		if t := strings.TrimSpace(s[start:end]); t != "" {
			items = append(items, listItem{text: t})
		}
		start = end + 1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case paren > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				paren++
			} else if c == ')' {
				paren--
			}
		case inLit:
			if c == '\\' {
				i++
			} else if c == ']' {
				inLit = false
			}
		case c == '"':
			inQuote = true
		case c == '(':
			paren++
		case c == '[':
			inLit = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case inAngle:
			// A route (<@a,@b:user@host>) has commas and a colon.
		case c == ',':
			mailbox(i)
		case c == ':' && !inGroup:
			name := decodeText(unquote(strings.TrimSpace(stripComments(s[start:i]))))
			inGroup, named = true, name != ""
			if named {
				items = append(items, listItem{text: name, groupStart: true})
			}
			start = i + 1
		case c == ';':
			mailbox(i)
			if inGroup && named {
				items = append(items, listItem{groupEnd: true})
			}
			inGroup = false
		}
	}
	mailbox(len(s))
	if inGroup && named {
		items = append(items, listItem{groupEnd: true})
	}
	return items, !inQuote && !inLit && !inAngle && paren == 0
}

// parseMailbox parses one mailbox. It reports false for nothing usable (no
// mailbox and no host), which would read as a group end marker.
func parseMailbox(s string) (Address, bool) {
	var a Address
	if na, err := addrParser.Parse(s); err == nil {
		a.Name = na.Name
		a.Mailbox, a.Host = splitAddrSpec(na.Address)
	} else {
		a = fallbackMailbox(s)
	}
	return a, a.Mailbox != "" || a.Host != ""
}

// fallbackMailbox takes apart a mailbox net/mail rejected: "name <addr>" or
// a bare addr, with any route dropped and comments removed.
func fallbackMailbox(s string) Address {
	var name, addr string
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		name, addr = s[:i], s[i+1:]
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
	} else {
		addr = s
	}
	addr = strings.TrimSpace(stripComments(addr))
	if strings.HasPrefix(addr, "@") {
		if k := strings.IndexByte(addr, ':'); k >= 0 {
			addr = addr[k+1:] // RFC 5322 §4.4 obs-route
		}
	}
	var a Address
	a.Name = decodeText(unquote(strings.TrimSpace(stripComments(name))))
	a.Mailbox, a.Host = splitAddrSpec(strings.TrimSpace(addr))
	a.Mailbox = unquote(strings.TrimSpace(a.Mailbox))
	a.Host = strings.TrimSpace(a.Host)
	return a
}

// splitAddrSpec splits at the last "@"; without one, all is mailbox.
func splitAddrSpec(addr string) (mailbox, host string) {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

// stripComments removes parenthesised comments outside quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	inQuote := false
	paren := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case paren > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				paren++
			} else if c == ')' {
				paren--
			}
			continue
		case inQuote && c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '(':
			paren++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

package imapd

import (
	"math"
	"strings"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore/msgmeta"
)

// Conversions from the metadata computed at delivery to go-imap's types,
// with the IMAP defaults msgmeta leaves to us and guards against anything
// that would make imapserver's writer panic or emit invalid syntax.

// maxStructureDepth bounds recursion over stored structures; msgmeta
// stops nesting at 30 already.
const maxStructureDepth = 64

func toEnvelope(e *msgmeta.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	// Sender and Reply-To default to From (RFC 9051 §7.5.2); imapserver's
	// writer does that for nil lists, so empty lists stay nil.
	return &imap.Envelope{
		Date:      e.Date,
		Subject:   e.Subject,
		From:      toAddresses(e.From),
		Sender:    toAddresses(e.Sender),
		ReplyTo:   toAddresses(e.ReplyTo),
		To:        toAddresses(e.To),
		Cc:        toAddresses(e.Cc),
		Bcc:       toAddresses(e.Bcc),
		InReplyTo: stripBrackets(e.InReplyTo),
		MessageID: stripBracket(e.MessageID), // the writer adds <>
	}
}

func toAddresses(l []msgmeta.Address) []imap.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imap.Address, len(l))
	for i, a := range l {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

func stripBracket(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
}

func stripBrackets(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = stripBracket(id)
	}
	return out
}

// toBodyStructure converts a stored part tree. It never returns a multipart
// without children (imapserver panics on one) and always fills Extended
// (imapserver panics when BODYSTRUCTURE is asked and it is missing).
func toBodyStructure(p *msgmeta.Part, depth int) imap.BodyStructure {
	if p.Type == "multipart" && len(p.Children) > 0 && depth < maxStructureDepth {
		mp := &imap.BodyStructureMultiPart{
			Subtype: nonEmpty(p.Subtype, "mixed"),
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    p.Language,
				Location:    p.Location,
			},
		}
		for i := range p.Children {
			mp.Children = append(mp.Children, toBodyStructure(&p.Children[i], depth+1))
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        nonEmpty(p.Type, "text"),
		Subtype:     nonEmpty(p.Subtype, "plain"),
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    p.Encoding, // "" is written as 7bit
		Size:        clampU32(partSize(p)),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    p.Language,
			Location:    p.Location,
		},
	}
	if p.Type == "multipart" {
		// Only reachable past maxStructureDepth or with no children:
		// describe it as the text it then is.
		sp.Type, sp.Subtype = "text", "plain"
	}
	switch {
	case sp.Type == "text":
		if _, ok := sp.Params["charset"]; !ok {
			// RFC 2045 §5.2: the default charset of text is US-ASCII.
			params := make(map[string]string, len(sp.Params)+1)
			for k, v := range sp.Params {
				params[k] = v
			}
			params["charset"] = "us-ascii"
			sp.Params = params
		}
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	case sp.Type == "message" && sp.Subtype == "rfc822":
		// body-type-msg needs an envelope and a body: msgmeta always gives
		// both, but a structure from elsewhere might not.
		inner := p.Message
		if inner == nil || depth+1 >= maxStructureDepth {
			inner = &msgmeta.Part{Type: "text", Subtype: "plain", HeaderStart: p.BodyStart, BodyStart: p.BodyStart, End: p.End, Lines: p.Lines}
		}
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      toEnvelope(p.Envelope),
			BodyStructure: toBodyStructure(inner, depth+1),
			NumLines:      p.Lines,
		}
	}
	return sp
}

func disposition(p *msgmeta.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func partSize(p *msgmeta.Part) int64 {
	return max(p.End-p.BodyStart, 0)
}

func clampU32(n int64) uint32 {
	if n < 0 {
		return 0
	}
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// fallbackStructure describes a message whose stored structure is missing
// or unreadable: one text/plain body after an unknown header.
func fallbackStructure(size int64) *msgmeta.Part {
	return &msgmeta.Part{Type: "text", Subtype: "plain", HeaderStart: 0, BodyStart: 0, End: size}
}

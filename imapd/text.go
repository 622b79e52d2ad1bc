package imapd

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"sealpost/mailstore"
	"sealpost/mailstore/msgmeta"
)

// Reading a message for SEARCH: its header fields (RFC 2047 decoded) and
// its text parts (transfer-decoded, converted to UTF-8), compared
// case-insensitively as substrings.

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader converts r from cs to UTF-8 with every charset go-message
// knows.
func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(strings.ToLower(cs), r)
}

// toUTF8 converts a text part's content; unknown charsets pass through.
func toUTF8(cs string, r io.Reader) io.Reader {
	switch strings.ToLower(cs) {
	case "", "utf-8", "us-ascii", "utf8":
		return r
	}
	if cr, err := charsetReader(cs, r); err == nil {
		return cr
	}
	return r
}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// msgCtx is one message under evaluation; what it reads is read once.
type msgCtx struct {
	ev   *evaluator
	m    *mailstore.MessageMeta
	seq  uint32
	file mailstore.Body

	envRead bool // envelope() was called; envOK: it is readable
	envOK   bool
	fields  []headerField // top-level header, decoded; nil until read
	scanned bool
	body    map[string]bool // needle → found in the body
	header  map[string]bool // needle → found in the header (TEXT)
}

type headerField struct{ name, value string } // name lower-case

func (mc *msgCtx) close() {
	if mc.file != nil {
		mc.file.Close()
	}
}

func (mc *msgCtx) open() (mailstore.Body, error) {
	if mc.file == nil {
		f, err := mc.ev.s.acct.Open(mc.m.Message)
		if err != nil {
			return nil, err
		}
		mc.file = f
	}
	return mc.file, nil
}

func (mc *msgCtx) root() *msgmeta.Part {
	if mc.m.Structure != nil {
		return mc.m.Structure
	}
	return fallbackStructure(mc.m.Size)
}

// headerFields reads and decodes the top-level header.
func (mc *msgCtx) headerFields() ([]headerField, error) {
	if mc.fields != nil {
		return mc.fields, nil
	}
	mc.fields = []headerField{}
	r := mc.root()
	f, err := mc.open()
	if err != nil {
		return nil, err
	}
	n := min(max(r.BodyStart-r.HeaderStart, 0), maxHeaderRead)
	buf := make([]byte, n)
	k, _ := f.ReadAt(buf, r.HeaderStart)
	mc.fields = parseFields(buf[:k])
	return mc.fields, nil
}

// parseFields splits a raw header into unfolded, decoded fields.
func parseFields(hdr []byte) []headerField {
	var out []headerField
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line, hdr = hdr[:i], hdr[i+1:]
		} else {
			hdr = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if k := len(out); k > 0 {
				out[k-1].value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		out = append(out, headerField{
			name:  strings.ToLower(strings.TrimSpace(string(name))),
			value: strings.TrimSpace(string(value)),
		})
	}
	for i := range out {
		out[i].value = decodeWords(out[i].value)
	}
	return out
}

// headerHas answers HEADER, FROM, TO, CC, BCC and SUBJECT: an empty value
// asks whether the field exists at all (RFC 9051 §6.4.4).
func (mc *msgCtx) headerHas(key, value string) (bool, error) {
	needle := strings.ToLower(value)
	if value != "" && envelopeField(key) {
		if env := mc.envelope(); env != nil {
			mc.ev.buf = appendEnvelopeText(mc.ev.buf[:0], env, key)
			return containsFold(mc.ev.buf, needle), nil
		}
	}
	fields, err := mc.headerFields()
	if err != nil {
		return false, err
	}
	key = strings.ToLower(key)
	for _, f := range fields {
		if f.name == key && strings.Contains(strings.ToLower(f.value), needle) {
			return true, nil
		}
	}
	return false, nil
}

// envelope reads the message's stored envelope once; nil when it is
// missing or unreadable (then the header itself is searched).
func (mc *msgCtx) envelope() *msgmeta.EnvelopeView {
	if !mc.envRead {
		mc.envRead = true
		mc.envOK = mc.m.RawEnvelope != nil && msgmeta.ReadEnvelope(mc.m.RawEnvelope, &mc.ev.env) == nil
	}
	if !mc.envOK {
		return nil
	}
	return &mc.ev.env
}

// appendEnvelopeText renders an envelope field for substring matching:
// the decoded text, addresses as "Name <mailbox@host>, ".
func appendEnvelopeText(b []byte, e *msgmeta.EnvelopeView, key string) []byte {
	var l []msgmeta.AddressView
	switch strings.ToLower(key) {
	case "subject":
		return append(b, e.Subject...)
	case "message-id":
		return append(b, e.MessageID...)
	case "in-reply-to":
		for i, id := range e.InReplyTo {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, id...)
		}
		return b
	case "from":
		l = e.Lists[0]
	case "sender":
		l = e.Lists[1]
	case "reply-to":
		l = e.Lists[2]
	case "to":
		l = e.Lists[3]
	case "cc":
		l = e.Lists[4]
	case "bcc":
		l = e.Lists[5]
	}
	for _, a := range l {
		if len(a.Name) > 0 {
			b = append(append(b, a.Name...), ' ')
		}
		b = append(append(b, '<'), a.Mailbox...)
		if len(a.Host) > 0 {
			b = append(append(b, '@'), a.Host...)
		}
		b = append(b, ">, "...)
	}
	return b
}

// containsFold reports whether the lower-cased s contains needle (already
// lower case): strings.Contains(strings.ToLower(s), needle), without the
// copy when s is ASCII.
func containsFold(s []byte, needle string) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(string(s)), needle)
		}
	}
	for i := range s {
		if 'A' <= s[i] && s[i] <= 'Z' {
			s[i] += 'a' - 'A' // s is the caller's scratch copy
		}
	}
	return bytes.Contains(s, []byte(needle))
}

func (mc *msgCtx) bodyHas(needle string) (bool, error) {
	if err := mc.scan(); err != nil {
		return false, err
	}
	return mc.body[needle], nil
}

// textHas answers TEXT: the header or the body.
func (mc *msgCtx) textHas(needle string) (bool, error) {
	if err := mc.scan(); err != nil {
		return false, err
	}
	return mc.header[needle] || mc.body[needle], nil
}

// scan reads the message once for every BODY and TEXT needle.
func (mc *msgCtx) scan() error {
	if mc.scanned {
		return nil
	}
	mc.scanned = true
	mc.body, mc.header = map[string]bool{}, map[string]bool{}
	if len(mc.ev.textNeedles) > 0 {
		fields, err := mc.headerFields()
		if err != nil {
			return err
		}
		for _, n := range mc.ev.textNeedles {
			for _, f := range fields {
				if strings.Contains(strings.ToLower(f.name+": "+f.value), n) {
					mc.header[n] = true
					break
				}
			}
		}
	}
	needles := append(append([]string(nil), mc.ev.bodyNeedles...), mc.ev.textNeedles...)
	tm := newTextMatcher(needles)
	f, err := mc.open()
	if err != nil {
		return err
	}
	if err := scanParts(mc.root(), 0, f, tm); err != nil {
		return err
	}
	for i, n := range tm.needles {
		if tm.found[i] {
			mc.body[n] = true
		}
	}
	return nil
}

// scanParts feeds the text of a part tree to tm: text/* leaves decoded,
// and the header of every embedded message. Other leaves (images,
// archives) are skipped.
func scanParts(p *msgmeta.Part, depth int, f mailstore.Body, tm *textMatcher) error {
	if tm.done() || depth > maxStructureDepth {
		return nil
	}
	switch {
	case p.Type == "multipart":
		for i := range p.Children {
			if err := scanParts(&p.Children[i], depth+1, f, tm); err != nil {
				return err
			}
		}
	case p.Type == "message" && p.Message != nil:
		m := p.Message
		hdr := make([]byte, min(max(m.BodyStart-m.HeaderStart, 0), maxHeaderRead))
		n, _ := f.ReadAt(hdr, m.HeaderStart)
		var text strings.Builder
		for _, fl := range parseFields(hdr[:n]) {
			text.WriteString(fl.name + ": " + fl.value + "\n")
		}
		if err := tm.scan(strings.NewReader(text.String())); err != nil {
			return err
		}
		return scanParts(m, depth+1, f, tm)
	case p.Type == "text":
		r := io.NewSectionReader(f, p.BodyStart, max(p.End-p.BodyStart, 0))
		dec, ok := transferDecoder(p.Encoding, r)
		if !ok {
			dec = r
		}
		return tm.scan(toUTF8(p.Params["charset"], dec))
	}
	return nil
}

// textMatcher looks for several needles in streamed text with bounded
// memory: it lower-cases chunk by chunk and keeps, between chunks, just
// enough of the tail for a needle to span the cut.
type textMatcher struct {
	needles []string
	found   []bool
	left    int
	keep    int // bytes of tail to keep: longest needle - 1
	buf     []byte
}

func newTextMatcher(needles []string) *textMatcher {
	tm := &textMatcher{needles: needles, found: make([]bool, len(needles)), left: len(needles)}
	for _, n := range needles {
		tm.keep = max(tm.keep, len(n)-1)
	}
	return tm
}

func (tm *textMatcher) done() bool { return tm.left == 0 }

const scanChunk = 32 << 10

// scan reads one text; matches do not span two texts.
func (tm *textMatcher) scan(r io.Reader) error {
	if tm.done() {
		return nil
	}
	chunk := make([]byte, scanChunk)
	var carry []byte // an incomplete UTF-8 sequence cut by the chunk end
	var tail []byte
	for !tm.done() {
		n, err := io.ReadFull(r, chunk[len(carry):])
		data := chunk[:len(carry)+n]
		end := len(data)
		if err == nil {
			end = lastRuneStart(data)
		}
		lowered := bytes.ToLower(data[:end])
		tm.buf = append(append(tm.buf[:0], tail...), lowered...)
		for i, nd := range tm.needles {
			if !tm.found[i] && bytes.Contains(tm.buf, []byte(nd)) {
				tm.found[i] = true
				tm.left--
			}
		}
		tail = append(tail[:0], tm.buf[max(len(tm.buf)-tm.keep, 0):]...)
		carry = append(carry[:0], data[end:]...)
		copy(chunk, carry)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lastRuneStart returns where an incomplete UTF-8 sequence at the end of
// b begins (len(b) when it ends on a complete rune).
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}

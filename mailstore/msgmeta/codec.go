package msgmeta

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Encoding, format version 1. Integers are varints (encoding/binary),
// strings and lists are length-prefixed, maps are sorted by key so equal
// values encode equally.
//
//	envelope: version, date, subject, 6 address lists, in-reply-to, message-id
//	date:     0 | 1 unix-seconds nanoseconds zone-offset
//	part:     version, type, subtype, params, id, description, encoding,
//	          disposition, disposition-params, language, location, md5,
//	          header-start, body-start-delta, end-delta, lines,
//	          children, flags (1: envelope, 2: message), [envelope], [part]
//
// Nested envelopes and parts carry no version byte.
const codecVersion = 1

// maxDecodeDepth bounds recursion in DecodePart; Parse nests at most
// 2*maxDepth+2 levels.
const maxDecodeDepth = 2*maxDepth + 8

// Dates are kept to years 1 through 9999, which round-trip exactly.
const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

const (
	flagEnvelope = 1 << iota
	flagMessage
)

// EncodeEnvelope encodes e for storage.
func EncodeEnvelope(e *Envelope) []byte {
	b := []byte{codecVersion}
	return appendEnvelope(b, e)
}

// EncodePart encodes p and everything below it for storage.
func EncodePart(p *Part) []byte {
	b := []byte{codecVersion}
	return appendPart(b, p)
}

// DecodeEnvelope decodes what EncodeEnvelope produced. The result shares no
// memory with b.
func DecodeEnvelope(b []byte) (Envelope, error) {
	d := decoder{b: b}
	d.version()
	var e Envelope
	d.envelope(&e)
	d.finish()
	if d.err != nil {
		return Envelope{}, d.err
	}
	return e, nil
}

// DecodePart decodes what EncodePart produced. The result shares no memory
// with b. Hostile input gives an error, never a panic, and allocation stays
// proportional to len(b).
func DecodePart(b []byte) (Part, error) {
	d := decoder{b: b}
	d.version()
	var p Part
	d.part(&p, 0)
	d.finish()
	if d.err != nil {
		return Part{}, d.err
	}
	return p, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

func appendAddresses(b []byte, l []Address) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, a := range l {
		b = appendString(b, a.Name)
		b = appendString(b, a.Mailbox)
		b = appendString(b, a.Host)
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	if e.Date.IsZero() {
		b = append(b, 0)
	} else {
		_, off := e.Date.Zone()
		b = append(b, 1)
		b = binary.AppendVarint(b, e.Date.Unix())
		b = binary.AppendUvarint(b, uint64(e.Date.Nanosecond()))
		b = binary.AppendVarint(b, int64(off))
	}
	b = appendString(b, e.Subject)
	for _, l := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = appendAddresses(b, l)
	}
	b = appendStrings(b, e.InReplyTo)
	return appendString(b, e.MessageID)
}

func appendPart(b []byte, p *Part) []byte {
	b = appendString(b, p.Type)
	b = appendString(b, p.Subtype)
	b = appendMap(b, p.Params)
	b = appendString(b, p.ID)
	b = appendString(b, p.Description)
	b = appendString(b, p.Encoding)
	b = appendString(b, p.Disposition)
	b = appendMap(b, p.DispositionParams)
	b = appendStrings(b, p.Language)
	b = appendString(b, p.Location)
	b = appendString(b, p.MD5)
	// Deltas keep the usual small offsets short; two's-complement
	// wrap-around makes them exact for any values.
	b = binary.AppendVarint(b, p.HeaderStart)
	b = binary.AppendVarint(b, p.BodyStart-p.HeaderStart)
	b = binary.AppendVarint(b, p.End-p.BodyStart)
	b = binary.AppendVarint(b, p.Lines)
	b = binary.AppendUvarint(b, uint64(len(p.Children)))
	for i := range p.Children {
		b = appendPart(b, &p.Children[i])
	}
	var flags byte
	if p.Envelope != nil {
		flags |= flagEnvelope
	}
	if p.Message != nil {
		flags |= flagMessage
	}
	b = append(b, flags)
	if p.Envelope != nil {
		b = appendEnvelope(b, p.Envelope)
	}
	if p.Message != nil {
		b = appendPart(b, p.Message)
	}
	return b
}

// decoder reads the encoding; the first error sticks and makes every later
// read return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) version() {
	v := d.byte()
	if d.err == nil && v != codecVersion {
		d.err = fmt.Errorf("%w %d", ErrVersion, v)
		d.b = nil
	}
}

func (d *decoder) finish() {
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that the remaining input can hold that
// many items of at least min bytes each, so no count allocates past len(b).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

func (d *decoder) stringMap() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	if len(m) != n {
		d.fail("duplicate key")
	}
	return m
}

// minPartLen is the fewest bytes a nested part encodes to.
const minPartLen = 17

func (d *decoder) part(p *Part, depth int) {
	if depth > maxDecodeDepth {
		d.fail("nested too deep")
		return
	}
	p.Type = d.string()
	p.Subtype = d.string()
	p.Params = d.stringMap()
	p.ID = d.string()
	p.Description = d.string()
	p.Encoding = d.string()
	p.Disposition = d.string()
	p.DispositionParams = d.stringMap()
	p.Language = d.strings()
	p.Location = d.string()
	p.MD5 = d.string()
	p.HeaderStart = d.varint()
	p.BodyStart = p.HeaderStart + d.varint()
	p.End = p.BodyStart + d.varint()
	p.Lines = d.varint()
	if n := d.count(minPartLen); n > 0 {
		p.Children = make([]Part, n)
		for i := range p.Children {
			d.part(&p.Children[i], depth+1)
		}
	}
	flags := d.byte()
	if flags&^(flagEnvelope|flagMessage) != 0 {
		d.fail("bad flags")
		return
	}
	if flags&flagEnvelope != 0 {
		p.Envelope = new(Envelope)
		d.envelope(p.Envelope)
	}
	if flags&flagMessage != 0 {
		p.Message = new(Part)
		d.part(p.Message, depth+1)
	}
}

package msgmeta

import "time"

// EnvelopeView is a stored envelope read in place by ReadEnvelope: its
// byte slices point into the encoding, nothing is copied. A view reused
// across calls keeps its slices' capacity, so reading many envelopes (an
// IMAP FETCH ENVELOPE of a large mailbox) allocates next to nothing.
type EnvelopeView struct {
	HasDate  bool
	DateUnix int64 // seconds
	DateNsec int64
	DateZone int // seconds east of UTC
	Subject  []byte
	// Lists are From, Sender, ReplyTo, To, Cc, Bcc, as stored (an absent
	// Sender or Reply-To is empty, not From).
	Lists     [6][]AddressView
	InReplyTo [][]byte // with their angle brackets
	MessageID []byte   // with its angle brackets, empty if none

	addrs []AddressView // backing store of Lists
}

// AddressView is one address of an EnvelopeView (see Address).
type AddressView struct{ Name, Mailbox, Host []byte }

// Date returns the envelope's date in its own zone (zero if none), as
// DecodeEnvelope gives it.
func (v *EnvelopeView) Date() time.Time {
	if !v.HasDate {
		return time.Time{}
	}
	t := time.Unix(v.DateUnix, v.DateNsec)
	if v.DateZone == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", v.DateZone))
}

// ReadEnvelope reads what EncodeEnvelope produced into v, which then
// points into b. It checks b exactly as DecodeEnvelope does; on error v is
// left empty.
func ReadEnvelope(b []byte, v *EnvelopeView) error {
	d := decoder{b: b}
	d.version()
	d.envelopeView(v)
	d.finish()
	if d.err != nil {
		v.reset()
		return d.err
	}
	return nil
}

func (v *EnvelopeView) reset() {
	addrs, irt := v.addrs[:0], v.InReplyTo[:0]
	*v = EnvelopeView{addrs: addrs, InReplyTo: irt}
}

// bytes is string without the copy: the result aliases the input.
func (d *decoder) bytes() []byte {
	n := d.count(1)
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) envelopeView(v *EnvelopeView) {
	v.reset()
	switch d.byte() {
	case 0:
	case 1:
		sec := d.varint()
		nsec := d.uvarint()
		off := d.varint()
		if sec < minUnix || sec > maxUnix || nsec >= 1e9 || off <= -100*3600 || off >= 100*3600 {
			d.fail("bad date")
			return
		}
		if time.Unix(sec, int64(nsec)).IsZero() {
			d.fail("bad date") // encoded as 0
			return
		}
		v.HasDate, v.DateUnix, v.DateNsec, v.DateZone = true, sec, int64(nsec), int(off)
	default:
		d.fail("bad date")
		return
	}
	v.Subject = d.bytes()
	// The lists share one backing slice; they are cut from it once it has
	// stopped growing.
	var ends [6]int
	for i := range ends {
		n := d.count(3)
		for range n {
			v.addrs = append(v.addrs, AddressView{Name: d.bytes(), Mailbox: d.bytes(), Host: d.bytes()})
		}
		ends[i] = len(v.addrs)
	}
	start := 0
	for i, end := range ends {
		if end > start {
			v.Lists[i] = v.addrs[start:end:end]
		}
		start = end
	}
	for range d.count(1) {
		v.InReplyTo = append(v.InReplyTo, d.bytes())
	}
	v.MessageID = d.bytes()
}

// envelope decodes into e through the view, copying what it keeps.
func (d *decoder) envelope(e *Envelope) {
	var v EnvelopeView
	d.envelopeView(&v)
	if d.err != nil {
		return
	}
	e.Date = v.Date()
	e.Subject = string(v.Subject)
	for i, l := range []*[]Address{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		if len(v.Lists[i]) == 0 {
			continue
		}
		out := make([]Address, len(v.Lists[i]))
		for j, a := range v.Lists[i] {
			out[j] = Address{Name: string(a.Name), Mailbox: string(a.Mailbox), Host: string(a.Host)}
		}
		*l = out
	}
	if len(v.InReplyTo) > 0 {
		e.InReplyTo = make([]string, len(v.InReplyTo))
		for i, id := range v.InReplyTo {
			e.InReplyTo[i] = string(id)
		}
	}
	e.MessageID = string(v.MessageID)
}

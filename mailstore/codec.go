package mailstore

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// record is a message record as stored under its UID in a mailbox's msgs
// bucket. The encoding is versioned and compact because SELECT and
// FETCH FLAGS walk every record of a 100k-message mailbox.
//
// Version 2 adds the internal date's zone offset right after the date: an
// APPEND's date keeps the client's zone (RFC 9051 §6.3.12: INTERNALDATE
// is returned as given). Version 1 records, written before, read as UTC.
// Byte 1 is the flag bits in every version (expunge reads it directly).
type record struct {
	bits     flagBits
	keywords []string
	internal time.Time
	saved    time.Time
	size     int64
	modseq   uint64
	blob     string
}

const (
	recordV1      = 1
	recordVersion = 2
	// maxZoneOffset bounds stored zone offsets, as msgmeta does for dates.
	maxZoneOffset = 100 * 3600
)

var errBadRecord = errors.New("mailstore: corrupt message record")

func (r *record) encode() []byte {
	return r.appendEncoded(make([]byte, 0, 48+len(r.blob)+8*len(r.keywords)))
}

// appendEncoded appends the record's encoding to b.
func (r *record) appendEncoded(b []byte) []byte {
	_, off := r.internal.Zone()
	if off <= -maxZoneOffset || off >= maxZoneOffset {
		off = 0 // not from a parsed date; keep the instant, drop the zone
	}
	b = append(b, recordVersion, byte(r.bits))
	b = binary.AppendVarint(b, r.internal.UnixNano())
	b = binary.AppendVarint(b, int64(off))
	b = binary.AppendVarint(b, r.saved.UnixNano())
	b = binary.AppendUvarint(b, uint64(r.size))
	b = binary.AppendUvarint(b, r.modseq)
	b = appendString(b, r.blob)
	b = binary.AppendUvarint(b, uint64(len(r.keywords)))
	for _, k := range r.keywords {
		b = appendString(b, k)
	}
	return b
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < 2 || b[0] != recordV1 && b[0] != recordVersion {
		return r, errBadRecord
	}
	r.bits = flagBits(b[1])
	d := decoder{b: b[2:]}
	r.internal = time.Unix(0, d.varint()).UTC()
	if b[0] == recordVersion {
		off := d.varint()
		if off <= -maxZoneOffset || off >= maxZoneOffset {
			return r, errBadRecord
		}
		r.internal = r.internal.In(zone(int(off)))
	}
	r.saved = time.Unix(0, d.varint()).UTC()
	r.size = int64(d.uvarint())
	r.modseq = d.uvarint()
	r.blob = d.string()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each keyword takes at least one byte
		return r, errBadRecord
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.keywords = append(r.keywords, d.string())
	}
	if d.err != nil || r.size < 0 {
		return r, errBadRecord
	}
	return r, nil
}

// recordLoc is where locateRecord found the parts of an encoded record
// that a flag change rewrites, besides the flag byte b[1].
type recordLoc struct {
	modseq    uint64
	modseqAt  int    // the MODSEQ varint is b[modseqAt:modseqEnd]
	modseqEnd int    //
	keywords  uint64 // how many keywords follow the blob name
}

// locateRecord checks an encoded record as decodeRecord does, up to its
// keyword count, without building it. ok is false for anything
// decodeRecord might refuse; a record with keywords is checked only up to
// the count.
func locateRecord(b []byte) (loc recordLoc, ok bool) {
	if len(b) < 2 || b[0] != recordV1 && b[0] != recordVersion {
		return loc, false
	}
	// The dates' values are not needed: their varints are only checked
	// and skipped, as binary.Varint would check them.
	i, ok := skipVarint(b, 2) // internal date
	if ok && b[0] == recordVersion {
		off, n := binary.Varint(b[i:])
		ok = n > 0 && off > -maxZoneOffset && off < maxZoneOffset
		i += max(n, 0)
	}
	if ok {
		i, ok = skipVarint(b, i) // save date
	}
	if !ok {
		return loc, false
	}
	size, n := binary.Uvarint(b[i:])
	if n <= 0 || int64(size) < 0 {
		return loc, false
	}
	i += n
	loc.modseqAt = i
	if loc.modseq, n = binary.Uvarint(b[i:]); n <= 0 {
		return loc, false
	}
	i += n
	loc.modseqEnd = i
	blob, n := binary.Uvarint(b[i:])
	if n <= 0 || blob > uint64(len(b)-i-n) {
		return loc, false
	}
	i += n + int(blob)
	if loc.keywords, n = binary.Uvarint(b[i:]); n <= 0 || loc.keywords > uint64(len(b)-i-n) {
		return loc, false
	}
	return loc, true
}

// skipVarint returns the index after the varint at b[i:], and false where
// binary.Uvarint would fail (too short, or more than 64 bits).
func skipVarint(b []byte, i int) (int, bool) {
	for j := 0; j < binary.MaxVarintLen64 && i+j < len(b); j++ {
		if c := b[i+j]; c < 0x80 {
			return i + j + 1, j < binary.MaxVarintLen64-1 || c <= 1
		}
	}
	return 0, false
}

// appendPatched appends the encoded record v (located by locateRecord)
// with its flag bits and MODSEQ replaced.
func appendPatched(b, v []byte, loc recordLoc, bits flagBits, modseq uint64) []byte {
	n := len(b)
	b = append(b, v[:loc.modseqAt]...)
	b[n+1] = byte(bits)
	b = binary.AppendUvarint(b, modseq)
	return append(b, v[loc.modseqEnd:]...)
}

func (r *record) message(uid UID) Message {
	return Message{
		UID:          uid,
		Flags:        joinFlags(r.bits, r.keywords),
		InternalDate: r.internal,
		SaveDate:     r.saved,
		Size:         r.size,
		ModSeq:       r.modseq,
		Blob:         r.blob,
	}
}

// zones caches the fixed zones of decoded internal dates, so that walking
// a mailbox does not allocate one per record.
var zones sync.Map // offset in seconds → *time.Location

func zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if z, ok := zones.Load(off); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(off, time.FixedZone("", off))
	return z.(*time.Location)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errBadRecord
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func uidKey(u UID) []byte { return binary.BigEndian.AppendUint32(nil, uint32(u)) }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

package mailstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Any record the store can build encodes to bytes that decode to the same
// record: flags, keywords (any bytes, any number), both dates to the
// nanosecond, size, MODSEQ and blob name. FuzzDecodeRecord covers the
// other direction (arbitrary bytes never panic and re-encode stably).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add(uint8(bitSeen|bitDraft), "a\x00$b", int64(100_000_000_005), int64(200_000_000_000), int64(1234), uint64(77), "0011")
	f.Add(uint8(0), "", int64(0), int64(0), int64(0), uint64(0), "")
	f.Add(uint8(0xff), "\x00\x00", int64(-1), int64(-1<<63), int64(1<<62), ^uint64(0), strings.Repeat("x", 300))
	f.Add(uint8(bitDeleted), "$Junk\x00NonJunk\x00\xff\xfe", time.Now().UnixNano(), time.Now().UnixNano(), int64(64<<20), uint64(1<<40), "0123456789abcdef01234567")
	f.Fuzz(func(t *testing.T, bits uint8, kws string, internal, saved, size int64, modseq uint64, blob string) {
		if size < 0 {
			size = -(size + 1) // the store never has a negative size
		}
		r := record{
			bits: flagBits(bits), internal: time.Unix(0, internal).UTC(), saved: time.Unix(0, saved).UTC(),
			size: size, modseq: modseq, blob: blob,
		}
		if kws != "" {
			r.keywords = strings.Split(kws, "\x00")
		}
		got, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("decode of an encoded record: %v", err)
		}
		if got.bits != r.bits || !got.internal.Equal(r.internal) || !got.saved.Equal(r.saved) ||
			got.size != r.size || got.modseq != r.modseq || got.blob != r.blob || !slices.Equal(got.keywords, r.keywords) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, r)
		}
	})
}

// locateRecord accepts only what decodeRecord accepts (up to the
// keywords), and finds the same
// MODSEQ and keyword count; a record patched through it decodes to the
// same record with the new flags and MODSEQ. Every record decodeRecord
// accepts is located, so that the fast path of ChangeFlags is taken.
func FuzzLocateRecord(f *testing.F) {
	r := record{bits: bitSeen, size: 9, modseq: 3, blob: "b", internal: time.Date(2024, 1, 1, 0, 30, 0, 0, zone(-3600))}
	f.Add(r.encode(), uint8(bitFlagged), uint64(1<<40))
	r.keywords = []string{"$a", "b"}
	f.Add(r.encode(), uint8(0), uint64(0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 15}, uint8(1), uint64(200))
	f.Add([]byte{recordV1, 4, 2, 2, 9, 5, 1, 'x', 0}, uint8(31), uint64(128))
	f.Fuzz(func(t *testing.T, b []byte, bits uint8, modseq uint64) {
		want, err := decodeRecord(b)
		loc, ok := locateRecord(b)
		if err != nil {
			// Keywords are checked by decodeRecord only (ChangeFlags
			// decodes a record that has any).
			if ok && loc.keywords == 0 {
				t.Fatalf("located a record decodeRecord refuses (%v): %+v", err, loc)
			}
			return
		}
		if !ok {
			t.Fatalf("not located: %+v", want)
		}
		if loc.modseq != want.modseq || loc.keywords != uint64(len(want.keywords)) {
			t.Fatalf("located %+v, decoded %+v", loc, want)
		}
		p := appendPatched([]byte("prefix"), b, loc, flagBits(bits), modseq)
		if string(p[:6]) != "prefix" {
			t.Fatalf("appendPatched overwrote what it appends to: %q", p[:6])
		}
		got, err := decodeRecord(p[6:])
		want.bits, want.modseq = flagBits(bits), modseq
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("patched record %+v (%v), want %+v", got, err, want)
		}
	})
}

package mailstore

import (
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

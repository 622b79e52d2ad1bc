package msgmeta

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func samplePart() Part {
	inner := Part{Type: "text", Subtype: "plain", HeaderStart: 300, BodyStart: 320, End: 400, Lines: 2}
	return Part{
		Type: "multipart", Subtype: "mixed",
		Params: map[string]string{"boundary": "b", "charset": "utf-8"},
		ID:     "<id@x>", Description: "déscription", Encoding: "7bit",
		Disposition: "inline", DispositionParams: map[string]string{"filename": "a b.txt"},
		Language: []string{"en", "fr"}, Location: "loc", MD5: "md5",
		HeaderStart: 0, BodyStart: 100, End: 1 << 40, Lines: 12345,
		Children: []Part{
			{Type: "text", Subtype: "plain", HeaderStart: 110, BodyStart: 130, End: 200, Lines: 3},
			{
				Type: "message", Subtype: "rfc822", HeaderStart: 210, BodyStart: 300, End: 400, Lines: 5,
				Envelope: &Envelope{
					Date:    time.Date(2024, 2, 29, 23, 59, 59, 123, time.FixedZone("", 5*3600+1800)),
					Subject: "inner",
					From:    []Address{{"Ann", "ann", "x"}},
					To:      []Address{{"", "grp", ""}, {"", "a", "b"}, {}},
				},
				Message: &inner,
			},
		},
	}
}

func sampleEnvelope() Envelope {
	return Envelope{
		Date:      time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC),
		Subject:   "Привет \x00\xff",
		From:      []Address{{"A", "a", "x"}},
		Sender:    []Address{{"S", "s", "x"}},
		ReplyTo:   []Address{{"R", "r", "x"}},
		To:        []Address{{"T", "t", "x"}, {"U", "u", ""}},
		Cc:        []Address{{"", "c", "x"}},
		Bcc:       []Address{{"", "", "only-host"}},
		InReplyTo: []string{"<a@b>", "<c@d>"},
		MessageID: "<m@x>",
	}
}

func TestCodecRoundTrip(t *testing.T) {
	parts := []Part{{}, {Type: "text", Subtype: "plain"}, samplePart(), {HeaderStart: -5, BodyStart: -1 << 62, End: 1<<63 - 1, Lines: -1}}
	for i, p := range parts {
		got, err := DecodePart(EncodePart(&p))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("part %d:\n got %#v\nwant %#v", i, got, p)
		}
	}
	envs := []Envelope{{}, sampleEnvelope(), {Date: time.Date(1900, 1, 1, 0, 0, 0, 999999999, time.FixedZone("", -12*3600))}}
	for i, e := range envs {
		got, err := DecodeEnvelope(EncodeEnvelope(&e))
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("envelope %d:\n got %#v\nwant %#v", i, got, e)
		}
	}
}

// TestCodecDeterministic: map order must not change the bytes, so equal
// metadata stores equally.
func TestCodecDeterministic(t *testing.T) {
	p := samplePart()
	p.Params = map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
	first := string(EncodePart(&p))
	for range 20 {
		if string(EncodePart(&p)) != first {
			t.Fatal("encoding depends on map order")
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	p := samplePart()
	enc := EncodePart(&p)
	e := sampleEnvelope()
	env := EncodeEnvelope(&e)
	for n := range len(enc) {
		if _, err := DecodePart(enc[:n]); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("part truncated to %d: err %v", n, err)
		}
	}
	for n := range len(env) {
		if _, err := DecodeEnvelope(env[:n]); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("envelope truncated to %d: err %v", n, err)
		}
	}
	bad := map[string][]byte{
		"empty":          nil,
		"version":        {99, 0},
		"trailing":       append(EncodePart(&Part{}), 0),
		"huge count":     {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overlong":       {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
		"garbage":        []byte(strings.Repeat("\x01\xfe", 50)),
		"bad flags":      append(EncodePart(&Part{})[:len(EncodePart(&Part{}))-1], 0x80),
		"deep recursion": deepPartEncoding(maxDecodeDepth + 5),
	}
	for name, b := range bad {
		if _, err := DecodePart(b); err == nil {
			t.Errorf("DecodePart(%s): no error", name)
		}
		if name != "trailing" && name != "bad flags" && name != "deep recursion" {
			if _, err := DecodeEnvelope(b); err == nil {
				t.Errorf("DecodeEnvelope(%s): no error", name)
			}
		}
	}
	dupKey := EncodePart(&Part{Params: map[string]string{"a": "1", "b": "2"}})
	dupKey[9] = 'a' // version, type, subtype, count, len, "a", len, "1", len, "b"
	if _, err := DecodePart(dupKey); !errors.Is(err, ErrCorrupt) {
		t.Errorf("duplicate key: %v", err)
	}
}

// deepPartEncoding nests n message parts, each inside the previous one.
func deepPartEncoding(n int) []byte {
	p := &Part{}
	for range n {
		p = &Part{Message: p}
	}
	return EncodePart(p)
}

func TestDecodeDepthOK(t *testing.T) {
	if _, err := DecodePart(deepPartEncoding(maxDecodeDepth)); err != nil {
		t.Fatal(err)
	}
}

// TestReadEnvelope: the in-place view holds what DecodeEnvelope returns,
// and a reused view reads envelopes without allocating.
func TestReadEnvelope(t *testing.T) {
	e := sampleEnvelope()
	b := EncodeEnvelope(&e)
	var v EnvelopeView
	if err := ReadEnvelope(b, &v); err != nil {
		t.Fatal(err)
	}
	if !v.Date().Equal(e.Date) || string(v.Subject) != e.Subject || string(v.MessageID) != e.MessageID ||
		len(v.Lists[0]) != len(e.From) || string(v.Lists[0][0].Host) != e.From[0].Host {
		t.Fatalf("view %+v does not match %+v", v, e)
	}
	if n := testing.AllocsPerRun(100, func() { ReadEnvelope(b, &v) }); n != 0 {
		t.Errorf("ReadEnvelope with a reused view: %v allocations", n)
	}
	if err := ReadEnvelope(b[:len(b)-1], &v); err == nil || v.Subject != nil || v.Lists[0] != nil {
		t.Fatalf("truncated: err %v, view not emptied: %+v", err, v)
	}
}

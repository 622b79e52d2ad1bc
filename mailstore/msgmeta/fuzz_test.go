package msgmeta

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// seedMessages are the fuzz seeds: every shape the table tests cover, and a
// few nasty ones.
func seedMessages() []string {
	return []string{
		"",
		"\r\n",
		simpleHdr + simpleBody,
		altHdr + altBody,
		mixedHdr + mixedBody,
		crlf("Content-Type: multipart/mixed; boundary=m\n\n") + rfc822Body,
		strings.ReplaceAll(altHdr+altBody, "\r\n", "\n"),
		crlf("Content-Type: multipart/mixed; boundary=zz\n\nhello\n--other\n"),
		crlf("Content-Type: multipart/mixed\n\n--\nx\n"),
		crlf("Subject: x\nFrom: a@b"),
		crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s1\n\nb1\n--d--\n"),
		crlf("Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=a\n\n--a\n--a--"),
		crlf("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n--a\n--a--\n--a--\n"),
		crlf("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n----\n"),
		crlf("To: g: a@b, <c@d>;, (x) \"y\" <@r:z@w>, =?utf-8?q?=C3=A9?= <e@f>\nSubject: =?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=\nDate: 1 Jan 2000 00:00 +0000\n\n"),
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\r\n--b\n\r--b--",
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if m.Size != int64(len(data)) {
			t.Fatalf("Size %d, len %d", m.Size, len(data))
		}
		checkInvariants(t, m)

		part, err := DecodePart(EncodePart(&m.Root))
		if err != nil || !reflect.DeepEqual(part, m.Root) {
			t.Fatalf("part round trip: %v\n got %#v\nwant %#v", err, part, m.Root)
		}
		env, err := DecodeEnvelope(EncodeEnvelope(&m.Envelope))
		if err != nil || !reflect.DeepEqual(env, m.Envelope) {
			t.Fatalf("envelope round trip: %v\n got %#v\nwant %#v", err, env, m.Envelope)
		}

		// How the input is chunked must not change the result, nor must
		// taking body lines in bulk rather than one by one.
		m2, err := Parse(iotest.HalfReader(bytes.NewReader(data)))
		if err != nil || !reflect.DeepEqual(m2, m) {
			t.Fatalf("chunked read differs: %v", err)
		}
		m3, err := parse(bytes.NewReader(data), false)
		if err != nil || !reflect.DeepEqual(m3, m) {
			t.Fatalf("line by line differs: %v\n got %#v\nwant %#v", err, m, m3)
		}
	})
}

func FuzzDecodePart(f *testing.F) {
	p := samplePart()
	f.Add(EncodePart(&p))
	f.Add(EncodePart(&Part{}))
	f.Add(deepPartEncoding(10))
	for _, s := range seedMessages() {
		m, _ := Parse(strings.NewReader(s))
		f.Add(EncodePart(&m.Root))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePart(data)
		if err != nil {
			return
		}
		p2, err := DecodePart(EncodePart(&p))
		if err != nil || !reflect.DeepEqual(p2, p) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	e := sampleEnvelope()
	f.Add(EncodeEnvelope(&e))
	f.Add(EncodeEnvelope(&Envelope{}))
	for _, s := range seedMessages() {
		m, _ := Parse(strings.NewReader(s))
		f.Add(EncodeEnvelope(&m.Envelope))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		e2, err := DecodeEnvelope(EncodeEnvelope(&e))
		if err != nil || !reflect.DeepEqual(e2, e) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{"a@b", `"x, y" <a@b>, g: c@d;`, "(((", "<<>>", `"\`, "g:;;:", "=?utf-8?q?=FF?= <a@b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		budget := maxAddresses
		for _, a := range parseAddressList(s, &budget) {
			if a.Name != "" && a.Mailbox == "" && a.Host == "" {
				t.Fatalf("%q: named address reads as a group end: %#v", s, a)
			}
		}
	})
}

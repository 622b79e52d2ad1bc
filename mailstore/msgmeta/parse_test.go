package msgmeta

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var (
	simpleHdr = crlf("From: Ann <ann@example.com>\nTo: bob@example.org\nSubject: hi\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\nMessage-ID: <m1@example.com>\n\n")
	simpleBody = crlf("hello\nworld\n")

	altBody = crlf(`--b1
Content-Type: text/plain; charset=utf-8

plain
--b1
Content-Type: text/html

<p>html</p>
--b1--
`)
	altHdr = crlf("Content-Type: multipart/alternative; boundary=\"b1\"\n\n")

	attData   = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("binary\x00\xff", 20)))
	mixedBody = crlf(`--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

text
--inner
Content-Type: text/html

<b>html</b>
--inner--

--outer
Content-Type: application/octet-stream; name="a.bin"
Content-Disposition: attachment; filename="a.bin"
Content-Transfer-Encoding: base64

` + attData[:76] + "\n" + attData[76:] + `
--outer--
`)
	mixedHdr = crlf("Content-Type: multipart/mixed; boundary=outer\n\n")

	innerMsg = crlf(`From: Carl <carl@example.net>
Subject: inner one
Content-Type: multipart/mixed; boundary=ib

--ib
Content-Type: text/plain

inner text
--ib--
`)
	rfc822Body = crlf(`--m
Content-Type: text/plain

see attached
--m
Content-Type: message/rfc822
Content-Disposition: attachment

`) + innerMsg + crlf(`
--m--
`)

	longLine = strings.Repeat("x", 200<<10)
)

func TestParseStructure(t *testing.T) {
	tests := []struct {
		name  string
		input string
		parts []wantPart
	}{{
		name:  "simple text",
		input: simpleHdr + simpleBody,
		parts: []wantPart{{"", "text/plain", simpleHdr, simpleBody, 2, 0}},
	}, {
		name:  "multipart/alternative",
		input: altHdr + altBody,
		parts: []wantPart{
			{"", "multipart/alternative", altHdr, altBody, 9, 2},
			{"1", "text/plain", crlf("Content-Type: text/plain; charset=utf-8\n\n"), "plain", 1, 0},
			{"2", "text/html", crlf("Content-Type: text/html\n\n"), "<p>html</p>", 1, 0},
		},
	}, {
		name:  "nested mixed with base64 attachment",
		input: mixedHdr + mixedBody,
		parts: []wantPart{
			{"", "multipart/mixed", mixedHdr, mixedBody, 21, 2},
			{"1", "multipart/alternative", crlf("Content-Type: multipart/alternative; boundary=inner\n\n"),
				crlf("--inner\nContent-Type: text/plain\n\ntext\n--inner\nContent-Type: text/html\n\n<b>html</b>\n--inner--\n"), 9, 2},
			{"1.1", "text/plain", crlf("Content-Type: text/plain\n\n"), "text", 1, 0},
			{"1.2", "text/html", crlf("Content-Type: text/html\n\n"), "<b>html</b>", 1, 0},
			{"2", "application/octet-stream",
				crlf("Content-Type: application/octet-stream; name=\"a.bin\"\nContent-Disposition: attachment; filename=\"a.bin\"\nContent-Transfer-Encoding: base64\n\n"),
				attData[:76] + "\r\n" + attData[76:], 2, 0},
		},
	}, {
		name:  "message/rfc822 attachment",
		input: mixedHdr[:len(mixedHdr)-len("outer\r\n\r\n")] + "m\r\n\r\n" + rfc822Body,
		parts: []wantPart{
			{"2", "message/rfc822", crlf("Content-Type: message/rfc822\nContent-Disposition: attachment\n\n"), innerMsg, 9, 0},
			{"2.m", "multipart/mixed", innerMsg[:strings.Index(innerMsg, "\r\n\r\n")+4],
				crlf("--ib\nContent-Type: text/plain\n\ninner text\n--ib--\n"), 5, 1},
			{"2.m.1", "text/plain", crlf("Content-Type: text/plain\n\n"), "inner text", 1, 0},
		},
	}, {
		name:  "boundary never appears",
		input: crlf("Content-Type: multipart/mixed; boundary=zz; charset=utf-8\n\nhello\n--other\nbye"),
		parts: []wantPart{{"", "text/plain", crlf("Content-Type: multipart/mixed; boundary=zz; charset=utf-8\n\n"), crlf("hello\n--other\nbye"), 3, 0}},
	}, {
		name:  "missing boundary param",
		input: crlf("Content-Type: multipart/mixed\n\n--\nx\n"),
		parts: []wantPart{{"", "text/plain", crlf("Content-Type: multipart/mixed\n\n"), crlf("--\nx\n"), 2, 0}},
	}, {
		name:  "only a close delimiter",
		input: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b--\n"),
		parts: []wantPart{{"", "text/plain", crlf("Content-Type: multipart/mixed; boundary=b\n\n"), crlf("--b--\n"), 1, 0}},
	}, {
		name:  "empty body",
		input: crlf("Subject: x\n\n"),
		parts: []wantPart{{"", "text/plain", crlf("Subject: x\n\n"), "", 0, 0}},
	}, {
		name:  "empty input",
		input: "",
		parts: []wantPart{{"", "text/plain", "", "", 0, 0}},
	}, {
		name:  "header only, no blank line",
		input: crlf("Subject: x\nFrom: a@b"),
		parts: []wantPart{{"", "text/plain", crlf("Subject: x\nFrom: a@b"), "", 0, 0}},
	}, {
		name:  "bare LF",
		input: strings.ReplaceAll(altHdr+altBody, "\r\n", "\n"),
		parts: []wantPart{
			{"", "multipart/alternative", strings.ReplaceAll(altHdr, "\r", ""), strings.ReplaceAll(altBody, "\r", ""), 9, 2},
			{"1", "text/plain", "Content-Type: text/plain; charset=utf-8\n\n", "plain", 1, 0},
			{"2", "text/html", "Content-Type: text/html\n\n", "<p>html</p>", 1, 0},
		},
	}, {
		name:  "8-bit UTF-8 body, no final newline",
		input: crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\n日本語"),
		parts: []wantPart{{"", "text/plain", crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"), crlf("Grüße\n日本語"), 2, 0}},
	}, {
		name:  "boundary that looks like an encoded word",
		input: crlf("Content-Type: multipart/mixed; boundary=\"=?utf-8?q?x?=\"\n\n--=?utf-8?q?x?=\n\nz\n--=?utf-8?q?x?=--\n"),
		parts: []wantPart{{"1", "text/plain", "\r\n", "z", 1, 0}},
	}, {
		name:  "preamble and epilogue",
		input: crlf("Content-Type: multipart/mixed; boundary=\"x y\"\n\npreamble\n--x y\n\none\n\n--x y--  \nepilogue\n"),
		parts: []wantPart{
			{"", "multipart/mixed", crlf("Content-Type: multipart/mixed; boundary=\"x y\"\n\n"), crlf("preamble\n--x y\n\none\n\n--x y--  \nepilogue\n"), 7, 1},
			{"1", "text/plain", "\r\n", crlf("one\n"), 1, 0},
		},
	}, {
		name:  "very long line",
		input: crlf("Subject: long\n\n") + longLine + "\r\nend\r\n",
		parts: []wantPart{{"", "text/plain", crlf("Subject: long\n\n"), longLine + "\r\nend\r\n", 2, 0}},
	}, {
		name:  "long line between parts",
		input: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n") + longLine + crlf("\n--b\n\nsecond\n--b--\n"),
		parts: []wantPart{
			{"1", "text/plain", "\r\n", longLine, 1, 0},
			{"2", "text/plain", "\r\n", "second", 1, 0},
		},
	}, {
		name:  "part header ended by boundary",
		input: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n--b\n--b--\n"),
		parts: []wantPart{
			{"", "multipart/mixed", crlf("Content-Type: multipart/mixed; boundary=b\n\n"), crlf("--b\nContent-Type: text/html\n--b\n--b--\n"), 4, 2},
			{"1", "text/html", "Content-Type: text/html", "", 0, 0},
			{"2", "text/plain", "", "", 0, 0},
		},
	}, {
		name:  "empty part bodies",
		input: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b\n\n\n--b--"),
		parts: []wantPart{
			{"1", "text/plain", "\r\n", "", 0, 0},
			{"2", "text/plain", "\r\n", "", 0, 0},
		},
	}, {
		name:  "unterminated multipart",
		input: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast words\n"),
		parts: []wantPart{{"1", "text/plain", "\r\n", "last words\r\n", 1, 0}},
	}, {
		name:  "digest defaults to message/rfc822",
		input: crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s1\n\nb1\n--d--\n"),
		parts: []wantPart{
			{"1", "message/rfc822", "\r\n", crlf("Subject: s1\n\nb1"), 3, 0},
			{"1.m", "text/plain", crlf("Subject: s1\n\n"), "b1", 1, 0},
		},
	}, {
		name:  "encoded message/rfc822 stays a leaf",
		input: crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n"),
		parts: []wantPart{
			{"", "message/rfc822", crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"), crlf("U3ViamVjdDogeA0KDQp5\n"), 1, 0},
			{"m", "text/plain", "", crlf("U3ViamVjdDogeA0KDQp5\n"), 1, 0},
		},
	}, {
		name:  "malformed header lines are skipped",
		input: crlf("From me\n continuation of nothing\nContent-Type: text/html\nbroken line\nX: y\n\nz"),
		parts: []wantPart{{"", "text/html", crlf("From me\n continuation of nothing\nContent-Type: text/html\nbroken line\nX: y\n\n"), "z", 1, 0}},
	}, {
		name:  "invalid content type",
		input: crlf("Content-Type: garbage\n\nz"),
		parts: []wantPart{{"", "text/plain", crlf("Content-Type: garbage\n\n"), "z", 1, 0}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if m.Size != int64(len(tc.input)) {
				t.Errorf("Size %d, want %d", m.Size, len(tc.input))
			}
			checkInvariants(t, m)
			for _, w := range tc.parts {
				checkPart(t, tc.input, &m.Root, w)
			}
			got, err := DecodePart(EncodePart(&m.Root))
			if err != nil || !reflect.DeepEqual(got, m.Root) {
				t.Errorf("part codec round trip: %v", err)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	input := crlf(`Content-Type: multipart/mixed; boundary=b; charset=us-ascii

--b
Content-Type: Text/PLAIN; CHARSET="ISO-8859-1"; format=flowed
Content-ID: <c1@x>
Content-Description: =?utf-8?q?Beschreibung_=C3=BC?=
Content-Transfer-Encoding: Quoted-Printable
Content-Disposition: Attachment; filename*=utf-8''na%C3%AFve.txt; size=12
Content-Language: en, de-CH
Content-Location: http://example.com/x
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

body
--b
Content-Type: application/pdf; name="=?utf-8?b?w6kucGRm?="; name="dup"

x
--b--
`)
	m, err := Parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	want := Part{
		Type: "text", Subtype: "plain",
		Params:      map[string]string{"charset": "ISO-8859-1", "format": "flowed"},
		ID:          "<c1@x>",
		Description: "Beschreibung ü",
		Encoding:    "quoted-printable",
		Disposition: "attachment", DispositionParams: map[string]string{"filename": "naïve.txt", "size": "12"},
		Language: []string{"en", "de-CH"},
		Location: "http://example.com/x",
		MD5:      "Q2hlY2sgSW50ZWdyaXR5IQ==",
	}
	got := m.Root.Children[0]
	got.HeaderStart, got.BodyStart, got.End, got.Lines = 0, 0, 0, 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields:\n got %+v\nwant %+v", got, want)
	}
	// Duplicate parameters make mime.ParseMediaType fail; the lenient
	// parser keeps the first.
	if p := m.Root.Children[1].Params; p["name"] != "é.pdf" {
		t.Errorf("lenient params: %q", p)
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		for i := range maxDepth + 10 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("\r\ndeep\r\n")
		m, err := Parse(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, m)
		depth := 0
		for p := &m.Root; len(p.Children) > 0; p = &p.Children[0] {
			depth++
		}
		if depth != maxDepth {
			t.Errorf("depth %d, want %d", depth, maxDepth)
		}
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
		for i := range maxParts + 500 {
			fmt.Fprintf(&b, "--b\r\n\r\npart %d\r\n", i)
		}
		b.WriteString("--b--\r\nepilogue\r\n")
		input := b.String()
		m, err := Parse(strings.NewReader(input))
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, m)
		if n := len(m.Root.Children); n != maxParts-1 {
			t.Errorf("%d children, want %d", n, maxParts-1)
		}
		last := m.Root.Children[len(m.Root.Children)-1]
		if body := input[last.BodyStart:last.End]; !strings.HasSuffix(body, fmt.Sprintf("part %d", maxParts+499)) {
			t.Errorf("last part does not absorb the rest: ...%q", body[len(body)-20:])
		}
	})
	t.Run("cap boundary", func(t *testing.T) {
		// Whatever field straddles the cap, the Content-Type survives and
		// a folded non-Content field past the cap does not leak into it.
		ct := "Content-Type: multipart/mixed;\r\n boundary=b\r\n"
		for _, pad := range []int{-200, -40, -30, -20, -5, -2, -1, 0, 1, 2, 30} {
			x := "X-Pad: " + strings.Repeat("p", maxHeader-9-len(ct)/2+pad) + "\r\n"
			for _, input := range []string{
				x + ct + "X-F: a\r\n charset=evil\r\n\r\n--b\r\n\r\nz\r\n--b--\r\n",
				ct[:len(ct)-2] + "; charset=utf-8\r\n" + x + "\r\n--b\r\n\r\nz\r\n--b--\r\n",
			} {
				m, err := Parse(strings.NewReader(input))
				if err != nil {
					t.Fatal(err)
				}
				checkInvariants(t, m)
				if len(m.Root.Children) != 1 || m.Root.Params["boundary"] != "b" || m.Root.Params["charset"] == "evil" {
					t.Errorf("pad %d: %s/%s %q", pad, m.Root.Type, m.Root.Subtype, m.Root.Params)
				}
			}
		}
	})
	t.Run("huge header", func(t *testing.T) {
		// Past the cap only Content-* fields are read: the structure
		// survives, From does not.
		input := "Subject: s\r\nX-Big: " + strings.Repeat("y", 2*maxHeader) + "\r\nFrom: late@example.com\r\n" +
			"Content-Type: multipart/mixed;\r\n boundary=b\r\nX-Folded: a\r\n b\r\n\r\n--b\r\n\r\nbody\r\n--b--\r\n"
		m, err := Parse(strings.NewReader(input))
		if err != nil {
			t.Fatal(err)
		}
		checkPart(t, input, &m.Root, wantPart{"", "multipart/mixed", input[:strings.Index(input, "\r\n\r\n")+4], "--b\r\n\r\nbody\r\n--b--\r\n", 4, 1})
		if m.Envelope.Subject != "s" || m.Envelope.From != nil {
			t.Errorf("envelope %+v: want subject, and From past the cap ignored", m.Envelope)
		}
		if !reflect.DeepEqual(m.Root.Params, map[string]string{"boundary": "b"}) {
			t.Errorf("params %q", m.Root.Params)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseReadError(t *testing.T) {
	boom := fmt.Errorf("boom")
	_, err := Parse(errReader{boom})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err %v", err)
	}
}

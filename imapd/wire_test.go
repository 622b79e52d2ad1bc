package imapd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore/msgmeta"
)

// wireEnvelopes are envelopes where the encoding has choices to make:
// UTF-8 and 8-bit bytes (quoted or literal), characters to escape, CR/LF
// and NUL (literals), long strings, groups, missing fields, odd zones.
func wireEnvelopes() []msgmeta.Envelope {
	long := strings.Repeat("x", 5000)
	return []msgmeta.Envelope{
		{},
		{
			Date:    time.Date(2026, 3, 2, 10, 7, 0, 0, time.FixedZone("", 3600)),
			Subject: "Weekly report",
			From:    []msgmeta.Address{{Name: "Ann Example", Mailbox: "ann", Host: "example.com"}},
			To: []msgmeta.Address{{Mailbox: "bob", Host: "example.org"},
				{Mailbox: "team"}, {Name: "Carl", Mailbox: "carl", Host: "example.net"}, {}},
			InReplyTo: []string{"<a@b>", "<c@d>"},
			MessageID: "<id@example.com>",
		},
		{
			Date:      time.Date(1999, 12, 31, 23, 59, 59, 5, time.FixedZone("", -(9*3600+30*60))),
			Subject:   "Größe \"quoted\" back\\slash =?? _x_",
			From:      []msgmeta.Address{{Name: "Jörg", Mailbox: "jörg", Host: "exämple.de"}},
			Sender:    []msgmeta.Address{{Mailbox: "s", Host: "h"}},
			ReplyTo:   []msgmeta.Address{{Name: `"q" \`, Mailbox: `a"b`, Host: `c\d`}},
			Cc:        []msgmeta.Address{{Name: "tab\there", Mailbox: "x", Host: "y"}},
			Bcc:       []msgmeta.Address{{Name: "line\r\nbreak", Mailbox: "nul\x00", Host: "z"}},
			InReplyTo: []string{"no-brackets", "<>", "<é@x>"},
			MessageID: "<>",
		},
		{
			Date:      time.Date(5, 1, 2, 3, 4, 5, 0, time.UTC),
			Subject:   long,
			From:      []msgmeta.Address{{Name: long, Mailbox: long, Host: "h"}},
			MessageID: "<" + long + ">",
		},
		{
			Date:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -59)),
			Subject:   strings.Repeat("日本語のメール件名 ", 12), // Q-encoding splits into several words
			InReplyTo: []string{"<x\ny>"},
			MessageID: "bare@id",
		},
		{Subject: "\xff\xfe invalid utf-8", Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 99*3600+3599))},
	}
}

// checkWireEnvelope compares appendEnvelope on the stored encoding of e
// with imapserver's own writer on toEnvelope of the decoded envelope.
func checkWireEnvelope(t *testing.T, stored []byte) {
	t.Helper()
	dec, err := msgmeta.DecodeEnvelope(stored)
	var view msgmeta.EnvelopeView
	verr := msgmeta.ReadEnvelope(stored, &view)
	if (err == nil) != (verr == nil) {
		t.Fatalf("DecodeEnvelope: %v, ReadEnvelope: %v", err, verr)
	}
	envp := &dec
	if err != nil {
		envp = nil // unreadable: both sides write an empty envelope
	}
	var scratch []byte
	for _, utf8 := range []bool{false, true} {
		want := imapserver.EncodeEnvelope(toEnvelope(envp), utf8)
		got := appendEnvelope([]byte("prefix"), &view, utf8, &scratch)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("utf8=%v:\n got %q\nwant %q", utf8, got[len("prefix"):], want)
		}
	}
}

func TestWireEnvelope(t *testing.T) {
	for i, e := range wireEnvelopes() {
		stored := msgmeta.EncodeEnvelope(&e)
		checkWireEnvelope(t, stored)
		if t.Failed() {
			t.Fatalf("envelope %d", i)
		}
	}
	checkWireEnvelope(t, []byte{1, 7}) // corrupt
}

// TestWireEnvelopeReuse: a view reused from a long envelope to a short one
// keeps nothing of the first.
func TestWireEnvelopeReuse(t *testing.T) {
	envs := wireEnvelopes()
	var view msgmeta.EnvelopeView
	var scratch []byte
	for _, i := range []int{2, 1, 0, 3, 1} {
		stored := msgmeta.EncodeEnvelope(&envs[i])
		if err := msgmeta.ReadEnvelope(stored, &view); err != nil {
			t.Fatal(err)
		}
		got := appendEnvelope(nil, &view, false, &scratch)
		if want := imapserver.EncodeEnvelope(toEnvelope(&envs[i]), false); !bytes.Equal(got, want) {
			t.Fatalf("envelope %d after reuse:\n got %q\nwant %q", i, got, want)
		}
	}
}

func FuzzWireEnvelope(f *testing.F) {
	for _, e := range wireEnvelopes() {
		f.Add(msgmeta.EncodeEnvelope(&e))
	}
	for _, h := range []string{
		"From: =?utf-8?q?J=C3=B6rg?= <j@x>\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nDate: Mon, 2 Mar 2026 10:00:00 -0130\r\n\r\n",
		"To: group: a@b, \"c d\" <c@d>;, e@f\r\nIn-Reply-To: <a@b> <c@d>\r\nMessage-ID: <m@x>\r\n\r\n",
	} {
		m, err := msgmeta.Parse(strings.NewReader(h))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msgmeta.EncodeEnvelope(&m.Envelope))
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		checkWireEnvelope(t, stored)
	})
}

func TestAppendFlags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "FLAGS ()"},
		{[]string{`\Seen`, `\Flagged`, "$Label1"}, `FLAGS (\Seen \Flagged $Label1)`},
		{[]string{"bad flag", `a\b`, "", "ok", "(x"}, "FLAGS (ok)"},
	} {
		if got := string(appendFlags(nil, tc.in)); got != tc.want {
			t.Errorf("appendFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

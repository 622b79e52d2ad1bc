package msgmeta

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseEnv(t *testing.T, header string) Envelope {
	t.Helper()
	m, err := Parse(strings.NewReader(crlf(header + "\n\nbody\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m.Envelope
}

func TestEnvelope(t *testing.T) {
	e := parseEnv(t, `Date: Mon, 02 Jan 2006 15:04:05 -0700 (MST)
Subject: hello
 folded
From: "Ann Example" <ann@example.com>
Sender: sec@example.com
Reply-To: list@example.org
To: bob@example.org, Carl <carl@example.net>
Cc: dee@example.com
Bcc: eve@example.com
In-Reply-To: <a1@x> <a2@y>
Message-ID: <m1@example.com>`)
	want := Envelope{
		Date:      time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600)),
		Subject:   "hello folded",
		From:      []Address{{"Ann Example", "ann", "example.com"}},
		Sender:    []Address{{"", "sec", "example.com"}},
		ReplyTo:   []Address{{"", "list", "example.org"}},
		To:        []Address{{"", "bob", "example.org"}, {"Carl", "carl", "example.net"}},
		Cc:        []Address{{"", "dee", "example.com"}},
		Bcc:       []Address{{"", "eve", "example.com"}},
		InReplyTo: []string{"<a1@x>", "<a2@y>"},
		MessageID: "<m1@example.com>",
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("envelope:\n got %#v\nwant %#v", e, want)
	}
	got, err := DecodeEnvelope(EncodeEnvelope(&e))
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("round trip: %v\n got %#v", err, got)
	}
}

func TestEnvelopeMissing(t *testing.T) {
	e := parseEnv(t, "X-Nothing: here\nDate: not a date")
	if !reflect.DeepEqual(e, Envelope{}) {
		t.Errorf("got %#v, want empty", e)
	}
}

func TestEnvelopeDates(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"Tue, 1 Jul 2003 10:52:37 +0200", time.Date(2003, 7, 1, 8, 52, 37, 0, time.UTC)},
		{"1 Jul 2003 10:52:37 GMT", time.Date(2003, 7, 1, 10, 52, 37, 0, time.UTC)},
		{"Tue, 01 Jul 2003 10:52 -0000", time.Date(2003, 7, 1, 10, 52, 0, 0, time.UTC)},
		{"yesterday", time.Time{}},
	}
	for _, tc := range tests {
		e := parseEnv(t, "Date: "+tc.in)
		if !e.Date.Equal(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, e.Date, tc.want)
		}
	}
}

func TestEnvelopeSubjects(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=?UTF-8?B?5pel5pys6Kqe?=", "日本語"},
		{"=?utf-8?q?na=C3=AFve?= =?utf-8?q?_caf=C3=A9?=", "naïve café"},
		{"Re: =?ISO-8859-1?Q?Caf=E9?= au lait", "Re: Café au lait"},
		{"=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=", "Привет"},
		{"=?windows-1252?Q?=80uro?=", "€uro"},
		{"=?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?="},
		{"raw UTF-8 Grüße", "raw UTF-8 Grüße"},
	}
	for _, tc := range tests {
		if got := parseEnv(t, "Subject: "+tc.in).Subject; got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.c", []Address{{"", "a", "b.c"}}},
		{`"Doe, John" <john@x.org>, jane@y.org`, []Address{{"Doe, John", "john", "x.org"}, {"", "jane", "y.org"}}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@x.de>", []Address{{"Jürgen", "j", "x.de"}}},
		{"=?iso-8859-1?q?J=FCrgen?= <j@x.de>", []Address{{"Jürgen", "j", "x.de"}}},
		{"=?koi8-r?b?6dfBzg==?= <ivan@x.ru>", []Address{{"Иван", "ivan", "x.ru"}}},
		{"john@x.org (John Doe)", []Address{{"John Doe", "john", "x.org"}}},
		// Groups: a start marker {Mailbox: name} and an end marker {}.
		{"A Group: a@x.org, \"B, b\" <b@y.org>;, c@z.org", []Address{
			{"", "A Group", ""}, {"", "a", "x.org"}, {"B, b", "b", "y.org"}, {}, {"", "c", "z.org"}}},
		{"undisclosed-recipients:;", []Address{{"", "undisclosed-recipients", ""}, {}}},
		{"team: x@y", []Address{{"", "team", ""}, {"", "x", "y"}, {}}},
		// Best effort for broken input.
		{"undisclosed-recipients", []Address{{"", "undisclosed-recipients", ""}}},
		{"John <john>", []Address{{"John", "john", ""}}},
		{"bad..dots@x.org, good@y.org", []Address{{"", "bad..dots", "x.org"}, {"", "good", "y.org"}}},
		{"a@x.org; b@y.org", []Address{{"", "a", "x.org"}, {"", "b", "y.org"}}},
		{"<@route1,@route2:user@host>", []Address{{"", "user", "host"}}},
		{"Ünïcode Name <u@x>", []Address{{"Ünïcode Name", "u", "x"}}},
		{"<>, ,a@b", []Address{{"", "a", "b"}}},
		{`"unterminated <a@b>, c@d`, []Address{{"unterminated", "a", "b"}, {"", "c", "d"}}},
		{"", nil},
	}
	for _, tc := range tests {
		budget := maxAddresses
		if got := parseAddressList(tc.in, &budget); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	tests := []struct {
		hdr       string
		msgID     string
		inReplyTo []string
	}{
		{"Message-ID: <a@b>\nIn-Reply-To: <x@y>", "<a@b>", []string{"<x@y>"}},
		{"Message-ID:  <a b@c> \nIn-Reply-To: Your message of Monday <x@y>", "<a b@c>", []string{"<x@y>"}},
		{"Message-ID: no-brackets", "no-brackets", nil},
		{"In-Reply-To: <>", "", nil},
	}
	for _, tc := range tests {
		e := parseEnv(t, tc.hdr)
		if e.MessageID != tc.msgID || !reflect.DeepEqual(e.InReplyTo, tc.inReplyTo) {
			t.Errorf("%q: got %q %q, want %q %q", tc.hdr, e.MessageID, e.InReplyTo, tc.msgID, tc.inReplyTo)
		}
	}
}

func TestAddressBudget(t *testing.T) {
	budget := 4
	got := parseAddressList("a@x, g: b@x, c@x, d@x;, e@x", &budget)
	want := []Address{{"", "a", "x"}, {"", "g", ""}, {"", "b", "x"}, {"", "c", "x"}, {}}
	if !reflect.DeepEqual(got, want) || budget != -1 {
		t.Errorf("got %#v, budget %d", got, budget)
	}
	if got := parseAddressList("z@x", &budget); got != nil {
		t.Errorf("spent budget: got %#v", got)
	}
	m, err := Parse(strings.NewReader("To: " + strings.Repeat("a@b, ", 3*maxAddresses) + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Envelope.To); n != maxAddresses {
		t.Errorf("%d addresses, want %d", n, maxAddresses)
	}
}

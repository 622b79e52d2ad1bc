package mailfmt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type readMsg struct {
	Body  string
	Flags []string
	Date  time.Time
}

func readAllMbox(t testing.TB, r io.Reader, v MboxVariant) ([]readMsg, error) {
	t.Helper()
	mr := NewMboxReader(r, "INBOX", v)
	var out []readMsg
	for {
		m, err := mr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			return out, err
		}
		out = append(out, readMsg{Body: string(b), Flags: m.Flags, Date: m.Date})
	}
}

func TestParseFromLine(t *testing.T) {
	loc := time.Local
	cases := []struct {
		line string
		want time.Time
	}{
		{"From ann@vm  Tue Dec 01 08:35:50 2026", time.Date(2026, 12, 1, 8, 35, 50, 0, loc)},
		{"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n", time.Date(2026, 11, 21, 10, 0, 0, 0, loc)},
		{"From a@b Mon Jan  5 09:01:02 2026 +0200", time.Date(2026, 1, 5, 9, 1, 2, 0, time.FixedZone("", 2*3600))},
		{"From a@b Mon Jan 5 09:01:02 +0200 2026", time.Date(2026, 1, 5, 9, 1, 2, 0, time.FixedZone("", 2*3600))},
		{"From a@b Mon Jan 5 09:01 2026", time.Date(2026, 1, 5, 9, 1, 0, 0, loc)},
		{"From john doe@x Mon Jan 5 09:01:02 2026", time.Date(2026, 1, 5, 9, 1, 2, 0, loc)},
		{"From uucp Mon Jan 5 09:01:02 2026 remote from relay", time.Date(2026, 1, 5, 9, 1, 2, 0, loc)},
		{"From a@b", time.Time{}},
		{"From a@b yesterday", time.Time{}},
		{"Subject: x", time.Time{}},
	}
	for _, c := range cases {
		got := ParseFromLine(c.line)
		if !got.Equal(c.want) {
			t.Errorf("ParseFromLine(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

func TestMboxRead(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		variant MboxVariant
		want    []readMsg
		err     bool
	}{
		{name: "empty file", in: ""},
		{name: "two messages", in: "From a Mon Jan 5 09:01:02 2026\nSubject: 1\n\none\n\nFrom b Mon Jan 5 09:01:03 2026\nSubject: 2\n\ntwo\n\n",
			want: []readMsg{{Body: "Subject: 1\n\none\n"}, {Body: "Subject: 2\n\ntwo\n"}}},
		{name: "blank lines inside and at the end are content", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\none\n\n\ntwo\n\n\n",
			want: []readMsg{{Body: "S: 1\n\none\n\n\ntwo\n\n"}}},
		{name: "mboxrd unquoting", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\n>From me\n>>From you\n>From\n> From x\n\n",
			want: []readMsg{{Body: "S: 1\n\nFrom me\n>From you\n>From\n> From x\n"}}},
		{name: "mboxo unquoting", variant: MboxO, in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\n>From me\n>>From you\n\n",
			want: []readMsg{{Body: "S: 1\n\nFrom me\n>>From you\n"}}},
		{name: "From inside a paragraph is not a separator", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\nline\nFrom here on\n\n",
			want: []readMsg{{Body: "S: 1\n\nline\nFrom here on\n"}}},
		{name: "status headers become flags and are removed",
			in:   "From a Mon Jan 5 09:01:02 2026\nSubject: s\nStatus: RO\nX-Status: AFD\nX-Keywords: $Forwarded Junk,Work\nX-UID: 7\n\nbody\n\n",
			want: []readMsg{{Body: "Subject: s\n\nbody\n", Flags: []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, "$Forwarded", "Junk", "Work"}}}},
		{name: "thunderbird status", in: "From - Mon Jan 5 09:01:02 2026\nX-Mozilla-Status: 1003\nX-Mozilla-Keys: $label1\nS: x\n\nb\n\n",
			want: []readMsg{{Body: "S: x\n\nb\n", Flags: []string{FlagSeen, FlagAnswered, FlagForwarded, "$label1"}}}},
		{name: "folded keywords", in: "From a Mon Jan 5 09:01:02 2026\nX-Keywords: one\n two\nS: x\n\nb\n\n",
			want: []readMsg{{Body: "S: x\n\nb\n", Flags: []string{"one", "two"}}}},
		{name: "leading blank lines", in: "\n\nFrom a Mon Jan 5 09:01:02 2026\nS: 1\n\nb\n\n", want: []readMsg{{Body: "S: 1\n\nb\n"}}},
		{name: "not an mbox", in: "Subject: x\n\nbody\n", err: true},
		{name: "message without body", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\nFrom b Mon Jan 5 09:01:02 2026\nS: 2\n\nb\n",
			want: []readMsg{{Body: "S: 1\n"}, {Body: "S: 2\n\nb\n"}}},
		{name: "repeated envelope line", in: "From a Mon Jan 5 09:01:02 2026\nFrom a@b Mon Jan 5 09:01:02 2026\nS: 1\n\nb\n",
			want: []readMsg{{Body: "S: 1\n\nb\n"}}},
		{name: "empty body then next message", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\nFrom b Mon Jan 5 09:01:02 2026\nS: 2\n\nb\n",
			want: []readMsg{{Body: "S: 1\n\n"}, {Body: "S: 2\n\nb\n"}}},
		{name: "CRLF file", in: "From a Mon Jan 5 09:01:02 2026\r\nS: 1\r\n\r\none\r\n\r\nFrom b Mon Jan 5 09:01:02 2026\r\nS: 2\r\n\r\ntwo\r\n",
			want: []readMsg{{Body: "S: 1\r\n\r\none\r\n"}, {Body: "S: 2\r\n\r\ntwo\r\n"}}},
		{name: "no final newline", in: "From a Mon Jan 5 09:01:02 2026\nS: 1\n\nlast", want: []readMsg{{Body: "S: 1\n\nlast"}}},
		{name: "date from the header when the From_ line has none", in: "From a\nDate: Tue, 06 Jan 2026 10:00:00 +0000\n\nb\n",
			want: []readMsg{{Body: "Date: Tue, 06 Jan 2026 10:00:00 +0000\n\nb\n", Date: time.Date(2026, 1, 6, 10, 0, 0, 0, time.UTC)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAllMbox(t, strings.NewReader(c.in), c.variant)
			if c.err {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("err = %v, want ErrFormat", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d messages, want %d: %q", len(got), len(c.want), got)
			}
			for i := range got {
				if got[i].Body != c.want[i].Body {
					t.Errorf("message %d body %q, want %q", i, got[i].Body, c.want[i].Body)
				}
				if !slices.Equal(got[i].Flags, c.want[i].Flags) {
					t.Errorf("message %d flags %q, want %q", i, got[i].Flags, c.want[i].Flags)
				}
				if !c.want[i].Date.IsZero() && !got[i].Date.Equal(c.want[i].Date) {
					t.Errorf("message %d date %v, want %v", i, got[i].Date, c.want[i].Date)
				}
			}
		})
	}
}

// Dovecot writes Content-Length and does not quote From lines: a body
// line "From ..." after an empty line must not split the message when
// the length says so, but a wrong length is ignored.
func TestMboxContentLength(t *testing.T) {
	dovecot := "From ann@vm  Tue Dec 01 08:35:50 2026\nSubject: two\nX-UID: 1\nStatus: R\nX-Keywords: $Forwarded     \nContent-Length: 23\nX-Status: AF\n\nbody2\n\nFrom me\n>From x\n\nFrom ann@vm  Tue Dec 01 08:35:51 2026\nSubject: one\nContent-Length: 6\n\nbody1\n\n"
	wrong := strings.Replace(dovecot, "Content-Length: 23", "Content-Length: 99", 1)
	for _, c := range []struct {
		name string
		in   string
		want []string
	}{
		{"valid length", dovecot, []string{"Subject: two\n\nbody2\n\nFrom me\n>From x\n", "Subject: one\n\nbody1\n"}},
		{"wrong length", wrong, []string{"Subject: two\n\nbody2\n", "From x\n", "Subject: one\n\nbody1\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mbox")
			os.WriteFile(p, []byte(c.in), 0o600)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := readAllMbox(t, f, MboxRD)
			if err != nil {
				t.Fatal(err)
			}
			var bodies []string
			for _, m := range got {
				bodies = append(bodies, m.Body)
			}
			// With a wrong length, the "From me" line after an empty line
			// splits; the fragment's "header" is its first line.
			if c.name == "wrong length" {
				if len(bodies) != 3 || bodies[0] != c.want[0] || bodies[2] != c.want[2] {
					t.Fatalf("bodies %q", bodies)
				}
				return
			}
			if !slices.Equal(bodies, c.want) {
				t.Fatalf("bodies %q, want %q", bodies, c.want)
			}
			if !slices.Equal(got[0].Flags, []string{FlagSeen, FlagForwarded, FlagAnswered, FlagFlagged}) {
				t.Errorf("flags %q", got[0].Flags)
			}
		})
	}
}

// Lines and headers longer than every buffer pass through unchanged.
func TestMboxLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	hugeHdr := "X-Big: " + strings.Repeat("y", maxHeader) + "\n"
	in := "From a Mon Jan 5 09:01:02 2026\nS: 1\n\n" + long + "\n>From q\n\n" +
		"From b Mon Jan 5 09:01:02 2026\n" + hugeHdr + "Status: R\n\nb\n\n" +
		"From c Mon Jan 5 09:01:02 2026\nX-Long: " + long + "\n\nc\n"
	got, err := readAllMbox(t, strings.NewReader(in), MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d messages", len(got))
	}
	if got[0].Body != "S: 1\n\n"+long+"\nFrom q\n" {
		t.Errorf("long body line damaged (len %d)", len(got[0].Body))
	}
	if got[1].Body != hugeHdr+"Status: R\n\nb\n" {
		t.Errorf("huge header damaged (len %d)", len(got[1].Body))
	}
	if got[2].Body != "X-Long: "+long+"\n\nc\n" {
		t.Errorf("long header line damaged (len %d)", len(got[2].Body))
	}
}

func TestMboxRoundTrip(t *testing.T) {
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.Local)
	msgs := []Message{
		{Flags: []string{FlagSeen, FlagFlagged, "Work"}, Date: date, Body: strings.NewReader("Return-Path: <bob@example.org>\r\nSubject: a\r\nStatus: O\r\n\r\nFrom the start\r\n>From quoted\r\n\r\nFrom after blank\r\n")},
		{Flags: nil, Date: date.Add(time.Hour), Body: strings.NewReader("Subject: no final newline\r\n\r\nend")},
		{Flags: []string{FlagDraft, FlagDeleted, FlagAnswered}, Date: date, Body: strings.NewReader("Subject: empty\r\n\r\n")},
		{Date: date, Body: strings.NewReader("Subject: header only")},
	}
	want := []readMsg{
		{Body: "Return-Path: <bob@example.org>\nSubject: a\n\nFrom the start\n>From quoted\n\nFrom after blank\n", Flags: []string{FlagSeen, FlagFlagged, "Work"}},
		{Body: "Subject: no final newline\n\nend\n"},
		{Body: "Subject: empty\n\n", Flags: []string{FlagAnswered, FlagDraft, FlagDeleted}},
		{Body: "Subject: header only\n\n"},
	}
	var buf bytes.Buffer
	w := NewMboxWriter(&buf, MboxRD)
	for i := range msgs {
		if _, err := w.Write(&msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if !strings.HasPrefix(buf.String(), "From bob@example.org "+date.Format(time.ANSIC)+"\n") {
		t.Errorf("From_ line: %q", strings.SplitN(buf.String(), "\n", 2)[0])
	}
	got, err := readAllMbox(t, &buf, MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages:\n%s", len(got), buf.String())
	}
	for i := range want {
		if got[i].Body != want[i].Body || !slices.Equal(got[i].Flags, want[i].Flags) {
			t.Errorf("message %d: %q %q, want %q %q", i, got[i].Body, got[i].Flags, want[i].Body, want[i].Flags)
		}
		if !got[i].Date.Equal(msgs[i].Date) {
			t.Errorf("message %d date %v, want %v", i, got[i].Date, msgs[i].Date)
		}
	}
}

func FuzzMboxReader(f *testing.F) {
	for _, s := range []string{"", "From a Mon Jan 5 09:01:02 2026\nS: 1\n\n>From x\n\nFrom b\n", "From \n\n\n", "From a\nX-Keywords: \x00\n\n", "From a\nContent-Length: 3\n\nabc\n"} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, mboxo bool) {
		v := MboxRD
		if mboxo {
			v = MboxO
		}
		got, _ := readAllMbox(t, bytes.NewReader(in), v)
		total := 0
		for _, m := range got {
			total += len(m.Body)
		}
		if total > len(in) {
			t.Fatalf("read %d body bytes from %d input bytes", total, len(in))
		}
	})
}

// Whatever the body, writing it as mboxrd and reading it back gives it
// back (with LF line ends and a final newline).
func FuzzMboxRoundTrip(f *testing.F) {
	for _, s := range []string{"From x\n", ">From y\n\nFrom z", "\n\n\n", ">>>From \nFrom", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if strings.ContainsRune(body, '\r') {
			return
		}
		msg := "Subject: fuzz\n\n" + body
		var buf bytes.Buffer
		w := NewMboxWriter(&buf, MboxRD)
		w.Write(&Message{Body: strings.NewReader(msg), Date: time.Unix(1e9, 0)})
		w.Write(&Message{Body: strings.NewReader("Subject: second\n\nx\n"), Date: time.Unix(1e9, 0)})
		w.Flush()
		got, err := readAllMbox(t, &buf, MboxRD)
		if err != nil {
			t.Fatal(err)
		}
		want := msg
		if !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if len(got) != 2 || got[0].Body != want || got[1].Body != "Subject: second\n\nx\n" {
			t.Fatalf("round trip of %q gave %q", body, got)
		}
	})
}

package imapd

import (
	"fmt"
	"strings"
	"testing"
)

var searchMsgs = []struct{ flags, date, msg string }{
	{`(\Seen)`, "01-Jan-2024 12:00:00 +0000", "From: Ann <ann@example.com>\r\n" +
		"To: Bob <bob@example.org>\r\nSubject: Invoice 2026\r\nDate: Mon, 01 Jan 2024 09:00:00 +0000\r\n" +
		"X-Custom: alpha\r\n beta\r\n\r\nPlease pay the invoice.\r\n"},
	{`(\Flagged $Work)`, "15-Jun-2024 12:00:00 +0000", "From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.de>\r\n" +
		"To: ann@example.com\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nDate: Sat, 15 Jun 2024 23:30:00 -0500\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Un caf=C3=A9 noir\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"R3L832UgYXVzIEv2bG4=\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"c2VjcmV0d29yZA==\r\n--b--\r\n"},
	{`()`, "20-Dec-2025 08:00:00 +0000", "From: carol@example.net\r\nSubject: Re: Invoice\r\n\r\n" +
		strings.Repeat("a", scanChunk-3) + "needle" + strings.Repeat("b", 5000) + "\r\n"},
}

func TestSearch(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	for _, m := range searchMsgs {
		rc.ok(`APPEND INBOX %s "%s" {%d+}`+"\r\n%s", m.flags, m.date, len(m.msg), m.msg)
	}
	rc.ok("SELECT INBOX")
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
	for _, tc := range []struct{ criteria, want string }{
		{"ALL", "1 2 3"},
		{"FROM ann", "1"},
		{"CHARSET UTF-8 FROM " + lit("jürgen"), "2"},
		{"TO ANN@example.COM", "2"},
		{"SUBJECT invoice", "1 3"},
		{"CHARSET UTF-8 SUBJECT " + lit("CAFÉ"), "2"},
		{"HEADER X-Custom beta", "1"},
		{`HEADER X-Custom ""`, "1"},
		{`HEADER Message-ID ""`, ""},
		{"CHARSET UTF-8 BODY " + lit("café"), "2"},
		{"CHARSET UTF-8 BODY " + lit("KÖLN"), "2"},
		{"BODY secretword", ""},
		{"BODY needle", "3"},
		{"BODY invoice", "1"},
		{"TEXT bob@example.org", "1"},
		{"TEXT pay", "1"},
		{"TEXT needle", "3"},
		{"LARGER 1000", "3"},
		{"SMALLER 1000", "1 2"},
		{"SINCE 1-Jun-2024", "2 3"},
		{"BEFORE 1-Jun-2024", "1"},
		{"ON 15-Jun-2024", "2"},
		{"SENTON 15-Jun-2024", "2"},
		{"SENTBEFORE 2-Jan-2024", "1"},
		{"SENTSINCE 1-Dec-2025", "3"},
		{"SEEN", "1"},
		{"UNSEEN", "2 3"},
		{"FLAGGED", "2"},
		{"KEYWORD $Work", "2"},
		{"UNKEYWORD $Work", "1 3"},
		{"NEW", ""},
		{"RECENT", ""},
		{"OLD", "1 2 3"},
		{"DELETED", ""},
		{"UNDELETED", "1 2 3"},
		{"UID 2:*", "2 3"},
		{"UID 9:*", "3"},
		{"2,3", "2 3"},
		{"*", "3"},
		{"OR FROM ann FLAGGED", "1 2"},
		{"NOT SEEN", "2 3"},
		{"(SEEN SUBJECT invoice)", "1"},
		{"NOT (OR SEEN FLAGGED)", "3"},
		{"OR BODY needle BODY noir", "2 3"},
		{"NOT BODY needle UNSEEN", "2"},
	} {
		t.Run(tc.criteria, func(t *testing.T) {
			u := rc.ok("SEARCH %s", tc.criteria)
			want := strings.TrimSpace("* SEARCH " + tc.want)
			if len(u) != 1 || u[0] != want {
				t.Errorf("SEARCH %s = %q, want %q", tc.criteria, u, want)
			}
		})
	}
	rc.no("NO [BADCHARSET]", "SEARCH CHARSET KOI8-R ALL")

	// ESEARCH (RFC 4731).
	tag := rc.send("SEARCH RETURN (MIN MAX COUNT) UNSEEN")
	u, st := rc.wait(tag)
	if len(u) != 1 || u[0] != fmt.Sprintf(`* ESEARCH (TAG "%s") MIN 2 MAX 3 COUNT 2`, tag) || !strings.HasPrefix(st, "OK") {
		t.Errorf("ESEARCH: %q %q", u, st)
	}
	tag = rc.send("UID SEARCH RETURN (ALL) SUBJECT invoice")
	u, _ = rc.wait(tag)
	if len(u) != 1 || u[0] != fmt.Sprintf(`* ESEARCH (TAG "%s") UID ALL 1,3`, tag) {
		t.Errorf("UID ESEARCH: %q", u)
	}
	tag = rc.send("SEARCH RETURN () BODY nothing-matches")
	u, _ = rc.wait(tag)
	if len(u) != 1 || u[0] != fmt.Sprintf(`* ESEARCH (TAG "%s")`, tag) {
		t.Errorf("empty ESEARCH: %q", u)
	}

	// SEARCHRES (RFC 5182).
	rc.ok("SEARCH RETURN (SAVE) SUBJECT invoice")
	u = rc.ok("FETCH $ (UID)")
	if len(u) != 2 || u[0] != "* 1 FETCH (UID 1)" || u[1] != "* 3 FETCH (UID 3)" {
		t.Errorf("FETCH $: %q", u)
	}
	mustHave(t, rc.ok("UID SEARCH UID $"), "* SEARCH 1 3")
	mustHave(t, rc.ok("SEARCH NOT UID $"), "* SEARCH 2")
	rc.ok("SEARCH RETURN (SAVE MIN) ALL")
	mustHave(t, rc.ok("SEARCH $"), "* SEARCH 1")
	rc.ok(`STORE $ +FLAGS (\Answered)`)
	mustHave(t, rc.ok("SEARCH ANSWERED"), "* SEARCH 1")

	// After IMAP4rev2 is enabled, SEARCH answers with ESEARCH.
	rc.ok("ENABLE IMAP4rev2")
	tag = rc.send("SEARCH SEEN")
	u, _ = rc.wait(tag)
	mustHave(t, u, fmt.Sprintf(`* ESEARCH (TAG "%s") ALL 1`, tag))
}

func TestTextMatcher(t *testing.T) {
	tm := newTextMatcher([]string{"needle", "ü"})
	long := strings.Repeat("x", scanChunk-2) + "NEEDLE" // straddles the first chunk
	if err := tm.scan(strings.NewReader(strings.ToLower(long))); err != nil {
		t.Fatal(err)
	}
	if !tm.found[0] || tm.found[1] {
		t.Fatalf("found %v", tm.found)
	}
	// A multi-byte rune cut by the chunk boundary still matches.
	tm = newTextMatcher([]string{"ü"})
	tm.scan(strings.NewReader(strings.Repeat("y", scanChunk-1) + "Ü"))
	if !tm.found[0] {
		t.Error("rune across the chunk boundary not found")
	}
	// Matches never span two texts.
	tm = newTextMatcher([]string{"ab"})
	tm.scan(strings.NewReader("a"))
	tm.scan(strings.NewReader("b"))
	if tm.found[0] {
		t.Error("match across two texts")
	}
}

// TestInternalDateZone: an APPEND's date comes back in the zone the client
// gave, and SEARCH date criteria use the day in that zone (RFC 3501 §6.4.4:
// time and zone are ignored).
func TestInternalDateZone(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	msg := "Subject: z\r\nDate: Sun, 31 Dec 2023 23:30:00 -0800\r\n\r\nx\r\n"
	rc.ok(`APPEND Drafts "01-Jan-2024 00:30:00 +0200" {%d+}`+"\r\n%s", len(msg), msg)
	rc.ok(`APPEND Drafts "31-Dec-2023 23:30:00 -0800" {%d+}`+"\r\n%s", len(msg), msg)
	rc.ok("SELECT Drafts")
	u := rc.ok("FETCH 1:2 INTERNALDATE")
	mustHave(t, u, `* 1 FETCH (INTERNALDATE " 1-Jan-2024 00:30:00 +0200")`, `* 2 FETCH (INTERNALDATE "31-Dec-2023 23:30:00 -0800")`)
	for _, tc := range []struct{ criteria, want string }{
		{"ON 1-Jan-2024", "* SEARCH 1"},
		{"ON 31-Dec-2023", "* SEARCH 2"},
		{"SINCE 1-Jan-2024", "* SEARCH 1"},
		{"BEFORE 1-Jan-2024", "* SEARCH 2"},
		{"SENTON 31-Dec-2023", "* SEARCH 1 2"},
		{"SENTSINCE 1-Jan-2024", "* SEARCH"},
	} {
		u := rc.ok("SEARCH %s", tc.criteria)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("SEARCH %s: %q, want %q", tc.criteria, u, tc.want)
		}
	}
	// COPY keeps the date and its zone.
	rc.ok("COPY 1 Archive")
	rc.ok("SELECT Archive")
	mustHave(t, rc.ok("FETCH 1 INTERNALDATE"), `INTERNALDATE " 1-Jan-2024 00:30:00 +0200"`)
}

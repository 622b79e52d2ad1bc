package imapd

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const mpMsg = "From: Ann <ann@example.com>\r\n" +
	"To: bob@example.org, \"Carl C.\" <carl@example.org>\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Date: Tue, 03 Feb 2026 10:00:00 +0100\r\n" +
	"Message-ID: <mp@example.com>\r\n" +
	"In-Reply-To: <parent@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=C3=A9 au lait, soft=\r\n" +
	" break\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=\"a.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
	"\r\n" +
	"AAECAwQFBgcICQ==\r\n" +
	"--XX\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: Carol <carol@example.net>\r\n" +
	"Subject: inner\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--XX--\r\n" +
	"epilogue\r\n"

// fetchItem extracts the value of one FETCH item from a raw line whose
// literals were inlined by rawClient ("BODY[1] {5}\r\nhello").
func fetchItem(t *testing.T, line, item string) string {
	t.Helper()
	i := strings.Index(line, item+" ")
	if i < 0 {
		t.Fatalf("no %s in %q", item, line)
	}
	rest := line[i+len(item)+1:]
	if strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, "~{") {
		j := strings.Index(rest, "}\r\n")
		var n int
		fmt.Sscanf(strings.TrimPrefix(rest, "~")[1:], "%d", &n)
		return rest[j+3 : j+3+n]
	}
	if strings.HasPrefix(rest, `""`) {
		return ""
	}
	return rest
}

func TestFetchSections(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver("ann", mpMsg)
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")

	for _, tc := range []struct{ item, label, want string }{
		{"BODY.PEEK[]<0.4>", "BODY[]<0>", "From"},
		{"BODY.PEEK[1]", "BODY[1]", "Caf=C3=A9 au lait, soft=\r\n break"},
		{"BODY.PEEK[1.MIME]", "BODY[1.MIME]", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"},
		{"BODY.PEEK[2]", "BODY[2]", "AAECAwQFBgcICQ=="},
		{"BODY.PEEK[3]", "BODY[3]", "From: Carol <carol@example.net>\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\ninner body"},
		{"BODY.PEEK[3.HEADER]", "BODY[3.HEADER]", "From: Carol <carol@example.net>\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\n"},
		{"BODY.PEEK[3.TEXT]", "BODY[3.TEXT]", "inner body"},
		{"BODY.PEEK[3.1]", "BODY[3.1]", "inner body"},
		{"BODY.PEEK[HEADER.FIELDS (subject FROM)]", `BODY[HEADER.FIELDS ("subject" "FROM")]`, "From: Ann <ann@example.com>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n"},
		{"BODY.PEEK[HEADER.FIELDS.NOT (To From Subject Date Message-ID In-Reply-To)]",
			`BODY[HEADER.FIELDS.NOT ("To" "From" "Subject" "Date" "Message-ID" "In-Reply-To")]`,
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"},
		{"BODY.PEEK[3.HEADER.FIELDS (Subject)]", `BODY[3.HEADER.FIELDS ("Subject")]`, "Subject: inner\r\n\r\n"},
		{"BODY.PEEK[TEXT]<0.8>", "BODY[TEXT]<0>", "preamble"},
		{"BODY.PEEK[1]<5.6>", "BODY[1]<5>", "3=A9 a"},
		{"BODY.PEEK[1]<1000.10>", "BODY[1]<1000>", ""},
		{"BODY.PEEK[9]", "BODY[9]", ""},
		{"BODY.PEEK[1.2]", "BODY[1.2]", ""},
		{"BINARY.PEEK[1]", "BINARY[1]", "Café au lait, soft break"},
		{"BINARY.PEEK[1]<0.4>", "BINARY[1]", "Caf\xc3"},
		{"BINARY.PEEK[2]", "BINARY[2]", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"},
		{"BINARY.PEEK[2]<8.100>", "BINARY[2]", "\x08\x09"},
	} {
		t.Run(tc.item, func(t *testing.T) {
			u := rc.ok("FETCH 1 (%s)", tc.item)
			if len(u) != 1 {
				t.Fatalf("untagged %q", u)
			}
			if got := fetchItem(t, u[0], tc.label); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.item, got, tc.want)
			}
		})
	}
	mustHave(t, rc.ok("FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.SIZE[3])"),
		"BINARY.SIZE[1] 25", "BINARY.SIZE[2] 10", "BINARY.SIZE[3] 87")

	// UID comes first; RFC822.SIZE is the stored size; dates in UTC.
	u := rc.ok("UID FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
	if !strings.HasPrefix(u[0], fmt.Sprintf("* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"")) ||
		!strings.Contains(u[0], fmt.Sprintf("RFC822.SIZE %d", len(mpMsg))) {
		t.Errorf("UID FETCH: %q", u[0])
	}
	// Nothing above set \Seen.
	mustHave(t, rc.ok("FETCH 1 FLAGS"), "FLAGS ()")

	// ENVELOPE and BODYSTRUCTURE, raw.
	env := rc.ok("FETCH 1 ENVELOPE")[0]
	for _, want := range []string{`"Tue, 03 Feb 2026 10:00:00 +0100"`, `"=?utf-8?q?Gr=C3=BC=C3=9Fe?="`,
		`(("Ann" NIL "ann" "example.com")) (("Ann" NIL "ann" "example.com")) (("Ann" NIL "ann" "example.com"))`,
		`((NIL NIL "bob" "example.org") ("Carl C." NIL "carl" "example.org"))`, `"<parent@example.com>" "<mp@example.com>"`} {
		if !strings.Contains(env, want) {
			t.Errorf("ENVELOPE lacks %s: %s", want, env)
		}
	}
	bs := rc.ok("FETCH 1 BODYSTRUCTURE")[0]
	for _, want := range []string{`("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 32 2 NIL NIL NIL NIL)`,
		`("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 16 NIL ("attachment" ("filename" "a.bin")) NIL NIL)`,
		`("message" "rfc822" NIL NIL NIL "7bit" 87 (NIL "inner" (("Carol" NIL "carol" "example.net"))`,
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1`, `"mixed" ("boundary" "XX") NIL NIL NIL)`} {
		if !strings.Contains(bs, want) {
			t.Errorf("BODYSTRUCTURE lacks %s:\n%s", want, bs)
		}
	}
	mustHave(t, rc.ok("FETCH 1 BODY"), `"mixed")`)

	// The same through go-imap's client, which parses the syntax.
	c := e.client("ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, UID: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.Envelope.Subject != "Grüße" || m.Envelope.MessageID != "mp@example.com" || len(m.Envelope.To) != 2 {
		t.Errorf("envelope %+v", m.Envelope)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 3 || mp.Children[2].MediaType() != "message/rfc822" {
		t.Fatalf("body structure %#v", m.BodyStructure)
	}
	if got := string(m.FindBodySection(&imap.FetchItemBodySection{Peek: true})); got != mpMsg {
		t.Errorf("BODY[] differs from the delivered message")
	}
}

// TestFetchSeen: BODY[] sets \Seen (and says so) in a SELECTed mailbox,
// never with .PEEK, never in an EXAMINEd one.
func TestFetchSeen(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := range 4 {
		e.deliver("ann", testMsg(fmt.Sprint("m", i), "body"))
	}
	rc := e.rawLogin("ann")
	rc.ok("EXAMINE INBOX")
	rc.ok("FETCH 1 BODY[]")
	rc.ok("FETCH 1 BINARY[1]")
	rc.ok("FETCH 1 RFC822")
	mustHave(t, rc.ok("FETCH 1 FLAGS"), "FLAGS ()")
	rc.ok("SELECT INBOX")
	rc.ok("FETCH 1 BODY.PEEK[]")
	mustHave(t, rc.ok("FETCH 1 FLAGS"), "FLAGS ()")
	u := rc.ok("FETCH 1 BODY[TEXT]")
	if len(u) != 1 || !strings.Contains(u[0], `FLAGS (\Seen)`) {
		t.Errorf("BODY[TEXT] on SELECT: %q", u)
	}
	u = rc.ok("FETCH 2 RFC822.TEXT")
	mustHave(t, u, `FLAGS (\Seen)`, "RFC822.TEXT {")
	u = rc.ok("UID FETCH 3 BINARY[1]")
	mustHave(t, u, `* 3 FETCH (UID 3 FLAGS (\Seen) BINARY[1] ~{`)
	mustHave(t, rc.ok("FETCH 1:4 FLAGS"), `* 1 FETCH (FLAGS (\Seen))`, `* 4 FETCH (FLAGS ())`)
	// Our own change is not echoed back by the next poll.
	if u := rc.ok("NOOP"); len(u) != 0 {
		t.Errorf("NOOP after own \\Seen: %q", u)
	}
}

// TestFetchMalformed: broken MIME never breaks the session.
func TestFetchMalformed(t *testing.T) {
	e := newEnv(t, envConfig{})
	msgs := []string{
		// multipart whose boundary never appears
		"Subject: no boundary\r\nContent-Type: multipart/mixed; boundary=\"nope\"\r\n\r\nhello\r\n",
		// multipart without a boundary parameter
		"Subject: no param\r\nContent-Type: multipart/alternative\r\n\r\nhello\r\n",
		// unknown transfer encoding, broken base64, garbage header lines
		"Subject: cte\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644\r\n",
		"Subject: b64\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!QUJD\r\nR\r\n",
		"garbage line without colon\r\n: empty name\r\nSubject: x\r\n\r\nbody",
		"", // empty message
		"no header at all, no blank line",
	}
	for _, m := range msgs {
		e.deliver("ann", m)
	}
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	rc.ok("FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE INTERNALDATE)")
	rc.ok("FETCH 1:* (BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[TEXT] BODY.PEEK[HEADER] BODY.PEEK[2.1.HEADER])")
	rc.ok("FETCH 1:2 (BINARY.PEEK[1] BINARY.SIZE[1])")
	rc.no("NO [UNKNOWN-CTE]", "FETCH 3 BINARY.PEEK[1]")
	mustHave(t, rc.ok("FETCH 4 BINARY.PEEK[1]"), "BINARY[1] ~{3}\r\nABC")
	rc.ok("FETCH 5:* (BINARY.PEEK[1] BINARY.SIZE[1])")
	mustHave(t, rc.ok("FETCH 1 BODYSTRUCTURE"), `("text" "plain"`)

	// go-imap's client parses every structure.
	c := e.client("ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5, 6, 7), &imap.FetchOptions{
		Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("fetch: %d messages, %v", len(got), err)
	}
	rc.ok("NOOP")
}

// TestAppendLarge: a 20 MB APPEND streams to disk; the heap does not grow
// by anything near the message size, and the message reads back intact.
func TestAppendLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large append")
	}
	e := newEnv(t, envConfig{})
	c := e.client("ann", nil)
	const size = 20 << 20
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\r\n"), size/66)
	head := []byte("Subject: big\r\nContent-Type: application/octet-stream\r\n\r\n")
	total := int64(len(head) + len(body))

	// A tight GC target makes the heap track live data, so buffering the
	// message anywhere would show as ~20 MiB of growth.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var before, peak runtimeStats
	before.read()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the heap while the literal streams
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				var s runtimeStats
				s.read()
				peak.max(s)
			}
		}
	}()
	cmd := c.Append("Archive", total, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Big"}})
	if _, err := io.Copy(cmd, io.MultiReader(bytes.NewReader(head), bytes.NewReader(body))); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Errorf("APPENDUID %+v", data)
	}
	// The client's own buffers (body is 20 MB already allocated before the
	// baseline) do not count; the server must not have held the message.
	if grow := int64(peak.heap) - int64(before.heap); grow > 8<<20 {
		t.Errorf("heap grew by %d MiB during a 20 MiB APPEND", grow>>20)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 1 || *st.Size != total {
		t.Fatalf("STATUS %+v %v", st, err)
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fc := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText, Peek: true}}})
	msg := fc.Next()
	var got int64
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch item := item.(type) {
		case imapclient.FetchItemDataBodySection:
			got, _ = io.Copy(io.Discard, item.Literal)
		case imapclient.FetchItemDataFlags:
			if len(item.Flags) != 2 {
				t.Errorf("flags %v", item.Flags)
			}
		}
	}
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	if got != int64(len(body)) {
		t.Errorf("BODY[TEXT] is %d bytes, want %d", got, len(body))
	}
}

// TestFetchInvalid: a sequence number 0 or beyond the mailbox, and
// sections the grammar does not allow, are BAD (not SERVERBUG, not OK with
// nothing), and never set \Seen.
func TestFetchInvalid(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver("ann", testMsg("one", "x"))
	e.deliver("ann", testMsg("two", "x"))
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	for _, cmd := range []string{
		"FETCH 0 FLAGS", "FETCH 0:1 BODY[]", "UID FETCH 0 FLAGS", "STORE 0 +FLAGS (\\Seen)", "COPY 0 Trash",
		"FETCH 3 BODY[]", "FETCH 3:4 BODY[]", "STORE 3 +FLAGS (\\Seen)", "COPY 3 Trash", "MOVE 3 Trash",
		"FETCH 1 BODY[0]", "FETCH 1 BODY[0.1]", "FETCH 1 BODY[1.0]", "FETCH 1 BINARY[0]",
		"FETCH 1 BINARY.SIZE[0]", "FETCH 1:2 (FLAGS BODY[0])",
	} {
		rc.no("BAD", "%s", cmd)
	}
	// Ranges ending beyond the mailbox and "*" are fine; UIDs are never BAD.
	mustHave(t, rc.ok("FETCH 2:9 (UID)"), "* 2 FETCH (UID 2)")
	rc.ok("UID FETCH 9 FLAGS")
	mustHave(t, rc.ok("FETCH 1:2 FLAGS"), `* 1 FETCH (FLAGS ())`, `* 2 FETCH (FLAGS ())`)
	mustHave(t, rc.ok("STATUS INBOX (UNSEEN)"), "UNSEEN 2")
}

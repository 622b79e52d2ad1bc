package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore"
)

func TestStoreCopyMoveExpunge(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 6; i++ {
		e.deliver("ann", testMsg(fmt.Sprint("msg ", i), "body"))
	}
	rc := e.rawLogin("ann")
	u := rc.ok("SELECT INBOX")
	mustHave(t, u, "* 6 EXISTS", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 7]", `* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)]`, "* OK [UNSEEN 1]")

	// STORE: +, -, replace, keywords, .SILENT; UID then FLAGS.
	mustHave(t, rc.ok(`STORE 1:2 +FLAGS (\Flagged $Label1)`),
		`* 1 FETCH (UID 1 FLAGS (\Flagged $Label1))`, `* 2 FETCH (UID 2 FLAGS (\Flagged $Label1))`)
	mustHave(t, rc.ok(`STORE 1 -FLAGS ($Label1)`), `* 1 FETCH (UID 1 FLAGS (\Flagged))`)
	mustHave(t, rc.ok(`UID STORE 2 FLAGS (\Answered)`), `* 2 FETCH (UID 2 FLAGS (\Answered))`)
	if u := rc.ok(`STORE 3 +FLAGS.SILENT (\Seen)`); len(u) != 0 {
		t.Errorf("STORE .SILENT answered %q", u)
	}
	mustHave(t, rc.ok("FETCH 1:3 FLAGS"), `* 3 FETCH (FLAGS (\Seen))`)
	rc.ok(`STORE * +FLAGS (\Recent)`) // \Recent cannot be set: ignored

	// COPY with COPYUID, TRYCREATE for a missing target.
	_, st := rc.cmd("COPY 1:2 Archive")
	if !strings.HasPrefix(st, "OK [COPYUID ") || !strings.Contains(st, " 1:2 1:2]") {
		t.Errorf("COPY: %q", st)
	}
	rc.no("NO [TRYCREATE]", "COPY 1 Nowhere")
	rc.no("NO [TRYCREATE]", "MOVE 1 Nowhere")
	mustHave(t, rc.ok("STATUS Archive (MESSAGES)"), "MESSAGES 2")

	// MOVE: COPYUID untagged, then EXPUNGE, before the tagged OK.
	u = rc.ok("MOVE 2 Trash")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* OK [COPYUID ") || u[1] != "* 2 EXPUNGE" {
		t.Errorf("MOVE: %q", u)
	}
	// Now UIDs 1,3,4,5,6 at seq 1..5. UID MOVE of the last two.
	u = rc.ok("UID MOVE 5:6 Trash")
	if len(u) != 3 || u[1] != "* 5 EXPUNGE" || u[2] != "* 4 EXPUNGE" {
		t.Errorf("UID MOVE: %q", u)
	}
	mustHave(t, rc.ok("STATUS Trash (MESSAGES)"), "MESSAGES 3")
	rc.ok("CHECK")

	// EXPUNGE and UID EXPUNGE (UIDs 1,3,4 at seq 1..3).
	rc.ok(`STORE 1:3 +FLAGS.SILENT (\Deleted)`)
	u = rc.ok("UID EXPUNGE 3")
	if len(u) != 1 || u[0] != "* 2 EXPUNGE" {
		t.Errorf("UID EXPUNGE: %q", u)
	}
	u = rc.ok("EXPUNGE")
	if len(u) != 2 || u[0] != "* 2 EXPUNGE" || u[1] != "* 1 EXPUNGE" {
		t.Errorf("EXPUNGE: %q", u)
	}
	mustHave(t, rc.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")

	// CLOSE expunges silently.
	rc.ok("SELECT Trash")
	rc.ok(`STORE 1 +FLAGS (\Deleted)`)
	if u := rc.ok("CLOSE"); len(u) != 0 {
		t.Errorf("CLOSE sent %q", u)
	}
	mustHave(t, rc.ok("STATUS Trash (MESSAGES)"), "MESSAGES 2")
	rc.no("BAD", "FETCH 1 FLAGS") // nothing selected

	// UNSELECT does not expunge.
	rc.ok("SELECT Trash")
	rc.ok(`STORE 1 +FLAGS (\Deleted)`)
	rc.ok("UNSELECT")
	mustHave(t, rc.ok("STATUS Trash (MESSAGES DELETED)"), "MESSAGES 2", "DELETED 1")

	// Flags persist across sessions.
	rc2 := e.rawLogin("ann")
	rc2.ok("SELECT Archive")
	mustHave(t, rc2.ok("FETCH 1:2 FLAGS"), `* 1 FETCH (FLAGS (\Flagged))`, `* 2 FETCH (FLAGS (\Answered))`)
}

// TestExamineReadOnly: nothing changes an EXAMINEd mailbox.
func TestExamineReadOnly(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 3; i++ {
		e.deliver("ann", testMsg(fmt.Sprint("m", i), "body"))
	}
	acct := e.account("ann")
	info, _ := acct.Mailbox(bg, "INBOX")
	if _, err := acct.ChangeFlags(bg, info.ID, []mailstore.UID{1, 2}, mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	rc := e.rawLogin("ann")
	_, st := rc.cmd("EXAMINE INBOX")
	if !strings.HasPrefix(st, "OK [READ-ONLY]") {
		t.Fatalf("EXAMINE: %q", st)
	}
	rc.no("NO [READ-ONLY]", `STORE 1 +FLAGS (\Seen)`)
	rc.no("NO [READ-ONLY]", `UID STORE 1 FLAGS ()`)
	rc.no("NO [READ-ONLY]", "EXPUNGE")
	rc.no("NO [READ-ONLY]", "UID EXPUNGE 1:*")
	rc.no("NO [READ-ONLY]", "MOVE 1 Trash")
	rc.ok("COPY 1 Trash") // copying out is reading
	rc.ok("FETCH 1:* (BODY[] BINARY[1])")
	rc.ok("CLOSE") // closes without expunging
	u := rc.ok("STATUS INBOX (MESSAGES UNSEEN DELETED)")
	mustHave(t, u, "MESSAGES 3", "UNSEEN 3", "DELETED 2")
	rc.ok("SELECT INBOX")
	mustHave(t, rc.ok("FETCH 1:3 FLAGS"), `* 1 FETCH (FLAGS (\Deleted))`, `* 3 FETCH (FLAGS ())`)
}

func TestAppendCommand(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	msg := testMsg("appended", "hi")
	tag := rc.send(`APPEND Drafts (\Draft $Todo) "05-Mar-2024 10:11:12 +0200" {%d}`, len(msg))
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("continuation: %q", l)
	}
	rc.write(msg + "\r\n")
	_, st := rc.wait(tag)
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.HasSuffix(strings.Fields(st)[3], "]") {
		t.Fatalf("APPEND: %q", st)
	}
	// LITERAL+ needs no continuation.
	rc.ok("APPEND Drafts {%d+}\r\n%s", len(msg), msg)
	rc.no("NO [TRYCREATE]", "APPEND Nowhere {%d+}\r\n%s", len(msg), msg)
	rc.ok("SELECT Drafts")
	u := rc.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
	mustHave(t, u, `FLAGS (\Draft $Todo)`, `INTERNALDATE " 5-Mar-2024 10:11:12 +0200"`, fmt.Sprintf("RFC822.SIZE %d", len(msg)))

	// APPEND to the selected mailbox reports EXISTS before the tagged OK.
	u = rc.ok("APPEND Drafts {%d+}\r\n%s", len(msg), msg)
	mustHave(t, u, "* 3 EXISTS")

	// Over the advertised limit: refused before the literal is sent.
	rc.no("NO [TOOBIG]", "APPEND Drafts {%d}", 1<<30)
	rc.ok("NOOP")

	c := e.client("bob", nil)
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	cmd.Write([]byte(msg))
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil || data.UID != 1 {
		t.Fatalf("client APPEND: %+v %v", data, err)
	}
}

// TestAppendLimits: the store's own size limit and the quota give TOOBIG
// and OVERQUOTA; the session carries on.
func TestAppendLimits(t *testing.T) {
	e := newEnv(t, envConfig{MaxMessage: 1000})
	rc := e.rawLogin("ann")
	big := testMsg("big", strings.Repeat("x", 2000))
	rc.no("NO [TOOBIG]", "APPEND INBOX {%d+}\r\n%s", len(big), big)
	if err := e.Store.SetQuota(bg, "ann", 500); err != nil {
		t.Fatal(err)
	}
	small := testMsg("small", strings.Repeat("y", 150))
	rc.ok("APPEND INBOX {%d+}\r\n%s", len(small), small)
	rc.no("NO [OVERQUOTA]", "APPEND INBOX {%d+}\r\n%s", len(small), small)
	rc.ok("SELECT INBOX")
	rc.no("NO [OVERQUOTA]", "COPY 1 Archive")
	mustHave(t, rc.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 1")
}

// TestStoreReplies: what the storing session and another one with the
// mailbox selected are told, step by step. A STORE answers every message
// in its set, changed or not (RFC 9051 §6.4.6), .SILENT none; the other
// session hears only of real changes, once; the storing session never
// hears its own changes again. Unchanged messages keep their MODSEQ. The
// replies are the same whether they are handed over at once or one by one.
func TestStoreReplies(t *testing.T) {
	for _, chunk := range []int{storeChunk, 40} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			defer func(c int) { storeChunk = c }(storeChunk)
			storeChunk = chunk
			testStoreReplies(t)
		})
	}
}

func testStoreReplies(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 4; i++ {
		e.deliver("ann", testMsg(fmt.Sprint("msg ", i), "body"))
	}
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	acct := e.account("ann")
	info, err := acct.Mailbox(bg, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	modseqs := func() map[mailstore.UID]uint64 {
		out := map[mailstore.UID]uint64{}
		err := acct.Fetch(bg, info.ID, nil, mailstore.FetchWant{}, func(m *mailstore.MessageMeta) error {
			out[m.UID] = m.ModSeq
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fetch := func(seq int, flags string) string {
		return fmt.Sprintf("* %d FETCH (UID %d FLAGS (%s))", seq, seq, flags)
	}
	steps := []struct {
		cmd       string
		storer    []string // A's untagged replies
		other     []string // what B's NOOP then reports
		unchanged []mailstore.UID
	}{
		{`STORE 1:2 +FLAGS (\Flagged)`, []string{fetch(1, `\Flagged`), fetch(2, `\Flagged`)},
			[]string{fetch(1, `\Flagged`), fetch(2, `\Flagged`)}, []mailstore.UID{3, 4}},
		{`STORE 1:4 +FLAGS (\Flagged)`,
			[]string{fetch(1, `\Flagged`), fetch(2, `\Flagged`), fetch(3, `\Flagged`), fetch(4, `\Flagged`)},
			[]string{fetch(3, `\Flagged`), fetch(4, `\Flagged`)}, []mailstore.UID{1, 2}},
		{`UID STORE 1:* +FLAGS (\Flagged)`,
			[]string{fetch(1, `\Flagged`), fetch(2, `\Flagged`), fetch(3, `\Flagged`), fetch(4, `\Flagged`)},
			nil, []mailstore.UID{1, 2, 3, 4}},
		{`STORE 1:4 +FLAGS.SILENT (\Flagged)`, nil, nil, []mailstore.UID{1, 2, 3, 4}},
		{`STORE 2:3 -FLAGS.SILENT (\Flagged)`, nil, []string{fetch(2, ``), fetch(3, ``)}, []mailstore.UID{1, 4}},
		{`STORE 1:4 -FLAGS (\Flagged $Work)`, []string{fetch(1, ``), fetch(2, ``), fetch(3, ``), fetch(4, ``)},
			[]string{fetch(1, ``), fetch(4, ``)}, []mailstore.UID{2, 3}},
		{`STORE 2 +FLAGS ($Work \Seen)`, []string{fetch(2, `\Seen $Work`)}, []string{fetch(2, `\Seen $Work`)}, []mailstore.UID{1, 3, 4}},
		{`STORE 1:2 +FLAGS ($work)`, []string{fetch(1, `$work`), fetch(2, `\Seen $Work`)}, []string{fetch(1, `$work`)}, []mailstore.UID{2, 3, 4}},
		{`STORE 1:4 FLAGS (\Seen)`, []string{fetch(1, `\Seen`), fetch(2, `\Seen`), fetch(3, `\Seen`), fetch(4, `\Seen`)},
			[]string{fetch(1, `\Seen`), fetch(2, `\Seen`), fetch(3, `\Seen`), fetch(4, `\Seen`)}, nil},
		{`STORE 3 FLAGS (\Seen)`, []string{fetch(3, `\Seen`)}, nil, []mailstore.UID{1, 2, 3, 4}},
	}
	for _, st := range steps {
		before := modseqs()
		if got := a.ok("%s", st.cmd); !slices.Equal(got, st.storer) {
			t.Errorf("%s: storer got %q, want %q", st.cmd, got, st.storer)
		}
		if got := a.ok("NOOP"); len(got) != 0 {
			t.Errorf("%s: storer's NOOP got %q", st.cmd, got)
		}
		if got := b.ok("NOOP"); !slices.Equal(got, st.other) {
			t.Errorf("%s: other session got %q, want %q", st.cmd, got, st.other)
		}
		after := modseqs()
		for uid := mailstore.UID(1); uid <= 4; uid++ {
			if same := after[uid] == before[uid]; same != slices.Contains(st.unchanged, uid) {
				t.Errorf("%s: MODSEQ of %d went from %d to %d", st.cmd, uid, before[uid], after[uid])
			}
		}
	}
}

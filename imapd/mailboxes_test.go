package imapd

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore"
)

func TestMailboxCommands(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")

	// CREATE, with parents, a trailing delimiter and CREATE-SPECIAL-USE.
	rc.ok("CREATE Projects/2026/")
	rc.ok(`CREATE "Old Stuff" (USE (\Archive))`)
	rc.no("NO [ALREADYEXISTS]", "CREATE Projects")
	rc.no("NO [ALREADYEXISTS]", "CREATE inbox")
	rc.no("NO [USEATTR]", `CREATE Weird (USE (\Important))`)
	rc.no("NO [USEATTR]", `CREATE Two (USE (\Sent \Trash))`)
	rc.no("NO [CANNOT]", `CREATE "a//b"`)

	list := rc.ok(`LIST "" "*"`)
	mustHave(t, list,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" "Projects"`,
		`* LIST (\HasNoChildren) "/" "Projects/2026"`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Archive) "/" "Old Stuff"`,
	)
	if n := len(list); n != 9 { // 6 defaults + Projects, Projects/2026, Old Stuff
		t.Errorf("LIST * gave %d mailboxes: %q", n, list)
	}
	top := rc.ok(`LIST "" "%%"`)
	if hasLine(top, "Projects/2026") || !hasLine(top, `"Projects"`) {
		t.Errorf(`LIST %% %q`, top)
	}
	mustHave(t, rc.ok(`LIST "Projects/" "%%"`), `"Projects/2026"`)
	// The reference is a prefix, concatenated as is (RFC 3501 §6.3.8).
	if u := rc.ok(`LIST "Arch" "*"`); len(u) != 1 || !strings.HasSuffix(u[0], `"/" "Archive"`) {
		t.Errorf(`LIST "Arch" "*": %q`, u)
	}
	if u := rc.ok(`LIST "Projects" "%%"`); len(u) != 1 || !strings.HasSuffix(u[0], `"/" "Projects"`) {
		t.Errorf(`LIST "Projects" "%%": %q`, u)
	}
	mustHave(t, rc.ok(`LIST "Projects" "/%%"`), `"Projects"`) // absolute: the reference is ignored
	mustHave(t, rc.ok(`LIST "inbox" ""`), `* LIST (\Noselect) "/" ""`)
	mustHave(t, rc.ok(`LIST "" "inbox"`), `* LIST (\HasNoChildren) "/" INBOX`)
	mustHave(t, rc.ok(`LIST "" ""`), `* LIST (\Noselect) "/" ""`)

	// SPECIAL-USE selection and LIST-STATUS.
	su := rc.ok(`LIST (SPECIAL-USE) "" "*"`)
	if len(su) != 6 || hasLine(su, "INBOX") {
		t.Errorf("LIST (SPECIAL-USE): %q", su)
	}
	e.deliver("ann", testMsg("one", "hello"))
	st := rc.ok(`LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE))`)
	mustHave(t, st, `* STATUS INBOX (MESSAGES 1 UNSEEN 1 SIZE `)

	// SUBSCRIBE, LSUB and LIST (SUBSCRIBED).
	rc.ok("SUBSCRIBE Projects/2026")
	lsub := rc.ok(`LSUB "" "*"`)
	mustHave(t, lsub, `* LSUB () "/" "Projects/2026"`, `* LSUB () "/" INBOX`)
	if hasLine(lsub, `"Projects"`) {
		t.Errorf("LSUB * lists unsubscribed Projects: %q", lsub)
	}
	mustHave(t, rc.ok(`LSUB "" "%%"`), `* LSUB (\Noselect) "/" "Projects"`)
	sub := rc.ok(`LIST (SUBSCRIBED) "" "*"`)
	mustHave(t, sub, `\Subscribed) "/" "Projects/2026"`)
	if hasLine(sub, `"Projects"`+"\n") || hasLine(sub, `"Old Stuff"`) {
		t.Errorf("LIST (SUBSCRIBED): %q", sub)
	}
	rec := rc.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%%"`)
	mustHave(t, rec, `"Projects" (CHILDINFO ("SUBSCRIBED"))`)
	mustHave(t, rc.ok(`LIST "" "*" RETURN (SUBSCRIBED)`), `\Subscribed) "/" "Projects/2026"`)
	rc.ok("UNSUBSCRIBE Projects/2026")
	if hasLine(rc.ok(`LSUB "" "*"`), "Projects") {
		t.Error("still subscribed after UNSUBSCRIBE")
	}
	rc.no("NO [NONEXISTENT]", "SUBSCRIBE Nowhere")

	// STATUS with every item, STATUS=SIZE, APPENDLIMIT.
	stat := rc.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE APPENDLIMIT DELETED-STORAGE RECENT)")
	mustHave(t, stat, "MESSAGES 1", "UIDNEXT 2", "UNSEEN 1", "DELETED 0", "APPENDLIMIT 67108864", "DELETED-STORAGE 0", "RECENT 0")
	rc.no("NO [NONEXISTENT]", "STATUS Nowhere (MESSAGES)")

	// NAMESPACE.
	mustHave(t, rc.ok("NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL`)

	// RENAME, with children, and INBOX (RFC 9051 §6.3.6).
	rc.ok("RENAME Projects Work")
	l := rc.ok(`LIST "" "*"`)
	mustHave(t, l, `"Work"`, `"Work/2026"`)
	if hasLine(l, "Projects") {
		t.Errorf("old name still listed: %q", l)
	}
	rc.no("NO [ALREADYEXISTS]", "RENAME Work Sent")
	rc.no("NO [NONEXISTENT]", "RENAME Nowhere Somewhere")
	rc.ok("RENAME INBOX Saved")
	mustHave(t, rc.ok("STATUS Saved (MESSAGES)"), "MESSAGES 1")
	mustHave(t, rc.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")

	// DELETE.
	rc.no("NO [HASCHILDREN]", "DELETE Work")
	rc.ok("DELETE Work/2026")
	rc.ok("DELETE Work")
	rc.no("NO [CANNOT]", "DELETE INBOX")
	rc.no("NO [NONEXISTENT]", "DELETE Work")
}

// TestMailboxNamesUTF8: non-ASCII names travel as modified UTF-7, or as
// UTF-8 once IMAP4rev2 is enabled, and are stored as UTF-8.
func TestMailboxNamesUTF8(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawLogin("ann")
	rc.ok(`CREATE "Entw&APw-rfe"`) // "Entwürfe" in modified UTF-7
	mustHave(t, rc.ok(`LIST "" "Entw*"`), `"Entw&APw-rfe"`)
	boxes, err := e.account("ann").Mailboxes(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(boxes, func(b mailstore.MailboxInfo) bool { return b.Name == "Entwürfe" }) {
		t.Errorf("stored names %v", boxes)
	}
	rc.ok("ENABLE IMAP4rev2")
	mustHave(t, rc.ok(`LIST "" "Entw*"`), `"Entwürfe"`)
	rc.ok(`SELECT "Entwürfe"`)

	// With go-imap's client.
	c := e.client("bob", nil)
	if err := c.Create("Ñandú/Çà", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Mailbox)
	}
	if !slices.Contains(names, "Ñandú/Çà") || !slices.Contains(names, "Ñandú") {
		t.Errorf("LIST names %q", names)
	}
	data, err := c.Status("Ñandú/Çà", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *data.NumMessages != 0 {
		t.Errorf("STATUS: %v %v", data, err)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a*c", "a/b/c", true},
		{"a%c", "a/b/c", false},
		{"a%c", "abc", true},
		{"INBOX", "INBOX", true},
		{"", "", true},
		{"x", "", false},
		{"*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 400), false},
	} {
		if got := matchPattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v", tc.pattern, tc.name, got)
		}
	}
	for _, tc := range []struct{ ref, pat, want string }{
		{"", "inbox", "INBOX"},
		{"", "Inbox/%", "INBOX/%"},
		{"", "inboxes", "inboxes"},
		{"Work", "%", "Work%"}, // concatenated as is (RFC 3501 §6.3.8)
		{"Work/", "%", "Work/%"},
		{"Arch", "*", "Arch*"},
		{"inbox", "/x", "x"},
		{"inbox", "", "INBOX"},
		{"Work", "/x", "x"},
	} {
		if got := canonPattern(tc.ref, tc.pat); got != tc.want {
			t.Errorf("canonPattern(%q, %q) = %q, want %q", tc.ref, tc.pat, got, tc.want)
		}
	}
}

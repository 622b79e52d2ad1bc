package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Markers that only bob's data contains; no reply to anyone else may
// ever show them.
const (
	bobBody  = "BOB-PRIVATE-BODY-7781"
	bobChild = "Qzchild" // bob has Secret/Qzchild; no probe names it
	annBody  = "ANN-APPENDED-1234"
)

// bobState is everything a client of bob's can see.
func bobState(t *testing.T, s *Server) string {
	t.Helper()
	c := s.LoginIMAPS(t, "bob", "bob-pw")
	defer c.Close()
	boxes, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, b := range boxes {
		st := b.Status
		fmt.Fprintf(&sb, "%s %v msgs=%d next=%d validity=%d unseen=%d size=%d\n", b.Mailbox, b.Attrs,
			*st.NumMessages, st.UIDNext, st.UIDValidity, *st.NumUnseen, *st.Size)
		bodies := Bodies(t, c, b.Mailbox)
		uids := make([]imap.UID, 0, len(bodies))
		for u := range bodies {
			uids = append(uids, u)
		}
		slices.Sort(uids)
		for _, u := range uids {
			fmt.Fprintf(&sb, "  %d %q\n", u, bodies[u])
		}
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range subs {
		fmt.Fprintf(&sb, "subscribed %s\n", b.Mailbox)
	}
	return sb.String()
}

// nameTricks are mailbox names that try to reach another user's mailbox
// NAME; %s is replaced by NAME. Names that are not printable ASCII go as
// literals.
var nameTricks = []string{
	"%s", "../bob/%s", "../../bob/%s", "..", "../bob", "bob/%s", "/bob/%s", "~bob/%s", "~bob",
	"#shared/bob/%s", "#user/bob/%s", "#public/%s", "#mh/%s", "Other Users/bob/%s", "Shared Folders/bob/%s",
	"INBOX/../../bob/%s", "./%s", "users/2/%s", "../2/%s", "2/%s",
	"&AC8-bob&AC8-%s",   // modified UTF-7 "/bob/NAME"
	"..&AC8-bob&AC8-%s", // "../bob/NAME", encoded
	"&AC4ALgAv-bob/%s",  // "../" encoded
	"&Jjo-%s", "&Jjo%s", // valid, then invalid (unterminated) modified UTF-7
	"&AC8%s", "&-%s", "&", // unterminated, the escaped "&", a lone "&"
	"bob%%/%s", "*/%s", // wildcards in a name
	strings.Repeat("x", 10240) + "/../bob/%s", // 10 KB, quoted
	// Sent as literals. imapserver rejects them while decoding (NO
	// [SERVERBUG]) and drops the connection at the next command, so they
	// get the short command list.
	"\xff\xfe/bob/%s", // invalid UTF-8
	"bob\x00/%s",      // NUL
	"bob\r\n/%s",      // CR LF
}

// A literal over 4 KiB outside APPEND is not tried: imapserver neither
// refuses it nor asks for it, and waits 30 s (reported).

// imapString quotes s, or makes it a synchronizing literal: a refused
// non-synchronizing literal would be run as commands by imapserver
// (reported), which would muddle the transcripts.
func imapString(s string) string {
	for _, r := range []byte(s) {
		if r < 0x20 || r > 0x7e {
			return litSync(s)
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// probe runs every trick with name over a connection from connect (logged
// in), reconnecting when the server drops it, and returns the transcript
// and how often it reconnected.
func probe(connect func() (*wireIMAP, error), name string) (out []string, lost int, err error) {
	c, err := connect()
	if err != nil {
		return nil, 0, err
	}
	defer func() { c.Close() }()
	run := func(cmd string) {
		if err != nil {
			return
		}
		u, st, derr := c.do(cmd)
		out = append(out, "C: "+cmd)
		if derr != nil {
			// imapserver drops the connection after some malformed names
			// (reported); that tells nothing about bob either way.
			out = append(out, "S: <connection lost>")
			c.Close()
			c, err = connect()
			lost++
			return
		}
		for _, l := range u {
			out = append(out, "S: "+l)
		}
		out = append(out, "S: "+st)
	}
	msg := "Subject: x\r\n\r\n" + annBody + "\r\n"
	for _, tr := range nameTricks {
		n := strings.ReplaceAll(tr, "%s", name)
		q := imapString(n)
		if strings.HasPrefix(q, "{") {
			for _, cmd := range []string{`LIST "" ` + q, `SELECT ` + q, `APPEND ` + q + ` ` + litSync(msg)} {
				run(cmd)
			}
			continue
		}
		for _, cmd := range []string{
			`LIST "" ` + q, `LIST "" ` + imapString(n+"/*"), `LIST ` + q + ` "*"`, `LIST ` + q + ` "%"`,
			`LSUB "" ` + q, `LIST (SUBSCRIBED) "" ` + q, `LIST "" ` + q + ` RETURN (STATUS (MESSAGES UIDNEXT))`,
			`STATUS ` + q + ` (MESSAGES UIDNEXT UNSEEN SIZE)`,
			`EXAMINE ` + q, `UNSELECT`,
			`SELECT ` + q, `UNSELECT`,
			`SUBSCRIBE ` + q, `UNSUBSCRIBE ` + q,
			`APPEND ` + q + ` ` + litSync(msg),
			`SELECT INBOX`, `COPY 1 ` + q, `UID COPY 1:* ` + q, `MOVE 2:* ` + q, `UNSELECT`,
			`RENAME ` + q + ` "mine"`, `RENAME "mine" ` + q, `DELETE "mine"`,
			`CREATE ` + q, `DELETE ` + q,
		} {
			run(cmd)
		}
	}
	run(`LIST "" "*"`)
	run(`LIST "" "%"`)
	run(`LSUB "" "*"`)
	run(`NAMESPACE`)
	return out, lost, err
}

var volatile = regexp.MustCompile(`(UIDVALIDITY|APPENDUID|COPYUID) \d+`)

// The mailstore keeps each user in its own database under a numeric
// directory, and mailbox names only inside it: no name trick can reach
// another user. This test tries anyway, over raw IMAPS, and checks that bob
// sees no change and that nothing tells an existing mailbox of bob's from a
// missing one.
func TestHardenIsolationIMAP(t *testing.T) {
	s := Start(t, Config{})
	for _, u := range []string{"bob", "ann", "eve"} {
		s.AddUser(u, u+"-pw")
	}
	bob := s.LoginIMAPS(t, "bob", "bob-pw")
	for _, mb := range []string{"Secret", "Secret/" + bobChild} {
		if err := bob.Create(mb, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Subscribe("Secret").Wait(); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"INBOX", "Secret", "Secret/" + bobChild} {
		for i := range 2 {
			body := fmt.Sprintf("Subject: %s %d\r\n\r\n%s\r\n", mb, i, bobBody)
			cmd := bob.Append(mb, int64(len(body)), nil)
			cmd.Write([]byte(body))
			cmd.Close()
			if _, err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	}
	bob.Close()
	before := bobState(t, s)

	// ann probes with bob's real mailbox name, eve with one bob does not
	// have (same length, so literal sizes match). Both start alike: one
	// message each in INBOX.
	// The two probe at once (each probe is mostly waiting for logins).
	transcripts := map[string][]string{}
	probers := []struct{ user, name string }{{"ann", "Secret"}, {"eve", "Nosuch"}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, who := range probers {
		connect := func() (*wireIMAP, error) {
			r, err := dialIMAP(userIP, s.IMAPS, s.TLSConfig())
			if err != nil {
				return nil, err
			}
			if _, st, err := r.do(fmt.Sprintf("LOGIN %s %s-pw", who.user, who.user)); err != nil || !strings.HasPrefix(st, "OK") {
				r.Close()
				return nil, fmt.Errorf("login %s: %q %v", who.user, st, err)
			}
			return r, nil
		}
		r, err := connect()
		if err != nil {
			t.Fatal(err)
		}
		msg := "Subject: own\r\n\r\nown message\r\n"
		r.mustDo(t, "APPEND INBOX "+lit(msg))
		r.mustDo(t, "APPEND INBOX "+lit(msg))
		r.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, lost, err := probe(connect, who.name)
			if err != nil {
				t.Errorf("%s: %v", who.user, err)
			}
			t.Logf("%s: the server dropped the connection %d times", who.user, lost)
			mu.Lock()
			transcripts[who.user] = tr
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, who := range probers {
		tr := transcripts[who.user]
		for i, l := range tr {
			l = strings.ReplaceAll(l, who.name, "<NAME>")
			tr[i] = volatile.ReplaceAllString(l, "$1 <n>")
		}
		transcripts[who.user] = tr
		text := strings.Join(tr, "\n")
		for _, secret := range []string{bobBody, bobChild} {
			if strings.Contains(text, secret) {
				t.Errorf("%s saw %q", who.user, secret)
			}
		}
	}
	a, e := transcripts["ann"], transcripts["eve"]
	if len(a) != len(e) {
		t.Fatalf("transcripts differ in length: %d vs %d lines", len(a), len(e))
	}
	diffs := 0
	for i := range a {
		if a[i] != e[i] {
			diffs++
			if diffs <= 10 {
				t.Errorf("reply depends on whether bob has the mailbox:\n  existing: %.300s\n  missing:  %.300s", a[i], e[i])
			}
		}
	}
	cmds, ok, no, bad := 0, 0, 0, 0
	for _, l := range a {
		switch {
		case strings.HasPrefix(l, "C: "):
			cmds++
		case strings.HasPrefix(l, "S: OK"):
			ok++
		case strings.HasPrefix(l, "S: NO"):
			no++
		case strings.HasPrefix(l, "S: BAD"):
			bad++
		}
	}
	t.Logf("%d name tricks, %d commands per probing user: %d OK (on the prober's own mailboxes), %d NO, %d BAD; replies identical for bob's existing and a missing name: %v",
		len(nameTricks), cmds, ok, no, bad, diffs == 0)
	if p := os.Getenv("SEALPOST_TRANSCRIPT"); p != "" {
		os.WriteFile(p, []byte(strings.Join(a, "\n")), 0o600)
	}

	if after := bobState(t, s); after != before {
		t.Errorf("bob's mailboxes changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if strings.Contains(before, annBody) {
		t.Errorf("ann's message reached bob")
	}
	t.Logf("bob's %d mailboxes and 6 messages unchanged", strings.Count(before, " msgs="))
	checkDataLayout(t, s.Data)
}

// checkDataLayout asserts that no file or directory name in the data dir
// comes from a user or mailbox name: users live under numeric IDs,
// message files under random hex names.
func checkDataLayout(t *testing.T, dir string) {
	t.Helper()
	ok := regexp.MustCompile(`^(users|\d+|mail\.db|global\.db|blobs|tmp|_|[0-9a-f]{2}|[0-9a-f]{24}|tls|cert\.pem|key\.pem|lmtp\.sock|control\.sock)$`)
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		n++
		if !ok.MatchString(d.Name()) {
			rel, _ := filepath.Rel(dir, p)
			t.Errorf("data dir entry %q is not an ID, hash or fixed name", rel)
		}
		return nil
	})
	t.Logf("data dir: %d entries, all numeric IDs, random hex names or fixed names", n)
}

// POP3 logins as variants of bob's name with ann's password all fail alike,
// and alike for a user that does not exist: no way in, no enumeration.
// Each attempt comes from its own address so the throttle stays out of the
// way (under 20 reach bob's account, so no account delay either).
func TestHardenIsolationPOP3(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("bob", "bob-pw")
	s.AddUser("ann", "ann-pw")
	if codes := lmtpSend(t, "tcp", s.LMTP, "x@example.org", []string{"bob@localhost"}, testMessage("bob", bobBody)); codes["bob@localhost"] != 250 {
		t.Fatalf("delivery: %v", codes)
	}
	// Each login costs a password hash (about a second in a race-enabled
	// build), so mechanisms alternate instead of multiplying.
	variants := []string{"%s", "%S", "%T@localhost", "%s@example.com", "%s+tag", "%s+tag@localhost",
		" %s ", "../%s", "users/%s", "%s\x00", "ann+%s", "\"%s\""}
	const pass = "ann-pw"
	// One goroutine per variant (bob and zed in parallel too): the password
	// checks run on all cores.
	var wg sync.WaitGroup
	replies := make([][2]string, len(variants))
	for vi, v := range variants {
		mech := []string{"USER/PASS", "AUTH PLAIN"}[vi%2]
		for i, name := range []string{"bob", "zed"} { // zed does not exist
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := strings.NewReplacer("%s", name, "%S", strings.ToUpper(name), "%T", strings.ToUpper(name[:1])+name[1:]).Replace(v)
				p, err := dialPOP3(fmt.Sprintf("127.0.1.%d", 1+2*vi+i), s.POP3S, s.TLSConfig())
				if err != nil {
					t.Error(err)
					return
				}
				defer p.Close()
				var st string
				if mech == "USER/PASS" {
					st, err = p.do("USER " + u)
					if err == nil && strings.HasPrefix(st, "+OK") {
						st, err = p.doTimeout("PASS "+pass, 30*time.Second)
					}
				} else {
					st, err = p.doTimeout("AUTH PLAIN "+saslPlain(u, pass), 30*time.Second)
				}
				if err != nil {
					t.Errorf("%s %q: %v", mech, u, err)
				}
				replies[vi][i] = st
				if !strings.HasPrefix(st, "-ERR") {
					t.Errorf("%s as %q with ann's password: %q, want -ERR", mech, u, st)
				}
			}()
		}
	}
	wg.Wait()
	tried := 2 * len(variants)
	for vi, r := range replies {
		if r[0] != r[1] {
			t.Errorf("variant %q: bob gets %q, a missing user %q", variants[vi], r[0], r[1])
		}
	}
	t.Logf("%d POP3 logins as variants of bob (and of a missing user) with ann's password: all refused, replies identical", tried)
	// bob's message is still there and only bob sees it.
	p, err := dialPOP3(userIP, s.POP3S, s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if st, _ := p.do("USER bob"); !strings.HasPrefix(st, "+OK") {
		t.Fatal(st)
	}
	if st, _ := p.do("PASS bob-pw"); !strings.HasPrefix(st, "+OK maildrop has 1 messages") {
		t.Errorf("bob's maildrop: %q", st)
	}
}

package imapd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sealpost/mailstore"
)

// TestIdleDelivery: a delivery reaches an IDLE-ing client within a second.
func TestIdleDelivery(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver("ann", testMsg("first", "x"))
	exists := make(chan uint32, 16)
	c := e.client("ann", &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		start := time.Now()
		e.deliver("ann", testMsg(fmt.Sprint("msg ", i), "x"))
		select {
		case n := <-exists:
			if n != uint32(i) {
				t.Errorf("EXISTS %d, want %d", n, i)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("EXISTS after %v", d)
			}
		case <-time.After(time.Second):
			t.Fatalf("no EXISTS within 1s of delivery %d", i)
		}
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleKeepalive: "* OK Still here" arrives every IdleKeepalive.
func TestIdleKeepalive(t *testing.T) {
	e := newEnv(t, envConfig{IdleKeepalive: 100 * time.Millisecond})
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	tag := rc.send("IDLE")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	for range 3 {
		if l := rc.line(); l != "* OK Still here" {
			t.Fatalf("keepalive: %q", l)
		}
	}
	e.deliver("ann", testMsg("during idle", "x"))
	for {
		l := rc.line()
		if l == "* 1 EXISTS" {
			break
		}
		if l != "* OK Still here" {
			t.Fatalf("unexpected %q", l)
		}
	}
	rc.write("DONE\r\n")
	if _, st := rc.wait(tag); !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
	// IDLE without a selected mailbox works too.
	rc.ok("UNSELECT")
	tag = rc.send("IDLE")
	rc.line()
	if l := rc.line(); l != "* OK Still here" {
		t.Fatalf("keepalive: %q", l)
	}
	rc.write("DONE\r\n")
	rc.wait(tag)
}

// TestKeepaliveNeverInterleaves: keepalives every millisecond never land
// inside another response: not after a line that ends IDLE with BAD (where
// imapserver returns before our Idle does) and a large FETCH follows, and
// not around the BYE of a shutdown.
func TestKeepaliveNeverInterleaves(t *testing.T) {
	e := newEnv(t, envConfig{IdleKeepalive: time.Millisecond})
	big := testMsg("big", strings.Repeat("0123456789abcdef\r\n", 20000))
	e.deliver("ann", big)
	rc := e.rawLogin("ann")
	rc.ok("SELECT INBOX")
	for range 5 {
		tag := rc.send("IDLE")
		rc.line()
		time.Sleep(5 * time.Millisecond)
		rc.write("NOT-DONE\r\n")
		fetch := rc.send("FETCH 1 BODY.PEEK[]")
		for {
			l := rc.line()
			if l == "* OK Still here" || strings.HasPrefix(l, tag+" BAD") {
				continue
			}
			if !strings.HasPrefix(l, "* 1 FETCH (BODY[] {") || !strings.HasSuffix(l, ")") || !strings.Contains(l, "\r\n"+big+")") {
				t.Fatalf("FETCH after IDLE: %.200q", l)
			}
			break
		}
		if _, st := rc.wait(fetch); !strings.HasPrefix(st, "OK") {
			t.Fatalf("FETCH: %q", st)
		}
	}
	rc.send("IDLE")
	rc.line()
	time.Sleep(5 * time.Millisecond)
	go e.Srv.Shutdown(bg)
	for {
		l := rc.line()
		if strings.HasPrefix(l, "* BYE") {
			break
		}
		if l != "* OK Still here" {
			t.Fatalf("during shutdown: %q", l)
		}
	}
}

// TestTwoSessions: each session sees the other's changes with its own,
// consistent sequence numbers.
func TestTwoSessions(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 5; i++ {
		e.deliver("ann", testMsg(fmt.Sprint("m", i), "x"))
	}
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	a.ok(`STORE 2 +FLAGS (\Flagged)`)
	u := b.ok("NOOP")
	if len(u) != 1 || u[0] != `* 2 FETCH (UID 2 FLAGS (\Flagged))` {
		t.Errorf("B after A's STORE: %q", u)
	}
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Errorf("A sees its own STORE echoed: %q", u)
	}

	// A expunges 2 and 4; B, mid-FETCH, must not see EXPUNGE yet.
	a.ok(`STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	u = a.ok("EXPUNGE")
	if len(u) != 2 || u[0] != "* 4 EXPUNGE" || u[1] != "* 2 EXPUNGE" {
		t.Errorf("A EXPUNGE: %q", u)
	}
	u = b.ok("FETCH 1:5 (UID)")
	if hasLine(u, "EXPUNGE") {
		t.Errorf("EXPUNGE during FETCH: %q", u)
	}
	// B still numbers 5 messages; message 5 is UID 5.
	mustHave(t, b.ok("FETCH 5 (UID)"), "* 5 FETCH (UID 5)")
	u = b.ok("NOOP")
	if !slices.Equal(u, []string{"* 4 EXPUNGE", "* 2 EXPUNGE"}) {
		t.Errorf("B NOOP: %q", u)
	}
	mustHave(t, b.ok("FETCH 3 (UID)"), "* 3 FETCH (UID 5)")

	// A new message, then a flag change on it, then its expunge: B, which
	// never heard of it, hears nothing about it.
	uid := e.deliver("ann", testMsg("short-lived", "x"))
	acct := e.account("ann")
	info, _ := acct.Mailbox(bg, "INBOX")
	acct.ChangeFlags(bg, info.ID, []mailstore.UID{uid}, mailstore.FlagsAdd, []string{`\Deleted`})
	acct.Expunge(bg, info.ID, []mailstore.UID{uid})
	if u := b.ok("NOOP"); len(u) != 0 {
		t.Errorf("B hears of a message it never saw: %q", u)
	}
	e.deliver("ann", testMsg("m7", "x"))
	mustHave(t, b.ok("NOOP"), "* 4 EXISTS")
	// SEARCH covers A's view; the new message is announced after it.
	if u := a.ok("UID SEARCH ALL"); !slices.Equal(u, []string{"* SEARCH 1 3 5", "* 4 EXISTS"}) {
		t.Errorf("A UID SEARCH: %q", u)
	}
	mustHave(t, a.ok("UID SEARCH ALL"), "* SEARCH 1 3 5 7")
}

// TestSelectedMailboxDeleted: deleting the selected mailbox empties the view.
func TestSelectedMailboxDeleted(t *testing.T) {
	e := newEnv(t, envConfig{})
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	a.ok("CREATE Doomed")
	msg := testMsg("x", "y")
	a.ok("APPEND Doomed {%d+}\r\n%s", len(msg), msg)
	a.ok("APPEND Doomed {%d+}\r\n%s", len(msg), msg)
	b.ok("SELECT Doomed")
	a.ok("DELETE Doomed")
	// Before B has heard of it: the source is gone, creating the
	// destination would not help (no TRYCREATE).
	b.no("NO [NONEXISTENT]", "COPY 1 INBOX")
	b.no("NO [NONEXISTENT]", "MOVE 1 INBOX")
	b.no("NO [NONEXISTENT]", `STORE 1 +FLAGS (\Seen)`)
	b.no("NO [NONEXISTENT]", "EXPUNGE")
	mustHave(t, a.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")
	u := b.ok("NOOP")
	if !slices.Equal(u, []string{"* 2 EXPUNGE", "* 1 EXPUNGE"}) {
		t.Errorf("after DELETE: %q", u)
	}
	b.ok("FETCH 1:* FLAGS")
	b.ok("CLOSE")
}

// TestEventQueueBounded: a selected session that does not poll while the
// mailbox changes a lot keeps at most queueLimit events, and is then ended
// with BYE at its next command; a session that polls is not affected.
func TestEventQueueBounded(t *testing.T) {
	e := newEnv(t, envConfig{QueueLimit: 20})
	idle, busy := e.rawLogin("ann"), e.rawLogin("ann")
	idle.ok("SELECT INBOX")
	busy.ok("SELECT INBOX")
	for i := range 30 {
		e.deliver("ann", testMsg(fmt.Sprint("m", i), "x"))
		if i%10 == 9 {
			mustHave(t, busy.ok("NOOP"), fmt.Sprintf("* %d EXISTS", i+1))
		}
	}
	e.Srv.mu.Lock()
	for c := range e.Srv.conns {
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if v := sess.selected(); v != nil {
			v.qmu.Lock()
			if len(v.queue) > 20 {
				t.Errorf("queue holds %d events", len(v.queue))
			}
			v.qmu.Unlock()
		}
	}
	e.Srv.mu.Unlock()
	tag := idle.send("NOOP")
	lines, closed := idle.readUntil(tag)
	if !closed || !hasLine(lines, "* BYE") || hasLine(lines, tag+" OK") {
		t.Errorf("overflowed session: %q (closed %v), want BYE and close", lines, closed)
	}
	mustHave(t, busy.ok("FETCH 30 (UID)"), "* 30 FETCH (UID 30)")
}

// TestStress runs sessions, deliveries, flag changes and expunges
// concurrently (under -race in CI), then checks that every session's view
// equals the store's.
func TestStress(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := range 20 {
		e.deliver("ann", testMsg(fmt.Sprint("seed ", i), "x"))
	}
	const sessions = 4
	duration := 3 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	stop := make(chan struct{})
	time.AfterFunc(duration, func() { close(stop) })
	var wg sync.WaitGroup
	// Deliveries, from two sources at once.
	for d := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.deliver("ann", testMsg(fmt.Sprint("stress ", d, i), "x"))
			}
		})
	}
	var ops atomic.Int64
	views := make([]*sessionView, sessions)
	for s := range sessions {
		v := &sessionView{}
		v.mu.Lock() // the handler waits until v.c is set
		v.c = e.client("ann", v.handler())
		v.mu.Unlock()
		if _, err := v.c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		views[s] = v
	}
	for s, v := range views {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := v.step(rng); err != nil {
					t.Errorf("session %d: %v", s, err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()

	// Settle: every session polls, then compares with the store.
	acct := e.account("ann")
	info, _ := acct.Mailbox(bg, "INBOX")
	snap, err := acct.Snapshot(bg, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	for s, v := range views {
		if err := v.c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		got, err := v.uids()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, snap.UIDs) {
			t.Errorf("session %d: view has %d UIDs, store %d\n%v\n%v", s, len(got), len(snap.UIDs), got, snap.UIDs)
		}
		if n := v.count(); n != uint32(len(snap.UIDs)) {
			t.Errorf("session %d: client counts %d messages, store has %d", s, n, len(snap.UIDs))
		}
		if len(v.errs) > 0 {
			t.Errorf("session %d: %q", s, v.errs)
		}
	}
	t.Logf("%d session commands, %d messages at the end", ops.Load(), len(snap.UIDs))
}

// sessionView drives one client. The client keeps the message count
// (SELECT, EXISTS, EXPUNGE); the handler checks every unsolicited EXPUNGE
// names a message that exists.
type sessionView struct {
	c    *imapclient.Client
	mu   sync.Mutex
	errs []string
}

func (v *sessionView) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			v.mu.Lock()
			defer v.mu.Unlock()
			// The client has already decremented its count.
			if n := v.c.Mailbox().NumMessages; seq == 0 || seq > n+1 {
				v.errs = append(v.errs, fmt.Sprintf("EXPUNGE %d with %d messages", seq, n+1))
			}
		},
	}
}

func (v *sessionView) count() uint32 {
	if mb := v.c.Mailbox(); mb != nil {
		return mb.NumMessages
	}
	return 0
}

func (v *sessionView) uids() ([]mailstore.UID, error) {
	msgs, err := v.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		return nil, err
	}
	var out []mailstore.UID
	for _, m := range msgs {
		out = append(out, mailstore.UID(m.UID))
	}
	return out, nil
}

// step is one random action: flag, expunge, fetch, search or idle.
func (v *sessionView) step(rng *rand.Rand) error {
	n := v.count()
	if n == 0 {
		return v.c.Noop().Wait()
	}
	seq := uint32(rng.IntN(int(n))) + 1
	set := imap.SeqSetNum(seq)
	switch rng.IntN(7) {
	case 6:
		_, err := v.c.Move(set, "Archive").Wait()
		return err
	case 0:
		return v.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	case 1:
		return v.c.Expunge().Close()
	case 2:
		return v.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	case 3:
		_, err := v.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return err
		}
		_, err = v.c.Fetch(set, &imap.FetchOptions{UID: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}, {Specifier: imap.PartSpecifierHeader}}}).Collect()
		return err
	case 4:
		_, err := v.c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		return err
	default:
		idle, err := v.c.Idle()
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		if err := idle.Close(); err != nil {
			return err
		}
		return idle.Wait()
	}
}

// TestThunderbirdLike: several connections as Thunderbird opens them; one
// IDLEs on INBOX while another moves a message to Trash and expunges, then
// a delivery arrives.
func TestThunderbirdLike(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 3; i++ {
		e.deliver("ann", testMsg(fmt.Sprint("tb ", i), "hello"))
	}
	// The idler is a raw client: imapclient hands unilateral FETCH data
	// to its handler on a goroutine of its own, so the order the server
	// sent things in would be lost.
	idler := e.rawLogin("ann")
	worker := e.client("ann", nil)
	third := e.client("ann", nil)
	if _, err := third.Status("Trash", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	idler.ok("SELECT INBOX")
	idleTag := idler.send("IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	if _, err := worker.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect(); err != nil {
		t.Fatal(err)
	}
	// Read message 1 (sets \Seen), move message 2 to Trash.
	if _, err := worker.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	md, err := worker.Move(imap.UIDSetNum(2), "Trash").Wait()
	if err != nil || md.DestUIDs.String() != "1" {
		t.Fatalf("MOVE: %+v %v", md, err)
	}
	// Delete message 1 the old way: flag, expunge.
	if err := worker.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	e.deliver("ann", testMsg("tb new", "fresh"))
	want := []string{`* 1 FETCH (UID 1 FLAGS (\Seen))`, "* 2 EXPUNGE", `* 1 FETCH (UID 1 FLAGS (\Seen \Deleted))`, "* 1 EXPUNGE", "* 2 EXISTS"}
	var got []string
	for len(got) < len(want) {
		got = append(got, idler.line()) // fails after 10 s without a line
	}
	if !slices.Equal(got, want) {
		t.Fatalf("IDLE client saw %q, want %q", got, want)
	}
	idler.write("DONE\r\n")
	if u, st := idler.wait(idleTag); len(u) != 0 || !strings.HasPrefix(st, "OK") {
		t.Fatalf("end of IDLE: %q %s", u, st)
	}
	// The idler's numbering: 1 is the old message 3, 2 the new one.
	u := idler.ok("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if len(u) != 2 || !strings.Contains(u[0], "Subject: tb 3") || !strings.Contains(u[1], "Subject: tb new") {
		t.Fatalf("after the dust settles: %q", u)
	}
	st, err := third.Status("Trash", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("Trash: %+v %v", st, err)
	}
}

// TestRenameSelectedInbox: a session with INBOX selected sees INBOX empty
// after another session renames it (its messages moved away).
func TestRenameSelectedInbox(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver("ann", testMsg("a", "x"))
	e.deliver("ann", testMsg("b", "x"))
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	b.ok("SELECT INBOX")
	a.ok("RENAME INBOX Old")
	a.ok("APPEND Old {6+}\r\nx: y\r\n") // later changes to Old are not INBOX's
	u := b.ok("NOOP")
	if !slices.Equal(u, []string{"* 2 EXPUNGE", "* 1 EXPUNGE"}) {
		t.Errorf("after RENAME INBOX: %q", u)
	}
	mustHave(t, a.ok("STATUS Old (MESSAGES)"), "MESSAGES 3")
}

// TestSilentStoreKeepsOthersChanges: a .SILENT STORE right after another
// session's change (no NOOP between) must not swallow that change.
func TestSilentStoreKeepsOthersChanges(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver("ann", testMsg("m1", "x"))
	e.deliver("ann", testMsg("m2", "x"))
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	// The reviewer's case: A's silent STORE changes nothing. B's change is
	// reported after A's STORE (any command's end will do) or at its NOOP.
	b.ok(`STORE 1 +FLAGS (\Seen \Flagged)`)
	u := append(a.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`), a.ok("NOOP")...)
	if !slices.Equal(u, []string{`* 1 FETCH (UID 1 FLAGS (\Seen \Flagged))`}) {
		t.Errorf("A after B's STORE and its own silent one: %q", u)
	}

	// A's silent STORE changes the message too: A hears the final state.
	b.ok(`STORE 2 +FLAGS (\Seen)`)
	u = append(a.ok(`STORE 2 +FLAGS.SILENT ($Work)`), a.ok("NOOP")...)
	if !slices.Equal(u, []string{`* 2 FETCH (UID 2 FLAGS (\Seen $Work))`}) {
		t.Errorf("A after both changed message 2: %q", u)
	}
	// And nothing is echoed twice.
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Errorf("second NOOP: %q", u)
	}
	mustHave(t, b.ok("NOOP"), `* 2 FETCH (UID 2 FLAGS (\Seen $Work))`)
}

// TestRenameSelectedInboxFollowsNewInbox: the reviewer's repro. After
// another session renames INBOX away, the session that selected INBOX sees
// its messages expunged, never touches the renamed mailbox again (EXPUNGE,
// STORE, FETCH BODY[] even before its next NOOP), and follows the new
// INBOX: deliveries show up as EXISTS, with UIDs above the old ones under
// the same UIDVALIDITY.
func TestRenameSelectedInboxFollowsNewInbox(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := range 4 {
		e.deliver("ann", testMsg(fmt.Sprint("m", i), "x"))
	}
	a, b := e.rawLogin("ann"), e.rawLogin("ann")
	sel := b.ok("SELECT INBOX")
	mustHave(t, sel, "* 4 EXISTS")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	a.ok("RENAME INBOX OldInbox")
	if u := b.ok("NOOP"); !slices.Equal(u, []string{"* 4 EXPUNGE", "* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE"}) {
		t.Errorf("NOOP after RENAME INBOX: %q", u)
	}
	b.ok("EXPUNGE")
	mustHave(t, a.ok("STATUS OldInbox (MESSAGES DELETED)"), "MESSAGES 4 DELETED 1")

	uid := e.deliver("ann", testMsg("new", "x"))
	if uid != 5 {
		t.Errorf("first UID of the new INBOX: %d, want 5", uid)
	}
	mustHave(t, b.ok("NOOP"), "* 1 EXISTS")
	mustHave(t, b.ok("FETCH 1 (UID FLAGS)"), `* 1 FETCH (UID 5 FLAGS ())`)
	st := a.ok("STATUS INBOX (UIDVALIDITY)")
	if uv := strings.Fields(strings.Trim(st[0], "()"))[4]; !hasLine(sel, "[UIDVALIDITY "+uv+"]") {
		t.Errorf("new INBOX UIDVALIDITY %s, selected %q", uv, sel)
	}

	// Commands sent before the next NOOP act on the new INBOX only.
	a.ok("RENAME INBOX Old2")
	u := b.ok(`STORE 1 +FLAGS (\Flagged)`)
	u = append(u, b.ok("FETCH 1 BODY[]")...)
	if hasLine(u, "FETCH (") {
		t.Errorf("STORE/FETCH on a message renamed away: %q", u)
	}
	mustHave(t, a.ok("STATUS Old2 (MESSAGES UNSEEN)"), "MESSAGES 1 UNSEEN 1")
	a.ok("SELECT Old2")
	mustHave(t, a.ok("FETCH 1 FLAGS"), `* 1 FETCH (FLAGS ())`)
	mustHave(t, b.ok("NOOP"), "* 1 EXPUNGE")

	// IDLE on the new INBOX gets the next delivery.
	tag := b.send("IDLE")
	if l := b.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	e.deliver("ann", testMsg("newer", "x"))
	if l := b.line(); l != "* 1 EXISTS" {
		t.Errorf("during IDLE: %q", l)
	}
	b.write("DONE\r\n")
	b.wait(tag)
}

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of what several sessions see of each other, and what survives a
// restart. The sessions are transcript clients that keep the model a
// client must keep (sequence number → UID, UID → flags) and apply every
// untagged response in order, so any EXISTS, EXPUNGE or FETCH that does
// not fit the session's numbering fails the test where it arrives.

// tbSession is one Thunderbird-like connection with its mailbox model.
type tbSession struct {
	name string
	w    *wireIMAP

	mu    sync.Mutex
	uids  []uint32          // sequence number n is uids[n-1]; 0: announced by EXISTS, UID not fetched yet
	flags map[uint32]string // UID → sorted flags
	errs  []string          // inconsistencies seen
	idle  chan struct{}     // closed when the IDLE reader stops
	idleT string            // tag of the running IDLE
}

var (
	reExists  = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	reExpunge = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)
	reFetch   = regexp.MustCompile(`(?s)^\* (\d+) FETCH \((.*)\)$`)
	reUID     = regexp.MustCompile(`(?:^|[ (])UID (\d+)`)
	reFlags   = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
)

func (s *tbSession) fail(format string, args ...any) {
	s.errs = append(s.errs, s.name+": "+fmt.Sprintf(format, args...))
}

// apply updates the model with one untagged response.
func (s *tbSession) apply(l string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := reExists.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < len(s.uids) {
			s.fail("%q shrinks the mailbox from %d without EXPUNGE", l, len(s.uids))
			return
		}
		for len(s.uids) < n {
			s.uids = append(s.uids, 0)
		}
		return
	}
	if m := reExpunge.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > len(s.uids) {
			s.fail("%q with %d messages", l, len(s.uids))
			return
		}
		delete(s.flags, s.uids[n-1])
		s.uids = slices.Delete(s.uids, n-1, n)
		return
	}
	m := reFetch.FindStringSubmatch(l)
	if m == nil {
		return
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(s.uids) {
		s.fail("%q with %d messages", l, len(s.uids))
		return
	}
	uid := s.uids[n-1]
	if um := reUID.FindStringSubmatch(m[2]); um != nil {
		u, _ := strconv.Atoi(um[1])
		if uid != 0 && uid != uint32(u) {
			s.fail("%q: sequence %d is UID %d here", l, n, uid)
			return
		}
		uid = uint32(u)
		s.uids[n-1] = uid
	}
	if fm := reFlags.FindStringSubmatch(m[2]); fm != nil {
		if uid == 0 {
			s.fail("%q: FLAGS for a message whose UID the client does not know", l)
			return
		}
		s.flags[uid] = normFlags(strings.Fields(fm[1]))
	}
}

// cmd runs a command and applies its untagged responses.
func (s *tbSession) cmd(t *testing.T, format string, args ...any) string {
	t.Helper()
	tagged, untagged := s.w.cmd(format, args...)
	for _, l := range untagged {
		s.apply(l)
	}
	return tagged
}

func (s *tbSession) ok(t *testing.T, format string, args ...any) {
	t.Helper()
	if tagged := s.cmd(t, format, args...); !statusOK(tagged) {
		t.Fatalf("%s: %s: %s", s.name, fmt.Sprintf(format, args...), tagged)
	}
}

// sync is what a client does to catch up: NOOP, then fetch UID and flags
// of the messages EXISTS announced.
func (s *tbSession) sync(t *testing.T) {
	t.Helper()
	s.ok(t, "NOOP")
	s.mu.Lock()
	first := slices.Index(s.uids, 0)
	s.mu.Unlock()
	if first >= 0 {
		s.ok(t, "FETCH %d:* (UID FLAGS)", first+1)
	}
}

// startIdle enters IDLE; a goroutine applies what arrives until stopIdle.
func (s *tbSession) startIdle(t *testing.T) {
	t.Helper()
	s.idleT = s.w.nextTag()
	s.w.send(s.idleT + " IDLE\r\n")
	if l := s.w.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("%s: IDLE: %q", s.name, l)
	}
	s.idle = make(chan struct{})
	go func() {
		defer close(s.idle)
		for {
			l, err := s.w.tryReadLine()
			l = strings.TrimSuffix(l, "\r\n")
			if err != nil {
				s.mu.Lock()
				s.fail("reading during IDLE: %v", err)
				s.mu.Unlock()
				return
			}
			if strings.HasPrefix(l, s.idleT+" ") {
				if !statusOK(l) {
					s.mu.Lock()
					s.fail("IDLE ended with %q", l)
					s.mu.Unlock()
				}
				return
			}
			s.apply(l)
		}
	}()
}

func (s *tbSession) stopIdle(t *testing.T) {
	t.Helper()
	s.w.send("DONE\r\n")
	select {
	case <-s.idle:
	case <-time.After(wireTimeout):
		t.Fatalf("%s: no IDLE completion after DONE", s.name)
	}
}

// waitFor polls the model (for an IDLE session) until cond holds.
func (s *tbSession) waitFor(d time.Duration, cond func(uids []uint32, flags map[uint32]string) bool) bool {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		ok := cond(s.uids, s.flags)
		s.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// check compares the model with the truth and reports inconsistencies.
func (s *tbSession) check(t *testing.T, uids []uint32, flags map[uint32]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error(e)
	}
	s.errs = nil
	if !slices.Equal(s.uids, uids) {
		t.Errorf("%s sees UIDs %v, the mailbox holds %v", s.name, s.uids, uids)
		return
	}
	for _, u := range uids {
		if s.flags[u] != flags[u] {
			t.Errorf("%s sees UID %d with flags (%s), the store has (%s)", s.name, u, s.flags[u], flags[u])
		}
	}
}

// openTB logs in, selects mailbox and fetches the initial state.
func openTB(t *testing.T, s *Server, name, user, pass, mailbox string) *tbSession {
	t.Helper()
	w := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
	w.ok("LOGIN %s %s", user, pass)
	tb := &tbSession{name: name, w: w, flags: map[uint32]string{}}
	tb.ok(t, "SELECT %s", mailbox)
	tb.ok(t, "UID FETCH 1:* (UID FLAGS)")
	return tb
}

// truthReader reads the store's current state of a mailbox: every
// EXAMINE starts a fresh view, with nothing left over from earlier ones.
type truthReader struct{ w *wireIMAP }

func (r truthReader) read(t *testing.T, mailbox string) ([]uint32, map[uint32]string) {
	t.Helper()
	tb := &tbSession{name: "truth", w: r.w, flags: map[uint32]string{}}
	tb.ok(t, "EXAMINE %s", mailbox)
	tb.ok(t, "UID FETCH 1:* (UID FLAGS)")
	return tb.uids, tb.flags
}

// TestIMAPThunderbirdSequence: five connections and one in IDLE on the
// same account, as Thunderbird keeps them; MOVE to Trash in one, EXPUNGE
// in another, flag changes and LMTP deliveries. Every session must see a
// numbering consistent with its own history, end at the store's state,
// and the IDLE one must hear about the delivery within a second.
func TestIMAPThunderbirdSequence(t *testing.T) {
	s := Start(t, Config{})
	const user, pass = "tb", "tb-password"
	s.AddUser(user, pass)
	for i := range 6 {
		deliver(t, s, "tb@example.com", testMessage(fmt.Sprintf("tb %d", i+1), "body"))
	}
	names := []string{"s1", "s2", "s3", "s4"}
	var inbox []*tbSession
	for _, n := range names {
		inbox = append(inbox, openTB(t, s, n, user, pass, "INBOX"))
	}
	trash := openTB(t, s, "trash", user, pass, "Trash")
	idler := openTB(t, s, "idle", user, pass, "INBOX")
	all := append(slices.Clone(inbox), idler)
	tw := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
	tw.ok("LOGIN %s %s", user, pass)
	truth := truthReader{tw}.read
	if len(idler.uids) != 6 {
		t.Fatalf("initial INBOX: %v", idler.uids)
	}

	t.Run("sequential", func(t *testing.T) {
		idler.startIdle(t)
		inbox[0].ok(t, `UID STORE 1:2 +FLAGS (\Seen)`)
		inbox[1].ok(t, "UID MOVE 3 Trash")
		inbox[2].ok(t, `UID STORE 4 +FLAGS (\Deleted)`)
		inbox[2].ok(t, "EXPUNGE")
		if !idler.waitFor(2*time.Second, func(uids []uint32, _ map[uint32]string) bool { return len(uids) == 4 }) {
			t.Errorf("IDLE session did not see MOVE and EXPUNGE: %v", idler.uids)
		}
		start := time.Now()
		deliver(t, s, "tb@example.com", testMessage("tb 7", "new while idling"))
		if !idler.waitFor(time.Second, func(uids []uint32, _ map[uint32]string) bool { return len(uids) == 5 }) {
			t.Errorf("IDLE session did not see the delivery within 1 s of the LMTP transaction")
		} else {
			t.Logf("IDLE saw the LMTP delivery after %v", time.Since(start))
		}
		inbox[3].ok(t, `UID STORE 5 +FLAGS ($label1)`)
		want := map[uint32]string{1: `\Seen`, 2: `\Seen`, 5: "$label1", 6: ""}
		ok := idler.waitFor(2*time.Second, func(uids []uint32, flags map[uint32]string) bool {
			for u, f := range want {
				if flags[u] != f || !slices.Contains(uids, u) {
					return false
				}
			}
			return len(uids) == 5
		})
		if !ok {
			t.Errorf("IDLE session did not converge: %v %v", idler.uids, idler.flags)
		}
		idler.stopIdle(t)
		uids, flags := truth(t, "INBOX")
		if !slices.Equal(uids, []uint32{1, 2, 5, 6, 7}) {
			t.Fatalf("INBOX holds %v", uids)
		}
		for _, tb := range all {
			tb.sync(t)
			tb.check(t, uids, flags)
		}
		trash.sync(t)
		tuids, tflags := truth(t, "Trash")
		trash.check(t, tuids, tflags)
		if len(tuids) != 1 {
			t.Errorf("Trash holds %v", tuids)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		idler.startIdle(t)
		var wg sync.WaitGroup
		run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
		uidsOf := func(tb *tbSession) []uint32 {
			tb.mu.Lock()
			defer tb.mu.Unlock()
			var out []uint32
			for _, u := range tb.uids {
				if u != 0 {
					out = append(out, u)
				}
			}
			return out
		}
		run(func() { // flagger
			for i := range 15 {
				u := uidsOf(inbox[0])
				op := "+"
				if i%2 == 1 {
					op = "-"
				}
				inbox[0].cmd(t, `UID STORE %d %sFLAGS (\Flagged)`, u[rand.IntN(len(u))], op)
				inbox[0].cmd(t, "NOOP")
			}
		})
		run(func() { // mover
			for range 2 {
				u := uidsOf(inbox[1])
				inbox[1].cmd(t, "UID MOVE %d Trash", u[rand.IntN(len(u))])
				inbox[1].sync(t)
			}
		})
		run(func() { // expunger
			for range 2 {
				inbox[2].sync(t)
				u := uidsOf(inbox[2])
				uid := u[rand.IntN(len(u))]
				inbox[2].cmd(t, `UID STORE %d +FLAGS.SILENT (\Deleted)`, uid)
				inbox[2].cmd(t, "UID EXPUNGE %d", uid)
			}
		})
		run(func() { // reader marking messages seen by fetching bodies
			for range 5 {
				inbox[3].sync(t)
				u := uidsOf(inbox[3])
				inbox[3].cmd(t, "UID FETCH %d (BODY[TEXT]<0.4>)", u[rand.IntN(len(u))])
			}
		})
		run(func() { // Postfix
			for i := range 5 {
				deliver(t, s, "tb@example.com", testMessage(fmt.Sprintf("tb concurrent %d", i), "storm"))
			}
		})
		wg.Wait()
		uids, flags := truth(t, "INBOX")
		ok := idler.waitFor(3*time.Second, func(got []uint32, gotFlags map[uint32]string) bool {
			if len(got) != len(uids) {
				return false
			}
			for i, u := range got {
				if u != 0 && (u != uids[i] || gotFlags[u] != flags[u]) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Errorf("IDLE session did not converge to %v %v: %v %v", uids, flags, idler.uids, idler.flags)
		}
		idler.stopIdle(t)
		for _, tb := range all {
			tb.sync(t)
			tb.check(t, uids, flags)
		}
		trash.sync(t)
		tuids, tflags := truth(t, "Trash")
		trash.check(t, tuids, tflags)
		t.Logf("after the storm: INBOX %d messages, Trash %d", len(uids), len(tuids))
	})
}

// TestIMAPStateSurvivesRestart: flags, keywords, UIDs and UIDVALIDITY are
// the same after a restart, and an expunged UID is never handed out again.
func TestIMAPStateSurvivesRestart(t *testing.T) {
	s := Start(t, Config{})
	const user, pass = "rs", "restart-pw"
	s.AddUser(user, pass)
	for i := range 5 {
		deliver(t, s, "rs@example.com", testMessage(fmt.Sprintf("restart %d", i+1), "persist me"))
	}
	w := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
	w.ok("LOGIN %s %s", user, pass)
	w.ok("CREATE Projects")
	w.ok(`APPEND Projects (\Seen $Project) "03-Feb-2025 10:11:12 +0000" {%d+}`+"\r\n%s", len(msgPlain), msgPlain)
	w.ok("SELECT INBOX")
	w.ok(`UID STORE 1 +FLAGS (\Seen \Flagged)`)
	w.ok(`UID STORE 2 +FLAGS (\Answered $Forwarded Work)`)
	w.ok(`UID STORE 3 +FLAGS (\Draft)`)
	w.ok(`UID STORE 3 -FLAGS (\Draft)`)
	w.ok(`UID STORE 4 FLAGS (\Deleted)`)
	w.ok(`UID STORE 5 +FLAGS (\Deleted)`)
	w.ok("UID EXPUNGE 5") // the highest UID: must not come back after restart
	type state struct {
		status map[string]string
		fetch  map[string][]string
	}
	read := func() state {
		c := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
		c.ok("LOGIN %s %s", user, pass)
		st := state{status: map[string]string{}, fetch: map[string][]string{}}
		for _, mb := range []string{"INBOX", "Projects"} {
			u := c.ok("STATUS %s (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)", mb)
			st.status[mb] = strings.Join(u, "\n")
			c.ok("EXAMINE %s", mb)
			st.fetch[mb] = c.ok("UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)")
		}
		c.ok("LOGOUT")
		return st
	}
	before := read()
	if f := strings.Join(before.fetch["INBOX"], "\n"); !strings.Contains(f, `$Forwarded`) || !strings.Contains(f, "Work") || !strings.Contains(f, `\Flagged`) {
		t.Fatalf("flags before restart: %s", f)
	}
	w.Close()
	s.Restart()
	after := read()
	for _, mb := range []string{"INBOX", "Projects"} {
		if before.status[mb] != after.status[mb] {
			t.Errorf("%s STATUS changed across restart:\n%s\n%s", mb, before.status[mb], after.status[mb])
		}
		if !slices.Equal(before.fetch[mb], after.fetch[mb]) {
			t.Errorf("%s UIDs/flags changed across restart:\n%s\n%s", mb, strings.Join(before.fetch[mb], "\n"), strings.Join(after.fetch[mb], "\n"))
		}
	}
	deliver(t, s, "rs@example.com", testMessage("after restart", "new"))
	c := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
	c.ok("LOGIN %s %s", user, pass)
	c.ok("SELECT INBOX")
	if u := c.ok("UID SEARCH ALL"); !slices.Equal(u, []string{"* SEARCH 1 2 3 4 6"}) {
		t.Errorf("after restart and a delivery: %q (UID 5 was expunged and must not be reused)", u)
	}
}

// limitsConfig writes a config file with a small message size limit and a
// one-second IDLE keepalive.
func limitsConfig(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sealpost.toml")
	cfg := "[imap]\nidle_keepalive = \"1s\"\n\n[limits]\nmax_message_size = \"64KB\"\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--config", path}
}

// TestIMAPAppendLimitAndKeepalive: the configured message size limit is
// advertised and enforced on APPEND with a clear NO [TOOBIG] that leaves
// the session usable, and IDLE sends "* OK Still here" at the configured
// interval.
func TestIMAPAppendLimitAndKeepalive(t *testing.T) {
	s := Start(t, Config{Extra: limitsConfig(t)})
	const user, pass = "lim", "limit-pw"
	s.AddUser(user, pass)
	w := dialWireIMAP(t, s.IMAPS, s.TLSConfig())
	caps := strings.Join(w.ok("LOGIN %s %s", user, pass), " ")
	if tagged, u := w.cmd("CAPABILITY"); !statusOK(tagged) || !strings.Contains(strings.Join(u, " ")+caps, "APPENDLIMIT=65536") {
		t.Errorf("APPENDLIMIT not advertised as 65536: %q", u)
	}
	if u := w.ok("STATUS INBOX (APPENDLIMIT)"); len(u) != 1 || !strings.Contains(u[0], "APPENDLIMIT 65536") {
		t.Errorf("STATUS APPENDLIMIT: %q", u)
	}
	// A synchronizing literal over the limit is refused before "+".
	tag := w.nextTag()
	w.send(fmt.Sprintf("%s APPEND INBOX {%d}\r\n", tag, 70000))
	if l := w.readLine(); !strings.HasPrefix(l, tag+" NO [TOOBIG]") {
		t.Errorf("APPEND {70000} over a 64 KiB limit: %q", l)
	}
	w.ok("NOOP")
	// At the limit it is accepted.
	msg := testMessage("at the limit", strings.Repeat("x", 100))
	msg += strings.Repeat("y", 65536-len(msg))
	tag = w.nextTag()
	w.send(fmt.Sprintf("%s APPEND INBOX {%d}\r\n", tag, len(msg)))
	if l := w.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND {65536}: %q", l)
	}
	w.send(msg + "\r\n")
	if tagged, _ := w.until(tag); !statusOK(tagged) {
		t.Errorf("APPEND of exactly 64 KiB: %s", tagged)
	}
	// IDLE keepalive.
	w.ok("SELECT INBOX")
	tag = w.nextTag()
	w.send(tag + " IDLE\r\n")
	if l := w.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	start := time.Now()
	if l := w.readLine(); l != "* OK Still here" {
		t.Errorf("during IDLE: %q", l)
	}
	if l := w.readLine(); l != "* OK Still here" {
		t.Errorf("during IDLE: %q", l)
	}
	if el := time.Since(start); el < 1500*time.Millisecond || el > 6*time.Second {
		t.Errorf("two keepalives took %v with a 1 s interval", el)
	}
	w.send("DONE\r\n")
	if tagged, _ := w.until(tag); !statusOK(tagged) {
		t.Errorf("IDLE: %s", tagged)
	}
}

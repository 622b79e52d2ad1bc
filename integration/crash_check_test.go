package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sealpost/mailstore/lmtp"
)

// crashModel is what the clients were told, across all rounds: what a
// server that keeps its word must still show after any kill -9.
type crashModel struct {
	mu sync.Mutex
	// sent: Message-ID → exact stored bytes (LMTP ones with the trace
	// header fields the inlet prepends).
	sent map[string]string
	// acked: delivered (250) or appended (APPEND OK): present unless
	// removed below.
	acked map[string]bool
	// gone: removal acknowledged (UID EXPUNGE OK, POP3 QUIT +OK).
	gone map[string]bool
	// flagged: STORE +FLAGS (\Flagged) acknowledged.
	flagged map[string]bool
	// uids of the appended messages in Appended, for STORE and EXPUNGE.
	appended map[imap.UID]string
	// popInFlight: the DELEs of a QUIT that got no reply: all of them
	// or none must be gone (RFC 1939 §6: the UPDATE state is atomic here).
	popInFlight [][]string
	// expInFlight: a UID EXPUNGE that got no reply; it may have committed.
	expInFlight map[string]bool

	delivered, appends, expunges, popDeletes, flags int // acknowledged operations
}

func (m *crashModel) do(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

const crashTrace = "Return-Path: <sender@example.org>\r\nDelivered-To: ann@example.com\r\n"

func crashBody(id string) string {
	return fmt.Sprintf("From: Sender <sender@example.org>\r\nTo: ann@example.com\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s", id, id,
		strings.Repeat(id+" some text on a line\r\n", 1+rand.IntN(60)))
}

var messageIDRe = regexp.MustCompile(`(?m)^Message-ID: <([^>@]+)`)

// messageID returns the local part of a message's Message-ID, or "".
func messageID(body string) string {
	if m := messageIDRe.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// Repeat: concurrent LMTP deliveries (TCP and unix socket), IMAP APPEND,
// STORE and UID EXPUNGE, POP3 DELE and QUIT; kill -9 at a random moment;
// restart. After each restart every acknowledged message is there byte
// for byte and every acknowledged removal and flag change holds; then the
// server is stopped and `sealpost check` must find nothing. Right after
// each kill, before any restart, the check may only find what a crash is
// allowed to leave: body files and partly written files without records.
func TestCrashRepeatedCheck(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	c := s.LoginIMAPS(t, "ann", "ann-password")
	if err := c.Create("Appended", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// While serving, the server checks itself; repairing needs it stopped.
	if out, code := s.Sealpost("", "check", "--data", s.Data); code != 0 || !strings.Contains(out, "in the running server") {
		t.Fatalf("check while serving: exit %d:\n%s", code, out)
	}
	if out, code := s.Sealpost("", "check", "--repair", "--data", s.Data); code != 3 || !strings.Contains(out, "stop it to repair") {
		t.Fatalf("check --repair while serving: exit %d:\n%s", code, out)
	}

	m := &crashModel{sent: map[string]string{}, acked: map[string]bool{}, gone: map[string]bool{},
		flagged: map[string]bool{}, appended: map[imap.UID]string{}, expInFlight: map[string]bool{}}
	tc := s.TLSConfig()
	leftovers, kills := 0, 0
	var loginWait time.Duration
	start := time.Now()
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() { crashLMTP(ctx, s, m, fmt.Sprintf("r%dl%d", round, w), w%2 == 1) })
		}
		ready := make(chan struct{}, 2)
		wg.Go(func() { crashIMAP(ctx, s, tc, m, fmt.Sprintf("r%di", round), ready) })
		wg.Go(func() { crashPOP3(ctx, s, tc, m, ready) })
		// Logins are slow (argon2id, and slower under -race): let both
		// sessions start, then kill at a random moment of the traffic.
		t0 := time.Now()
		for range 2 {
			select {
			case <-ready:
			case <-time.After(20 * time.Second):
				t.Fatalf("round %d: IMAP and POP3 sessions not logged in after 20 s", round)
			}
		}
		loginWait += time.Since(t0)
		time.Sleep(time.Duration(50+rand.IntN(600)) * time.Millisecond)
		s.Kill()
		kills++
		cancel()
		wg.Wait()

		// Straight after the crash: only crash leftovers.
		out, code := s.Sealpost("", "check", "--data", s.Data)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "problem:") {
				if !strings.Contains(l, ": orphan-body: ") && !strings.Contains(l, ": tmp-file: ") {
					t.Errorf("round %d, after kill: %s", round, l)
				}
				leftovers++
			}
		}
		if code != 0 && code != 1 {
			t.Fatalf("round %d: check after kill: exit %d:\n%s", round, code, out)
		}

		s.start()
		verifyCrashModel(t, s, m, round) // opens the account: leftovers go
		s.Stop()
		if out, code := s.Sealpost("", "check", "--data", s.Data); code != 0 || !strings.Contains(out, "no problems found") {
			t.Fatalf("round %d: check after restart: exit %d:\n%s", round, code, out)
		}
		if t.Failed() {
			break
		}
		s.start()
	}
	t.Logf("waited %v per round for the logins", loginWait/time.Duration(max(kills, 1)))
	t.Logf("%d kills in %v: %d deliveries, %d appends, %d flag changes, %d UID EXPUNGEs, %d POP3 deletions acknowledged; %d leftovers found by check after the kills, none after restarts",
		kills, time.Since(start).Round(time.Second), m.delivered, m.appends, m.flags, m.expunges, m.popDeletes, leftovers)
	if m.delivered == 0 || m.appends == 0 || m.expunges == 0 || m.popDeletes == 0 || m.flags == 0 {
		t.Errorf("some operation was never acknowledged before a kill: the test did not exercise it")
	}
}

func crashLMTP(ctx context.Context, s *Server, m *crashModel, prefix string, unix bool) {
	network, addr := "tcp", s.LMTP
	if unix {
		network, addr = "unix", s.Socket
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		body := crashBody(id)
		m.do(func() { m.sent[id] = crashTrace + body })
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := lmtp.DeliverOne(dctx, network, addr, "sender@example.org", "ann@example.com", strings.NewReader(body))
		cancel()
		if err != nil {
			return // the server died
		}
		m.do(func() { m.acked[id] = true; m.delivered++ })
	}
}

// crashIMAP appends to Appended, flags and expunges its messages.
func crashIMAP(ctx context.Context, s *Server, tc *tls.Config, m *crashModel, prefix string, ready chan<- struct{}) {
	c, err := imapclient.DialTLS(s.IMAPS, &imapclient.Options{TLSConfig: tc})
	if err != nil {
		return
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if c.Login("ann", "ann-password").Wait() != nil {
		return
	}
	if _, err := c.Select("Appended", nil).Wait(); err != nil {
		return
	}
	ready <- struct{}{}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		body := crashBody(id)
		m.do(func() { m.sent[id] = body })
		ac := c.Append("Appended", int64(len(body)), nil)
		io.WriteString(ac, body)
		ac.Close()
		res, err := ac.Wait()
		if err != nil {
			return
		}
		m.do(func() { m.acked[id] = true; m.appended[res.UID] = id; m.appends++ })

		// Flag one live message, expunge another.
		var flagUID, expUID imap.UID
		m.do(func() {
			var live []imap.UID
			for uid, id := range m.appended {
				if !m.gone[id] {
					live = append(live, uid)
				}
			}
			slices.Sort(live)
			if len(live) > 4 {
				flagUID = live[rand.IntN(len(live))]
				expUID = live[rand.IntN(len(live))]
			}
		})
		if flagUID != 0 {
			if err := c.Store(imap.UIDSetNum(flagUID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				return
			}
			m.do(func() { m.flagged[m.appended[flagUID]] = true; m.flags++ })
		}
		if expUID != 0 && expUID != flagUID {
			if err := c.Store(imap.UIDSetNum(expUID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return
			}
			m.do(func() { m.expInFlight[m.appended[expUID]] = true })
			if err := c.UIDExpunge(imap.UIDSetNum(expUID)).Close(); err != nil {
				return
			}
			m.do(func() {
				id := m.appended[expUID]
				delete(m.expInFlight, id)
				m.gone[id] = true
				m.expunges++
			})
		}
	}
}

// crashPOP3 deletes a few INBOX messages per session with DELE and QUIT.
func crashPOP3(ctx context.Context, s *Server, tc *tls.Config, m *crashModel, ready chan<- struct{}) {
	for ctx.Err() == nil {
		if !popDeleteRound(ctx, s, tc, m, ready) {
			return
		}
		ready = nil
	}
}

func popDeleteRound(ctx context.Context, s *Server, tc *tls.Config, m *crashModel, ready chan<- struct{}) bool {
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.POP3S, tc)
	if err != nil {
		return false
	}
	defer nc.Close()
	go func() { <-ctx.Done(); nc.SetDeadline(time.Now()) }()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	cmd := func(line string) (string, bool) {
		if line != "" {
			if _, err := io.WriteString(nc, line+"\r\n"); err != nil {
				return "", false
			}
		}
		l, err := br.ReadString('\n')
		return strings.TrimSuffix(l, "\r\n"), err == nil && strings.HasPrefix(l, "+OK")
	}
	body := func() (string, bool) {
		var b strings.Builder
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return "", false
			}
			if l == ".\r\n" {
				return b.String(), true
			}
			b.WriteString(strings.TrimPrefix(l, "."))
		}
	}
	for _, l := range []string{"", "USER ann", "PASS ann-password"} {
		if r, ok := cmd(l); !ok {
			// A maildrop still locked by a session the kill cut is fine.
			return strings.Contains(r, "IN-USE") && ctx.Err() == nil && sleepCtx(ctx, 20*time.Millisecond)
		}
	}
	if ready != nil {
		ready <- struct{}{}
	}
	r, ok := cmd("STAT")
	if !ok {
		return false
	}
	n, _ := strconv.Atoi(strings.Fields(r)[1])
	var ids []string
	for i := 1; i <= n && len(ids) < 3; i += 1 + rand.IntN(3) {
		if _, ok := cmd(fmt.Sprintf("TOP %d 0", i)); !ok {
			return false
		}
		h, ok := body()
		if !ok {
			return false
		}
		if _, ok := cmd(fmt.Sprintf("DELE %d", i)); !ok {
			return false
		}
		ids = append(ids, messageID(h))
	}
	m.do(func() { m.popInFlight = append(m.popInFlight, ids) })
	if _, ok := cmd("QUIT"); !ok {
		return false // in flight: all or none
	}
	m.do(func() {
		m.popInFlight = m.popInFlight[:len(m.popInFlight)-1]
		for _, id := range ids {
			m.gone[id] = true
			m.popDeletes++
		}
	})
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// verifyCrashModel reads INBOX and Appended and holds them against what
// the clients were told.
func verifyCrashModel(t *testing.T, s *Server, m *crashModel, round int) {
	t.Helper()
	c := s.LoginIMAPS(t, "ann", "ann-password")
	defer c.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	present := map[string]bool{}
	for _, mbox := range []string{"INBOX", "Appended"} {
		if _, err := c.Select(mbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		sec := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}},
			&imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			b := string(msg.FindBodySection(sec))
			id := messageID(b)
			switch want, ok := m.sent[id]; {
			case !ok:
				t.Errorf("round %d: %s uid %d: unknown or torn message %q", round, mbox, msg.UID, abbrev(b))
			case b != want:
				t.Errorf("round %d: %s uid %d (%s): body differs from what was sent", round, mbox, msg.UID, id)
			case present[id]:
				t.Errorf("round %d: %s stored twice", round, id)
			case m.gone[id]:
				t.Errorf("round %d: %s uid %d: acknowledged removal undone", round, mbox, msg.UID)
			case m.flagged[id] && !slices.Contains(msg.Flags, imap.FlagFlagged):
				t.Errorf("round %d: %s uid %d: acknowledged \\Flagged lost (flags %v)", round, mbox, msg.UID, msg.Flags)
			}
			present[id] = true
			m.acked[id] = true // committed, acknowledged or not: it must stay
		}
	}
	for id := range m.acked {
		if !m.gone[id] && !present[id] && !m.expInFlight[id] && !inPOPFlight(m, id) {
			t.Errorf("round %d: acknowledged message %s lost", round, id)
		}
	}
	for _, ids := range m.popInFlight {
		n := 0
		for _, id := range ids {
			if !present[id] {
				n++
			}
		}
		if n != 0 && n != len(ids) {
			t.Errorf("round %d: a QUIT cut by the kill removed %d of its %d messages", round, n, len(ids))
		}
		if n == len(ids) {
			for _, id := range ids {
				m.gone[id] = true // it did commit: later rounds must not see them again
			}
		}
	}
	m.popInFlight = nil
	// An unacknowledged expunge that committed is a removal too.
	for id := range m.expInFlight {
		if !present[id] {
			m.gone[id] = true
		}
	}
	clear(m.expInFlight)
}

func inPOPFlight(m *crashModel, id string) bool {
	for _, ids := range m.popInFlight {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

package integration

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Outcome of one guessed login, from the reply.
type guessResult int

const (
	guessFailed  guessResult = iota // checked and wrong
	guessRefused                    // throttled: not checked
	guessOK                         // logged in
	guessOther
)

// guesser sends login attempts over its connection. send writes one
// attempt; recv reads the reply of the oldest unanswered one, so attempts
// can be pipelined.
type guesser interface {
	send(user, pass string) error
	recv(timeout time.Duration) (guessResult, error)
	Close() error
}

func guess(g guesser, user, pass string, timeout time.Duration) (guessResult, error) {
	if err := g.send(user, pass); err != nil {
		return guessOther, err
	}
	return g.recv(timeout)
}

var guessKinds = []string{"imap-login", "imap-authenticate-plain", "pop3-user-pass", "pop3-auth-plain"}

func dialGuesser(s *Server, kind, src string) (guesser, error) {
	tc := s.TLSConfig()
	switch kind {
	case "imap-login", "imap-authenticate-plain":
		r, err := dialIMAP(src, s.IMAPS, tc)
		if err != nil {
			return nil, err
		}
		return &imapGuesser{wireIMAP: r, sasl: kind == "imap-authenticate-plain"}, nil
	default:
		p, err := dialPOP3(src, s.POP3S, tc)
		if err != nil {
			return nil, err
		}
		return &pop3Guesser{wirePOP: p, sasl: kind == "pop3-auth-plain"}, nil
	}
}

type imapGuesser struct {
	*wireIMAP
	sasl       bool
	sent, read int // tags
}

func (g *imapGuesser) send(user, pass string) error {
	cmd := fmt.Sprintf("LOGIN %q %q", user, pass)
	if g.sasl {
		cmd = "AUTHENTICATE PLAIN " + saslPlain(user, pass)
	}
	g.sent++
	g.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := fmt.Fprintf(g.nc, "g%d %s\r\n", g.sent, cmd)
	return err
}

func (g *imapGuesser) recv(timeout time.Duration) (guessResult, error) {
	g.read++
	tag := fmt.Sprintf("g%d ", g.read)
	var st string
	var err error
	for {
		var line string
		if line, err = g.readLineWithin(timeout); err != nil {
			break
		}
		if rest, ok := strings.CutPrefix(line, tag); ok {
			st = rest
			break
		}
	}
	switch {
	case err != nil:
		return guessOther, err
	case strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]"):
		return guessFailed, nil
	case strings.HasPrefix(st, "NO [UNAVAILABLE]"):
		return guessRefused, nil
	case strings.HasPrefix(st, "OK"):
		return guessOK, nil
	}
	return guessOther, fmt.Errorf("reply %q", st)
}

type pop3Guesser struct {
	*wirePOP
	sasl bool
}

func (g *pop3Guesser) send(user, pass string) error {
	cmd := "AUTH PLAIN " + saslPlain(user, pass) + "\r\n"
	if !g.sasl {
		cmd = "USER " + user + "\r\nPASS " + pass + "\r\n" // PIPELINING
	}
	g.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := g.nc.Write([]byte(cmd))
	return err
}

func (g *pop3Guesser) recv(timeout time.Duration) (guessResult, error) {
	st, err := g.readLine(timeout)
	if err == nil && !g.sasl {
		if !strings.HasPrefix(st, "+OK") {
			return guessOther, fmt.Errorf("USER: %q", st)
		}
		st, err = g.readLine(timeout)
	}
	switch {
	case err != nil:
		return guessOther, err
	case st == "-ERR [AUTH] Authentication failed":
		return guessFailed, nil
	case strings.HasPrefix(st, "-ERR [AUTH] Too many failures"):
		return guessRefused, nil
	case strings.HasPrefix(st, "+OK"):
		return guessOK, nil
	}
	return guessOther, fmt.Errorf("reply %q", st)
}

// attackStats are the figures of one brute-force run.
type attackStats struct {
	sent, failed, refused, ok, other, unanswered atomic.Int64
	mu                                           sync.Mutex
	answeredAt                                   []time.Duration // since start
	took                                         time.Duration   // until every worker stopped
}

func (a *attackStats) String() string {
	return fmt.Sprintf("sent %d: verified+failed %d, refused unverified %d, unanswered when stopped %d, other %d, logged in %d",
		a.sent.Load(), a.failed.Load(), a.refused.Load(), a.unanswered.Load(), a.other.Load(), a.ok.Load())
}

// answered counts replies in [from, to).
func (a *attackStats) answered(from, to time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, d := range a.answeredAt {
		if d >= from && d < to {
			n++
		}
	}
	return n
}

// bruteForce sends up to total wrong passwords from src over workers
// parallel connections of every kind (IMAP LOGIN, AUTHENTICATE PLAIN, POP3
// USER/PASS, AUTH PLAIN), three quarters against user, the rest against
// made-up names, until all are answered, the time runs out or until
// (if not nil) reports true. With pipeline, each connection sends its whole
// share at once.
func bruteForce(t *testing.T, s *Server, src, user string, total, workers int, runFor time.Duration, pipeline bool, until func() bool) *attackStats {
	t.Helper()
	st := &attackStats{}
	start := time.Now()
	deadline := start.Add(runFor)
	var next atomic.Int64
	var wg sync.WaitGroup
	// Stopping early closes the pipelined connections; their pending
	// attempts count as unanswered.
	var openMu sync.Mutex
	var open []guesser
	stopped := false
	finished := make(chan struct{})
	defer close(finished)
	if until != nil {
		go func() {
			for !until() && time.Now().Before(deadline) {
				select {
				case <-finished:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			openMu.Lock()
			stopped = true
			for _, g := range open {
				g.Close()
			}
			openMu.Unlock()
		}()
	}
	record := func(res guessResult) {
		st.mu.Lock()
		st.answeredAt = append(st.answeredAt, time.Since(start))
		st.mu.Unlock()
		switch res {
		case guessFailed:
			st.failed.Add(1)
		case guessRefused:
			st.refused.Add(1)
		case guessOK:
			st.ok.Add(1)
		default:
			st.other.Add(1)
		}
	}
	for w := range workers {
		wg.Add(1)
		if pipeline {
			go func() {
				defer wg.Done()
				g, err := dialGuesser(s, guessKinds[w%len(guessKinds)], src)
				if err != nil {
					t.Error(err)
					return
				}
				defer g.Close()
				openMu.Lock()
				if stopped {
					openMu.Unlock()
					return
				}
				open = append(open, g)
				openMu.Unlock()
				n := 0
				for i := w; i < total; i += workers {
					u := user
					if i%4 == 0 {
						u = fmt.Sprintf("nobody%d", i)
					}
					if err := g.send(u, fmt.Sprintf("wrong-%d", i)); err != nil {
						t.Error(err)
						return
					}
					st.sent.Add(1)
					n++
				}
				for ; n > 0; n-- {
					res, err := g.recv(time.Until(deadline))
					if err != nil {
						st.unanswered.Add(int64(n))
						return
					}
					record(res)
				}
			}()
			continue
		}
		go func() {
			defer wg.Done()
			kind := guessKinds[w%len(guessKinds)]
			var g guesser
			defer func() {
				if g != nil {
					g.Close()
				}
			}()
			var i int64 // the attempt being sent; 0: take the next one
			for time.Now().Before(deadline) {
				if g == nil {
					var err error
					if g, err = dialGuesser(s, kind, src); err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				if i == 0 {
					if i = next.Add(1); i > int64(total) {
						return
					}
					st.sent.Add(1)
				}
				u := user
				if i%4 == 0 {
					u = fmt.Sprintf("nobody%d", i)
				}
				res, err := guess(g, u, fmt.Sprintf("wrong-%d", i), time.Until(deadline))
				if err != nil {
					// The server closed the connection (POP3 does after
					// 10 bad commands): not an answer; this worker sends
					// attempt i again on a new connection.
					g.Close()
					g = nil
					continue
				}
				record(res)
				i = 0
			}
			if i != 0 {
				st.unanswered.Add(1)
			}
		}()
	}
	wg.Wait()
	st.took = time.Since(start)
	return st
}

// victimLogin logs user in from src over IMAPS and POP3S and returns the
// slower of the two durations.
func victimLogin(s *Server, src, user, pass string) (time.Duration, error) {
	var worst time.Duration
	for _, kind := range []string{"imap-login", "pop3-user-pass"} {
		start := time.Now()
		g, err := dialGuesser(s, kind, src)
		if err != nil {
			return 0, err
		}
		res, err := guess(g, user, pass, 20*time.Second)
		g.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", kind, err)
		}
		if res != guessOK {
			return 0, fmt.Errorf("%s: login refused (%d)", kind, res)
		}
		worst = max(worst, time.Since(start))
	}
	return worst, nil
}

// loginDelays returns the throttle delay of each checked login from src
// with the log message msg ("login failed" or "login"), in log order.
func loginDelays(t *testing.T, log, src, msg string) []time.Duration {
	var out []time.Duration
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "component=login") || !strings.Contains(l, "msg="+slogText(msg)+" ") ||
			!strings.Contains(l, "remote="+src+" ") {
			continue
		}
		_, v, ok := strings.Cut(l, " delay=")
		v, _, _ = strings.Cut(v, " ")
		d, err := time.ParseDuration(v)
		if !ok || err != nil {
			t.Fatalf("no delay in %q", l)
		}
		out = append(out, d)
	}
	return out
}

// slogText is how slog's text handler writes a string value.
func slogText(v string) string {
	if strings.ContainsAny(v, " =\"") {
		return strconv.Quote(v)
	}
	return v
}

// countLog counts server log lines containing all of parts.
func countLog(log string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

// With the default throttle (delays 1 s doubling to 15 s, refusal at 50
// failures) and one attempt per source checked at a time, 1,000 wrong
// passwords pipelined over 64 parallel connections get a handful of checks
// before we stop (once two were delayed, at most 20 s), each delayed twice
// as long as the one before; the rest wait (the doubling delays in the
// server log are the proof of collapse). Meanwhile the real user logs in
// from another address without delay.
func TestHardenBruteForceDefaults(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-right-pw")
	const maxRun = 20 * time.Second

	var victim []time.Duration
	victimDone := make(chan error, 1)
	attackOver := make(chan struct{})
	go func() {
		for {
			select {
			case <-attackOver:
				victimDone <- nil
				return
			case <-time.After(time.Second):
			}
			d, err := victimLogin(s, userIP, "ann", "ann-right-pw")
			if err != nil {
				victimDone <- err
				return
			}
			victim = append(victim, d)
		}
	}()
	// Stop once six checks are logged: four free ones, then 1 s and 2 s.
	enough := func() bool { return len(loginDelays(t, s.Log(), attackerIP, "login failed")) >= 6 }
	st := bruteForce(t, s, attackerIP, "ann", 1000, 64, maxRun, true, enough)
	close(attackOver)
	if err := <-victimDone; err != nil {
		t.Fatalf("real user from %s during the attack: %v", userIP, err)
	}
	runFor := st.took.Round(100 * time.Millisecond)
	first, last := st.answered(0, runFor/2), st.answered(runFor/2, runFor)
	t.Logf("defaults, 1000 wrong passwords from %s in %s: %s", attackerIP, runFor, st)
	t.Logf("answered attempts: %d in the first %s, %d in the last %s; real user's logins from %s during the attack: %v",
		first, runFor/2, last, runFor/2, userIP, victim)

	if st.ok.Load() != 0 || st.other.Load() != 0 {
		t.Errorf("unexpected replies: %s", st)
	}
	if n := st.failed.Load(); n == 0 || n > 20 {
		t.Errorf("%d wrong passwords were checked in %s, want 1-20", n, runFor)
	}
	if len(victim) == 0 {
		t.Errorf("the real user did not log in during the attack")
	}
	// The server checks one attempt of the source at a time, each after a
	// delay that doubles (checks that finished after our deadline count
	// too). How fast the checks themselves are depends on the machine;
	// the delays do not.
	time.Sleep(200 * time.Millisecond) // the log arrives through a pipe
	delays := loginDelays(t, s.Log(), attackerIP, "login failed")
	t.Logf("throttle delays of the checked attempts, in order: %v", delays)
	// (Replies that crossed our deadline are in the log only.)
	if n := int64(len(delays)); n < st.failed.Load() || n > st.failed.Load()+3 {
		t.Errorf("server log has %d checked failures, replies say %d", n, st.failed.Load())
	}
	zeros := 0
	for zeros < len(delays) && delays[zeros] == 0 {
		zeros++
	}
	if zeros == len(delays) {
		t.Errorf("no checked attempt was delayed in %s", runFor)
	}
	if zeros > 4 { // FreeFailures 3 (4 with decay rounding down)
		t.Errorf("%d attempts were checked without delay, want at most 4", zeros)
	}
	for i := zeros; i < len(delays); i++ {
		want := time.Second
		if i > zeros {
			want = min(2*delays[i-1], 15*time.Second)
		}
		if delays[i] != want {
			t.Errorf("delay of checked attempt %d is %s, want %s", i+1, delays[i], want)
		}
	}
	// (How many were answered per second is reported, not asserted: on a
	// loaded machine a race-enabled password check takes seconds, so the
	// checks, not the delays, set the pace of the first ones.)
	// No account DoS: the real user's logins were not delayed at all (the
	// wall time also includes TLS and hashing on a busy machine).
	for _, d := range loginDelays(t, s.Log(), userIP, "login") {
		if d != 0 {
			t.Errorf("real user's login was delayed %s during the attack (account DoS)", d)
		}
	}
	for _, d := range victim {
		if d > 5*time.Second {
			t.Errorf("real user's IMAPS+POP3S logins took %s during the attack", d)
		}
	}
}

// With a fast throttle (so the test ends quickly; checking a password
// costs about a second in a race-enabled build) all 1,000 attempts are
// answered: only about login_block_after of them are checked, the others
// are refused unchecked. The attacker's address is then refused even with
// the right password, while the real user from another address gets in.
func TestHardenBruteForceRefusal(t *testing.T) {
	s := startConfig(t, `
[limits]
login_delay = "1ms"
login_max_delay = "2ms"
login_block_after = 5
login_block_time = "10m"
`)
	s.AddUser("ann", "ann-right-pw")
	start := time.Now()
	st := bruteForce(t, s, attackerIP, "ann", 1000, 64, 40*time.Second, false, nil)
	took := time.Since(start)
	t.Logf("login_block_after=5, 1000 wrong passwords from %s: %s in %s", attackerIP, st, took.Round(time.Millisecond))

	if st.ok.Load() != 0 || st.other.Load() != 0 {
		t.Errorf("unexpected replies: %s", st)
	}
	if st.failed.Load()+st.refused.Load() != 1000 {
		t.Errorf("not every attempt was answered: %s", st)
	}
	// 5 from the source limit, one more because decay keeps five quick
	// failures just under 5.
	if n := st.failed.Load(); n < 5 || n > 6 {
		t.Errorf("%d wrong passwords were checked, want 5-6", n)
	}
	if got := int64(countLog(s.Log(), "component=login", `msg="login failed"`)); got != st.failed.Load() {
		t.Errorf("server log has %d checked failures, replies say %d", got, st.failed.Load())
	}
	d, err := victimLogin(s, userIP, "ann", "ann-right-pw")
	if err != nil || d > 5*time.Second {
		t.Errorf("real user from %s after the attack: %v in %s", userIP, err, d)
	}
	time.Sleep(200 * time.Millisecond) // the log arrives through a pipe
	if ds := loginDelays(t, s.Log(), userIP, "login"); len(ds) != 2 || ds[0] != 0 || ds[1] != 0 {
		t.Errorf("real user's logins from %s: throttle delays %v, want two of 0s", userIP, ds)
	}
	// The blocked source is refused whatever it sends, and nothing is checked.
	g, err := dialGuesser(s, "imap-login", attackerIP)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if res, err := guess(g, "ann", "ann-right-pw", 10*time.Second); err != nil || res != guessRefused {
		t.Errorf("right password from the blocked source: result %d, %v; want refused", res, err)
	}
	t.Logf("real user from %s: logged in in %s; from the blocked %s: refused", userIP, d.Round(time.Millisecond), attackerIP)
}

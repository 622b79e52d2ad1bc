package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Connection caps: total, per address and per user and address, for IMAP
// and POP3, with small values so the test can reach them.
func TestHardenConnLimits(t *testing.T) {
	s := startConfig(t, `
[limits]
max_connections = 8
max_connections_per_ip = 4
max_connections_per_user_ip = 2
`)
	s.AddUser("ann", "ann-pw")
	tc := s.TLSConfig()
	var open []interface{ Close() error }
	closeAll := func() {
		for _, c := range open {
			c.Close()
		}
		open = nil
	}
	defer closeAll()

	// IMAP over both ports counts together. A refused connection gets a
	// BYE greeting, or is closed.
	imapFrom := func(src string, i int) error {
		addr, conf := s.IMAP, (*tls.Config)(nil)
		if i%2 == 1 {
			addr, conf = s.IMAPS, tc
		}
		r, err := dialIMAP(src, addr, conf)
		if err != nil {
			return err
		}
		open = append(open, r)
		return nil
	}
	pop3From := func(src string, i int) error {
		addr, conf := s.POP3, (*tls.Config)(nil)
		if i%2 == 1 {
			addr, conf = s.POP3S, tc
		}
		p, err := dialPOP3(src, addr, conf)
		if err != nil {
			return err
		}
		open = append(open, p)
		return nil
	}
	for _, proto := range []struct {
		name string
		dial func(src string, i int) error
	}{{"IMAP", imapFrom}, {"POP3", pop3From}} {
		for i := range 4 {
			if err := proto.dial("127.0.0.2", i); err != nil {
				t.Fatalf("%s connection %d from 127.0.0.2: %v", proto.name, i+1, err)
			}
		}
		err := proto.dial("127.0.0.2", 4)
		if err == nil || !strings.Contains(err.Error(), "BYE [UNAVAILABLE]") && !strings.Contains(err.Error(), "-ERR [SYS/TEMP] too many connections") {
			t.Errorf("%s: 5th connection from one address (per-IP cap 4): %v, want refused with a reason", proto.name, err)
		}
		for i := range 4 {
			if err := proto.dial("127.0.0.3", i); err != nil {
				t.Fatalf("%s connection %d from 127.0.0.3: %v", proto.name, i+1, err)
			}
		}
		if err := proto.dial("127.0.0.4", 0); err == nil {
			t.Errorf("%s: 9th connection (total cap 8) was accepted", proto.name)
		}
		// Freed capacity is reusable.
		open[len(open)-1].Close()
		open = open[:len(open)-1]
		if err := retry(func() error { return proto.dial("127.0.0.4", 0) }); err != nil {
			t.Errorf("%s: after one connection closed: %v", proto.name, err)
		}
		t.Logf("%s: per-address cap 4 and total cap 8 held (5th from one address and 9th in all refused)", proto.name)
		closeAll()
	}

	// Per user and address: the third login of ann from one address is
	// refused after her password was checked; from another address it works.
	var clients []*wireIMAP
	login := func(src string) (string, error) {
		r, err := dialIMAP(src, s.IMAPS, tc)
		if err != nil {
			return "", err
		}
		clients = append(clients, r)
		_, st, err := r.do(`LOGIN ann ann-pw`)
		return st, err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range 2 {
		if st, err := login(userIP); err != nil || !strings.HasPrefix(st, "OK") {
			t.Fatalf("login %d: %q %v", i+1, st, err)
		}
	}
	if st, err := login(userIP); err != nil || !strings.HasPrefix(st, "NO [LIMIT]") {
		t.Errorf("3rd login from one address (cap 2): %q %v, want NO [LIMIT]", st, err)
	}
	if st, err := login("127.0.0.5"); err != nil || !strings.HasPrefix(st, "OK") {
		t.Errorf("login from another address: %q %v", st, err)
	}
	clients[0].Close()
	if err := retry(func() error {
		st, err := login(userIP)
		if err == nil && !strings.HasPrefix(st, "OK") {
			err = fmt.Errorf("%s", st)
		}
		return err
	}); err != nil {
		t.Errorf("login after one of ann's connections closed: %v", err)
	}
}

// retry calls f until it succeeds or 3 s have passed (the server releases
// a closed connection's slot asynchronously).
func retry(f func() error) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowKind is one way of holding a connection without logging in.
type slowKind struct {
	name string
	addr func(s *Server) string
	tls  bool // cut by the TLS handshake deadline rather than the login timeout
	// hold runs the slow client on nc until it fails, alongside the
	// reader that waits for the server to close; with setup it runs
	// first, alone (it reads replies), and returns.
	hold  func(nc net.Conn, hello []byte)
	setup bool
}

func trickle(nc net.Conn, data []byte, every time.Duration) {
	for i := 0; ; i++ {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(data[i%len(data) : i%len(data)+1]); err != nil {
			return
		}
		time.Sleep(every)
	}
}

func every(nc net.Conn, line string, d time.Duration) {
	for {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte(line)); err != nil {
			return
		}
		time.Sleep(d)
	}
}

// readUntil reads lines until one starts with prefix.
func readUntil(br *bufio.Reader, prefix string) error {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, prefix) {
			return nil
		}
	}
}

var slowKinds = []slowKind{
	{"imap: silent", func(s *Server) string { return s.IMAP }, false, func(nc net.Conn, _ []byte) {}, false},
	{"imaps: silent", func(s *Server) string { return s.IMAPS }, true, func(nc net.Conn, _ []byte) {}, false},
	{"pop3: silent", func(s *Server) string { return s.POP3 }, false, func(nc net.Conn, _ []byte) {}, false},
	{"pop3s: silent", func(s *Server) string { return s.POP3S }, true, func(nc net.Conn, _ []byte) {}, false},
	{"imaps: ClientHello 1 byte/s", func(s *Server) string { return s.IMAPS }, true, func(nc net.Conn, h []byte) { trickle(nc, h, time.Second) }, false},
	{"pop3s: ClientHello 1 byte/s", func(s *Server) string { return s.POP3S }, true, func(nc net.Conn, h []byte) { trickle(nc, h, time.Second) }, false},
	{"imap: STARTTLS, then nothing", func(s *Server) string { return s.IMAP }, false, func(nc net.Conn, _ []byte) {
		br := bufio.NewReader(nc)
		if readUntil(br, "* OK") == nil {
			nc.Write([]byte("a STARTTLS\r\n"))
			readUntil(br, "a OK")
		}
	}, true},
	{"pop3: STLS, then nothing", func(s *Server) string { return s.POP3 }, true, func(nc net.Conn, _ []byte) {
		br := bufio.NewReader(nc)
		if readUntil(br, "+OK") == nil {
			nc.Write([]byte("STLS\r\n"))
			readUntil(br, "+OK")
		}
	}, true},
	{"imap: command line 1 byte/300ms", func(s *Server) string { return s.IMAP }, false, func(nc net.Conn, _ []byte) {
		trickle(nc, []byte("a1 LOGIN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 300*time.Millisecond)
	}, false},
	{"pop3: command line 1 byte/300ms", func(s *Server) string { return s.POP3 }, false, func(nc net.Conn, _ []byte) {
		trickle(nc, []byte("USER aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 300*time.Millisecond)
	}, false},
	{"imap: NOOP every 500ms", func(s *Server) string { return s.IMAP }, false, func(nc net.Conn, _ []byte) {
		every(nc, "a NOOP\r\n", 500*time.Millisecond)
	}, false},
	{"pop3: CAPA every 500ms", func(s *Server) string { return s.POP3 }, false, func(nc net.Conn, _ []byte) {
		every(nc, "CAPA\r\n", 500*time.Millisecond)
	}, false},
}

// clientHello returns the bytes of a TLS ClientHello, to be trickled.
func clientHello(t *testing.T) []byte {
	c, srv := net.Pipe()
	go tls.Client(c, &tls.Config{ServerName: "localhost"}).Handshake()
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16<<10)
	n, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.Close()
	return buf[:n]
}

// normalSession is what a mail client does: connect, log in, select
// INBOX, fetch a message. It returns how long that took.
func normalSession(t *testing.T, s *Server) time.Duration {
	t.Helper()
	start := time.Now()
	c := s.LoginIMAPS(t, "ann", "ann-pw")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sec := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].FindBodySection(sec)), "slowloris-canary") {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	d := time.Since(start)
	c.Logout().Wait()
	c.Close()
	return d
}

// 300 connections that never log in, in twelve slow ways over the four
// ports, from seven addresses, are held while a normal client keeps
// working; every one of them is cut by the login timeout or the TLS
// handshake deadline (both short here), the attackers reconnecting each
// time, for 6 s.
func TestHardenSlowloris(t *testing.T) {
	raiseNOFILE(t, 2048)
	// The login timeout must leave room for a real login (a password
	// check takes seconds in a race-enabled build on a busy machine).
	const loginTimeout, handshakeTimeout = 5 * time.Second, 2 * time.Second
	s := startConfig(t, fmt.Sprintf(`
[limits]
login_timeout = %q
tls_handshake_timeout = %q
`, loginTimeout, handshakeTimeout))
	s.AddUser("ann", "ann-pw")
	if codes := lmtpSend(t, "tcp", s.LMTP, "sender@example.org", []string{"ann@localhost"}, testMessage("canary", "slowloris-canary")); codes["ann@localhost"] != 250 {
		t.Fatalf("delivery: %v", codes)
	}
	// Thunderbird opens up to five connections per account; with the
	// default per-user cap (20), ten from one address all log in.
	for range 10 {
		s.LoginIMAPS(t, "ann", "ann-pw")
	}

	var before []time.Duration
	for range 3 {
		before = append(before, normalSession(t, s))
	}

	hello := clientHello(t)
	const attackers, attackFor = 300, 6 * time.Second
	type closeTime struct {
		kind int
		d    time.Duration
		cut  bool // closed by the server, not by us at the end
	}
	var (
		mu     sync.Mutex
		closes []closeTime
		dialEr int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := slowKinds[i%len(slowKinds)]
			src := fmt.Sprintf("127.0.0.%d", 2+i%7) // 7 is prime to the 12 kinds
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := dialFrom(src, k.addr(s))
				if err != nil {
					mu.Lock()
					dialEr++
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
					continue
				}
				start := time.Now()
				if k.setup {
					nc.SetReadDeadline(start.Add(10 * time.Second))
					k.hold(nc, hello)
				} else {
					go k.hold(nc, hello)
				}
				closed := make(chan struct{})
				go func() {
					select {
					case <-stop:
						nc.Close()
					case <-closed:
					}
				}()
				_, cut := waitClosed(nc, 30*time.Second)
				close(closed)
				select {
				case <-stop:
					cut = false
				default:
				}
				nc.Close()
				mu.Lock()
				closes = append(closes, closeTime{i % len(slowKinds), time.Since(start), cut})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // let them all connect
	var during []time.Duration
	attackEnd := time.Now().Add(attackFor - 500*time.Millisecond)
	for time.Now().Before(attackEnd) {
		during = append(during, normalSession(t, s))
	}
	close(stop)
	wg.Wait()

	t.Logf("normal client, login+select+fetch over IMAPS: before the attack %v, during %v", before, during)
	limit := max(2*time.Second, 2*percentile(append([]time.Duration(nil), before...), 100))
	for _, d := range during {
		if d > limit {
			t.Errorf("normal session took %s during the attack (before: %v; limit %s)", d, before, limit)
		}
	}
	// Every slow connection the server cut, it cut in time.
	total := 0
	for k, kind := range slowKinds {
		var ds []time.Duration
		for _, c := range closes {
			if c.kind == k && c.cut {
				ds = append(ds, c.d)
			}
		}
		total += len(ds)
		want := loginTimeout
		if kind.tls {
			want = handshakeTimeout
		}
		if len(ds) == 0 {
			t.Errorf("%s: no connection was cut within the attack", kind.name)
			continue
		}
		lo, hi := percentile(ds, 0), percentile(ds, 100)
		t.Logf("%-32s %3d cut by the server after %s-%s (limit %s)", kind.name, len(ds), lo.Round(10*time.Millisecond), hi.Round(10*time.Millisecond), want)
		if hi > want+1500*time.Millisecond {
			t.Errorf("%s: a connection was held %s, limit %s", kind.name, hi, want)
		}
		if lo < want-time.Second {
			t.Errorf("%s: a connection was cut after only %s (limit %s): not the timeout", kind.name, lo, want)
		}
	}
	t.Logf("%d slow connections held at once from 7 addresses, %d cut by the server in %s, %d dial errors", attackers, total, attackFor, dialEr)
	// About 21 per address and protocol, far below the per-address cap.
	if n := countLog(s.Log(), "too many connections"); n != 0 {
		t.Errorf("server refused %d connections over a cap", n)
	}
	// Cutting slow clients is routine, not worth a warning each.
	if n := countLog(s.Log(), "level=WARN", "imapserver"); n != 0 {
		t.Errorf("%d imapserver warnings logged for cut connections", n)
	}
}

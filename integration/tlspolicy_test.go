package integration

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The plaintext-auth matrix (issue 5 item 4, issue 3 "refusal matrix"):
// every way IMAP and POP3 accept a credential, on every listener, before
// and after TLS. Without TLS each one is refused with the protocol's code
// and the server's login path is never reached; with TLS the same
// credentials work. "Reached" is read from the server's own log: the login
// package writes `msg="login attempt"` (debug level, user name only) before
// it looks at a password.

const (
	matrixUser = "mat"
	matrixPass = "matrix-Secret-9"
)

// matrixTLS is the TLS state a row's credentials are sent in.
type matrixTLS int

const (
	noTLS       matrixTLS = iota // plain port, no STARTTLS/STLS
	upgradedTLS                  // plain port after STARTTLS/STLS
	implicitTLS                  // IMAPS / POP3S
)

func (m matrixTLS) String() string {
	return [...]string{"no-tls", "after-starttls", "implicit-tls"}[m]
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// imapCred presents the matrix user's credentials one way. It returns
// whether the server accepted them, and reports protocol errors itself.
type imapCred struct {
	name string
	run  func(t *testing.T, c *wireIMAP, secure bool) bool
}

var imapCreds = []imapCred{
	{"LOGIN", func(t *testing.T, c *wireIMAP, secure bool) bool {
		tagged, _ := c.cmd("LOGIN %s %s", matrixUser, matrixPass)
		return imapVerdict(t, tagged, secure)
	}},
	{"AUTHENTICATE PLAIN with SASL-IR", func(t *testing.T, c *wireIMAP, secure bool) bool {
		tagged, _ := c.cmd("AUTHENTICATE PLAIN %s", b64("\x00"+matrixUser+"\x00"+matrixPass))
		return imapVerdict(t, tagged, secure)
	}},
	{"AUTHENTICATE PLAIN without SASL-IR", func(t *testing.T, c *wireIMAP, secure bool) bool {
		return imapSASL(t, c, secure, "AUTHENTICATE PLAIN", b64("\x00"+matrixUser+"\x00"+matrixPass))
	}},
	{"AUTHENTICATE LOGIN", func(t *testing.T, c *wireIMAP, secure bool) bool {
		return imapSASL(t, c, secure, "AUTHENTICATE LOGIN", b64(matrixUser), b64(matrixPass))
	}},
	{"AUTHENTICATE LOGIN with SASL-IR", func(t *testing.T, c *wireIMAP, secure bool) bool {
		return imapSASL(t, c, secure, "AUTHENTICATE LOGIN "+b64(matrixUser), b64(matrixPass))
	}},
}

// imapVerdict checks a credential command's completion: OK with TLS,
// NO [PRIVACYREQUIRED] without.
func imapVerdict(t *testing.T, tagged string, secure bool) bool {
	t.Helper()
	if secure {
		if !statusOK(tagged) {
			t.Errorf("with TLS: %s", tagged)
		}
	} else if !strings.Contains(tagged, " NO [PRIVACYREQUIRED]") {
		t.Errorf("without TLS: %s (want NO [PRIVACYREQUIRED])", tagged)
	}
	return statusOK(tagged)
}

// imapSASL runs an AUTHENTICATE exchange with continuations. Without TLS
// it behaves like a careless client that pipelines its responses without
// waiting for "+": the command must be refused before any continuation,
// and each response line must then fail as a command of its own, never be
// taken as a credential. imapserver answers such a line (a tag without a
// command) by closing the connection rather than with BAD; both are safe.
func imapSASL(t *testing.T, c *wireIMAP, secure bool, command string, responses ...string) bool {
	t.Helper()
	tag := c.nextTag()
	if !secure {
		c.send(tag + " " + command + "\r\n" + strings.Join(responses, "\r\n") + "\r\n")
		noop := c.nextTag()
		c.send(noop + " NOOP\r\n")
		var refused bool
		for {
			l, err := c.tryReadLine()
			if err != nil {
				if !refused {
					t.Errorf("%s: connection ended (%v) before a tagged refusal", command, err)
				}
				c.closed = true
				return false
			}
			l = strings.TrimSuffix(l, "\r\n")
			switch {
			case strings.HasPrefix(l, noop+" "):
				if !statusOK(l) {
					t.Errorf("NOOP after the refused exchange: %s", l)
				}
				if !refused {
					t.Errorf("%s: no tagged refusal", command)
				}
				return false
			case strings.HasPrefix(l, "+"):
				t.Errorf("%s without TLS got a continuation request: %q", command, l)
			case strings.HasPrefix(l, tag+" "):
				refused = true
				imapVerdict(t, l, false)
			case strings.HasPrefix(l, "* BYE"):
				// Before login an unparsable line ends the session: safe.
			case !strings.Contains(l, " BAD"):
				t.Errorf("pipelined SASL response line answered with %q (want BAD)", l)
			}
		}
	}
	c.send(tag + " " + command + "\r\n")
	for _, r := range responses {
		l := c.readLine()
		if !strings.HasPrefix(l, "+") {
			t.Errorf("%s: %q instead of a continuation", command, l)
			return false
		}
		c.send(r + "\r\n")
	}
	tagged, _ := c.until(tag)
	return imapVerdict(t, tagged, true)
}

type popCred struct {
	name string
	// verified: with TLS the server checks the password (APOP never).
	verified bool
	run      func(t *testing.T, c *wirePOP, secure bool) bool
}

// popVerdict checks a reply that settles a credential: +OK with TLS,
// -ERR [AUTH] without.
func popVerdict(t *testing.T, what, reply string, secure bool) bool {
	t.Helper()
	ok := strings.HasPrefix(reply, "+OK")
	if secure && !ok {
		t.Errorf("%s with TLS: %q", what, reply)
	}
	if !secure && !strings.HasPrefix(reply, "-ERR [AUTH]") {
		t.Errorf("%s without TLS: %q (want -ERR [AUTH])", what, reply)
	}
	return ok
}

var popCreds = []popCred{
	{"USER/PASS", true, func(t *testing.T, c *wirePOP, secure bool) bool {
		popVerdict(t, "USER", c.cmd("USER "+matrixUser), secure)
		return popVerdict(t, "PASS", c.cmd("PASS "+matrixPass), secure)
	}},
	{"APOP", false, func(t *testing.T, c *wirePOP, secure bool) bool {
		// APOP needs the plaintext secret on the server, which Sealpost
		// does not keep: refused everywhere, and never a verification.
		r := c.cmd("APOP " + matrixUser + " 0123456789abcdef0123456789abcdef")
		if !strings.HasPrefix(r, "-ERR [AUTH]") {
			t.Errorf("APOP (TLS %v): %q", secure, r)
		}
		return false
	}},
	{"AUTH PLAIN with initial response", true, func(t *testing.T, c *wirePOP, secure bool) bool {
		return popVerdict(t, "AUTH PLAIN ir", c.cmd("AUTH PLAIN "+b64("\x00"+matrixUser+"\x00"+matrixPass)), secure)
	}},
	{"AUTH PLAIN without initial response", true, func(t *testing.T, c *wirePOP, secure bool) bool {
		blob := b64("\x00" + matrixUser + "\x00" + matrixPass)
		if !secure {
			// Pipelined like a careless client: the blob must become an
			// unknown command, not a credential.
			c.send("AUTH PLAIN\r\n" + blob + "\r\n")
			popVerdict(t, "AUTH PLAIN", c.line(), false)
			if r := c.line(); !strings.HasPrefix(r, "-ERR") {
				t.Errorf("pipelined SASL response answered %q", r)
			}
			return false
		}
		if r := c.cmd("AUTH PLAIN"); !strings.HasPrefix(r, "+ ") && r != "+" {
			t.Errorf("AUTH PLAIN: %q instead of a continuation", r)
			return false
		}
		return popVerdict(t, "AUTH PLAIN response", c.cmd(blob), true)
	}},
}

func TestPlaintextAuthMatrix(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser(matrixUser, matrixPass)
	s.AddUser("marker", "marker-pass")
	tc := s.TLSConfig()

	type row struct {
		name  string
		start int  // log offset when the row began
		want  int  // verification attempts the row must cause
		plain bool // sent without TLS
	}
	var rows []*row
	run := func(name string, plain bool, want int, f func(t *testing.T)) {
		r := &row{name: name, start: len(s.Log()), want: want, plain: plain}
		rows = append(rows, r)
		t.Run(name, f)
	}

	for _, mode := range []matrixTLS{noTLS, upgradedTLS, implicitTLS} {
		secure := mode != noTLS
		for _, cred := range imapCreds {
			want := 0
			if secure {
				want = 1
			}
			run("IMAP/"+mode.String()+"/"+cred.name, !secure, want, func(t *testing.T) {
				var c *wireIMAP
				switch mode {
				case noTLS, upgradedTLS:
					c = dialWireIMAP(t, s.IMAP, nil)
					_, u := c.cmd("CAPABILITY")
					if caps := strings.Join(u, " "); !strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "AUTH=") {
						t.Errorf("plaintext CAPABILITY: %s", caps)
					}
					if mode == upgradedTLS {
						c.mustStartTLS(tc)
					}
				case implicitTLS:
					c = dialWireIMAP(t, s.IMAPS, tc)
				}
				if secure {
					_, u := c.cmd("CAPABILITY")
					if caps := strings.Join(u, " "); strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") ||
						!strings.Contains(caps, "AUTH=LOGIN") || strings.Contains(caps, "STARTTLS") {
						t.Errorf("TLS CAPABILITY: %s", caps)
					}
				}
				accepted := cred.run(t, c, secure)
				if accepted != secure {
					t.Errorf("accepted %v", accepted)
				}
				if c.closed {
					return // a closed connection is not logged in either
				}
				// Whatever was said, the session state must match.
				tagged, _ := c.cmd("SELECT INBOX")
				if statusOK(tagged) != accepted {
					t.Errorf("accepted %v, SELECT afterwards: %s", accepted, tagged)
				}
				c.cmd("LOGOUT")
			})
		}
		for _, cred := range popCreds {
			want := 0
			if secure && cred.verified {
				want = 1
			}
			run("POP3/"+mode.String()+"/"+cred.name, !secure, want, func(t *testing.T) {
				var c *wirePOP
				switch mode {
				case noTLS, upgradedTLS:
					c = dialWirePOP(t, s.POP3, nil)
					capa := strings.Join(c.capa(), "\n")
					if !strings.Contains(capa, "STLS") || strings.Contains(capa, "USER") || strings.Contains(capa, "SASL") {
						t.Errorf("plaintext CAPA: %q", capa)
					}
					if mode == upgradedTLS {
						c.mustSTLS(tc)
					}
				case implicitTLS:
					c = dialWirePOP(t, s.POP3S, tc)
				}
				if secure {
					capa := "\n" + strings.Join(c.capa(), "\n") + "\n"
					if !strings.Contains(capa, "\nUSER\n") || !strings.Contains(capa, "\nSASL PLAIN\n") || strings.Contains(capa, "STLS") {
						t.Errorf("TLS CAPA: %q", capa)
					}
				}
				accepted := cred.run(t, c, secure)
				if accepted != (secure && cred.verified) {
					t.Errorf("accepted %v", accepted)
				}
				stat := c.cmd("STAT")
				if strings.HasPrefix(stat, "+OK") != accepted {
					t.Errorf("accepted %v, STAT afterwards: %q", accepted, stat)
				}
				if q := c.cmd("QUIT"); !strings.HasPrefix(q, "+OK") {
					t.Errorf("QUIT: %q", q)
				}
			})
		}
	}

	// Everything logged before the marker's attempt has reached s.Log().
	m := dialWireIMAP(t, s.IMAPS, tc)
	m.ok("LOGIN marker marker-pass")
	deadline := time.Now().Add(5 * time.Second)
	for loginAttempts(s.Log(), "marker") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the login path logs no %q line; the matrix cannot see it:\n%s", "login attempt", s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	log := s.Log()
	total, want, plain := 0, 0, 0
	for i, r := range rows {
		if r.plain {
			plain++
		}
		end := len(log)
		if i+1 < len(rows) {
			end = rows[i+1].start
		}
		n := loginAttempts(log[r.start:end], matrixUser)
		total += n
		want += r.want
		if n != r.want {
			t.Errorf("%s: %d verification attempts for %s in the server log, want %d", r.name, n, matrixUser, r.want)
		}
	}
	if got := loginAttempts(log, matrixUser); got != want || total != want {
		t.Errorf("%d verification attempts for %s in the whole log (%d in rows), want %d", got, matrixUser, total, want)
	}
	t.Logf("%d credential presentations: %d without TLS, all refused and never verified; %d verified with TLS", len(rows), plain, want)
	if strings.Contains(log, matrixPass) || strings.Contains(log, b64("\x00"+matrixUser+"\x00"+matrixPass)) {
		t.Errorf("the server log contains the password or a SASL blob")
	}
}

// loginAttempts counts the login path's "login attempt" lines for user.
func loginAttempts(log, user string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="login attempt"`) && (strings.HasSuffix(l, " user="+user) || strings.Contains(l, " user="+user+" ")) {
			n++
		}
	}
	return n
}

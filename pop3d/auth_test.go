package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

const tlsRequired = "-ERR [AUTH] TLS required, use STLS first"

// TestPlaintextRefusal is the TLS policy matrix: without TLS every way to
// send a credential is refused and the Authenticator is never called; the
// same transcripts succeed after STLS and on implicit TLS.
func TestPlaintextRefusal(t *testing.T) {
	cases := []struct {
		name      string
		plaintext string // transcript before TLS
		secure    string // the same attempt with TLS
	}{
		{"USER/PASS",
			"C: USER ann\nS: " + tlsRequired + "\nC: PASS secret\nS: " + tlsRequired,
			"C: USER ann\nS: +OK send PASS\nC: PASS secret\nS: +OK maildrop has 3 messages (145 octets)"},
		{"PASS alone",
			"C: PASS secret\nS: " + tlsRequired,
			"C: PASS secret\nS: -ERR PASS must directly follow USER"},
		{"APOP",
			"C: APOP ann c4c9334bac560ecc979e58001b3e22fb\nS: " + tlsRequired,
			"C: APOP ann c4c9334bac560ecc979e58001b3e22fb\nS: -ERR [AUTH] APOP not supported"},
		{"AUTH PLAIN initial response",
			"C: AUTH PLAIN AGFubgBzZWNyZXQ=\nS: " + tlsRequired,
			"C: AUTH PLAIN AGFubgBzZWNyZXQ=\nS: +OK maildrop has 3 messages (145 octets)"},
		{"AUTH PLAIN continuation",
			"C: AUTH PLAIN\nS: " + tlsRequired + "\nC: AGFubgBzZWNyZXQ=\nS: -ERR Unknown command",
			"C: AUTH PLAIN\nS: + \nC: AGFubgBzZWNyZXQ=\nS: +OK maildrop has 3 messages (145 octets)"},
		{"AUTH list",
			"C: AUTH\nS: " + tlsRequired,
			"C: AUTH\nS: +OK SASL mechanisms follow\nS: PLAIN\nS: ."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startServer(t)
			c := e.dial(t)
			c.run(tc.plaintext)
			c.run("C: CAPA\nS: +OK...\nS: TOP\nS: UIDL\nS: RESP-CODES\nS: AUTH-RESP-CODE\nS: PIPELINING\nS: STLS\nS: IMPLEMENTATION Sealpost\nS: .")
			if n := e.store.authCalls.Load(); n != 0 {
				t.Fatalf("Authenticator called %d times without TLS", n)
			}
			c.starttls(e.pki.client)
			c.run(tc.secure + "\nC: QUIT\nS: +OK...")

			c = e.dialTLS(t)
			c.run(tc.secure)
		})
	}
}

// TestSTLSInjection: commands pipelined after STLS in the same plaintext
// write are dropped, not executed inside the TLS session (RFC 2595 §4).
func TestSTLSInjection(t *testing.T) {
	e := startServer(t)
	c := e.dial(t)
	if _, err := io.WriteString(c.nc, "STLS\r\nUSER ann\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK Begin TLS negotiation")
	if c.br.Buffered() != 0 {
		t.Fatal("server answered the injected USER")
	}
	tc := tls.Client(c.nc, e.pki.client)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.nc, c.br = tc, bufio.NewReader(tc)
	// Had USER ann run, PASS would now reach the Authenticator and log in.
	c.run("C: PASS secret\nS: -ERR PASS must directly follow USER")
	if n := e.store.authCalls.Load(); n != 0 {
		t.Fatalf("Authenticator called %d times", n)
	}
	c.login("ann", "secret")
}

func TestSTLSRefused(t *testing.T) {
	e := startServer(t)
	t.Run("implicit TLS", func(t *testing.T) {
		c := e.dialTLS(t)
		c.run("C: STLS\nS: -ERR TLS already active\nC: NOOP\nS: -ERR Command not valid in this state")
	})
	t.Run("twice", func(t *testing.T) {
		c := e.dial(t)
		c.starttls(e.pki.client)
		c.run("C: STLS\nS: -ERR TLS already active")
		c.login("ann", "secret")
		c.run("C: QUIT\nS: +OK...")
	})
	t.Run("after login", func(t *testing.T) {
		c := e.dialTLS(t)
		c.login("ann", "secret")
		c.run("C: STLS\nS: -ERR TLS already active\nC: STAT\nS: +OK 3 145\nC: QUIT\nS: +OK...")
	})
	t.Run("bad handshake closes", func(t *testing.T) {
		c := e.dial(t)
		c.run("C: STLS\nS: +OK Begin TLS negotiation\nC: USER ann")
		c.expectClosed()
	})
}

func TestCapa(t *testing.T) {
	e := startServer(t)
	base := "S: TOP\nS: UIDL\nS: RESP-CODES\nS: AUTH-RESP-CODE\nS: PIPELINING\n"
	c := e.dialTLS(t)
	c.run("C: CAPA\nS: +OK Capability list follows\n" + base + "S: USER\nS: SASL PLAIN\nS: IMPLEMENTATION Sealpost\nS: .")
	c.login("ann", "secret")
	c.run("C: capa\nS: +OK Capability list follows\n" + base + "S: IMPLEMENTATION Sealpost\nS: .")
}

func TestAuthTLS(t *testing.T) {
	cases := []struct {
		name   string
		script string
		calls  int32
	}{
		{"wrong password", "C: USER ann\nS: +OK send PASS\nC: PASS wrong\nS: -ERR [AUTH] Authentication failed\nC: PASS secret\nS: -ERR PASS must directly follow USER", 1},
		{"unknown user", "C: USER nobody\nS: +OK send PASS\nC: PASS x\nS: -ERR [AUTH] Authentication failed", 1},
		{"PASS not directly after USER", "C: USER ann\nS: +OK send PASS\nC: CAPA\nS: +OK...\nS: TOP\nS: UIDL\nS: RESP-CODES\nS: AUTH-RESP-CODE\nS: PIPELINING\nS: USER\nS: SASL PLAIN\nS: IMPLEMENTATION Sealpost\nS: .\nC: PASS secret\nS: -ERR PASS must directly follow USER", 0},
		{"password with spaces", "C: USER bob\nS: +OK send PASS\nC: PASS pass word\nS: +OK maildrop has 0 messages (0 octets)", 1},
		{"throttled", "C: USER throttled\nS: +OK send PASS\nC: PASS x\nS: -ERR [AUTH] Too many failures, try later", 1},
		{"store failure", "C: USER broken\nS: +OK send PASS\nC: PASS x\nS: -ERR [SYS/TEMP] Internal server error, try again later", 1},
		{"lower case", "C: auth plain AGFubgBzZWNyZXQ=\nS: +OK maildrop has 3 messages (145 octets)", 1},
		{"authzid equal", "C: AUTH PLAIN YW5uAGFubgBzZWNyZXQ=\nS: +OK maildrop has 3 messages (145 octets)", 1},
		{"authzid differs", "C: AUTH PLAIN Ym9iAGFubgBzZWNyZXQ=\nS: -ERR [AUTH] Authentication failed", 0},
		{"cancel", "C: AUTH PLAIN\nS: + \nC: *\nS: -ERR Authentication cancelled\nC: NOOP\nS: -ERR Command not valid in this state", 0},
		{"empty initial response", "C: AUTH PLAIN =\nS: -ERR Invalid SASL response", 0},
		{"bad base64", "C: AUTH PLAIN !!!!\nS: -ERR Invalid SASL response", 0},
		{"bad base64 continuation", "C: AUTH PLAIN\nS: + \nC: not base64\nS: -ERR Invalid SASL response", 0},
		{"not PLAIN", "C: AUTH PLAIN YW5uc2VjcmV0\nS: -ERR Invalid SASL response", 0},
		{"unknown mechanism", "C: AUTH CRAM-MD5\nS: -ERR Unsupported SASL mechanism", 0},
		{"syntax", "C: USER\nS: -ERR Syntax error: expected one argument\nC: USER a b\nS: -ERR Syntax error: expected one argument\nC: PASS\nS: -ERR Syntax error: missing argument\nC: AUTH PLAIN a b\nS: -ERR Syntax error: too many arguments", 0},
		{"transaction commands refused", "C: STAT\nS: -ERR Command not valid in this state\nC: RETR 1\nS: -ERR Command not valid in this state", 0},
		{"quit", "C: QUIT\nS: +OK Sealpost POP3 server signing off", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// "syntax" sends more bad commands than the pre-auth budget.
			e := startServer(t, func(o *Options) { o.PreAuthMaxErrors = 10 })
			c := e.dialTLS(t)
			c.run(tc.script)
			if got := e.store.authCalls.Load(); got != tc.calls {
				t.Errorf("Authenticator called %d times, want %d", got, tc.calls)
			}
		})
	}
}

// TestLongSASLLine: a continuation line may exceed the 255-octet command
// limit (up to 8 KiB).
func TestLongSASLLine(t *testing.T) {
	e := startServer(t)
	c := e.dialTLS(t)
	long := b64("\x00ann\x00" + strings.Repeat("x", 600))
	c.run("C: AUTH PLAIN\nS: + \nC: " + long + "\nS: -ERR [AUTH] Authentication failed")
	c.run("C: AUTH PLAIN\nS: + \nC: " + strings.Repeat("A", 9000) + "\nS: -ERR Line too long")
	c.run("C: AUTH PLAIN\nS: + \nC: " + b64("\x00ann\x00secret") + "\nS: +OK maildrop has 3 messages (145 octets)")
}

func TestInUse(t *testing.T) {
	e := startServer(t)
	c1 := e.dialTLS(t)
	c1.login("ann", "secret")
	c2 := e.dialTLS(t)
	c2.run(`C: USER ann
		S: +OK send PASS
		C: PASS secret
		S: -ERR [IN-USE] Maildrop already locked by another session
		C: AUTH PLAIN AGFubgBzZWNyZXQ=
		S: -ERR [IN-USE] Maildrop already locked by another session
		C: STAT
		S: -ERR Command not valid in this state`)
	if n := e.store.dropCloses.Load(); n != 2 {
		t.Fatalf("refused maildrops closed %d times, want 2", n)
	}
	c1.run("C: QUIT\nS: +OK...")
	// The lock is released before QUIT's reply: an immediate retry works.
	c2.login("ann", "secret")
}

// TestAuthenticatorPanic: a panic ends that connection only.
func TestAuthenticatorPanic(t *testing.T) {
	e := startServer(t)
	c := e.dialTLS(t)
	c.run("C: USER panic\nS: +OK send PASS\nC: PASS x")
	c.expectClosed()
	e.dialTLS(t).login("ann", "secret")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestNoSecretsInLogs: passwords, SASL data and bodies stay out of the log,
// even at debug level and on failures.
func TestNoSecretsInLogs(t *testing.T) {
	var logs lockedBuffer
	e := startServer(t, func(o *Options) {
		o.PreAuthMaxErrors = 10 // five failures on one connection
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := e.dial(t)
	c.run("C: USER ann\nS: -ERR...\nC: PASS secret\nS: -ERR...\nC: secret\nS: -ERR Unknown command")
	c.starttls(e.pki.client)
	c.run("C: USER ann\nS: +OK...\nC: PASS s3cr3t-wrong\nS: -ERR...")
	c.run("C: AUTH PLAIN\nS: + \nC: " + b64("\x00ann\x00hunter2") + "\nS: -ERR...")
	c.run("C: AUTH PLAIN AGFubgBzZWNyZXQ=\nS: +OK...\nC: RETR 1\nS: +OK...\nS: Subject: one\nS: From: a@example.com\nS:\nS: hello\nS: .")
	c.run("C: QUIT\nS: +OK...")
	c.expectClosed()
	e.srv.Shutdown(context.Background())
	out := logs.String()
	for _, secret := range []string{"secret", "s3cr3t", "hunter2", "AGFubgBzZWNyZXQ=", b64("\x00ann\x00hunter2"), "hello", "Subject"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "user=ann") {
		t.Errorf("log lacks the user:\n%s", out)
	}
}

package imapd

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestPlaintextRefusal: before STARTTLS no credential is accepted by any
// path, and the Authenticator is never called.
func TestPlaintextRefusal(t *testing.T) {
	e := newEnv(t, envConfig{RealAuth: true, Users: []string{"ann"}})
	rc := e.rawPlain()
	if !strings.Contains(rc.Greet, "LOGINDISABLED") || !strings.Contains(rc.Greet, "STARTTLS") || strings.Contains(rc.Greet, "AUTH=") {
		t.Errorf("plaintext greeting %q: want LOGINDISABLED, STARTTLS, no AUTH=", rc.Greet)
	}
	caps := rc.ok("CAPABILITY")
	if !hasLine(caps, "LOGINDISABLED") || hasLine(caps, "AUTH=") {
		t.Errorf("plaintext CAPABILITY %q", caps)
	}
	plain := b64("\x00ann\x00pw-ann")
	for _, tc := range []struct {
		name string
		cmd  string
	}{
		{"LOGIN", "LOGIN ann pw-ann"},
		{"LOGIN wrong password", "LOGIN ann nope"},
		{"AUTHENTICATE PLAIN with SASL-IR", "AUTHENTICATE PLAIN " + plain},
		{"AUTHENTICATE PLAIN without SASL-IR", "AUTHENTICATE PLAIN"},
		{"AUTHENTICATE LOGIN", "AUTHENTICATE LOGIN"},
		{"AUTHENTICATE LOGIN with SASL-IR", "AUTHENTICATE LOGIN " + b64("ann")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, st := rc.cmd("%s", tc.cmd)
			if !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
				t.Errorf("%s: %q, want NO [PRIVACYREQUIRED]", tc.cmd, st)
			}
		})
	}
	// Still unauthenticated: a mailbox command is refused.
	rc.no("BAD", "SELECT INBOX")
	if n := e.Auth.calls.Load(); n != 0 {
		t.Fatalf("Authenticator called %d times on a plaintext connection", n)
	}

	// The same connection after STARTTLS: the same credentials work.
	rc.startTLS(e.ClientTLS)
	caps = rc.ok("CAPABILITY")
	mustHave(t, caps, "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR")
	if hasLine(caps, "LOGINDISABLED") || hasLine(caps, "STARTTLS") {
		t.Errorf("CAPABILITY after STARTTLS %q", caps)
	}
	rc.ok("LOGIN ann pw-ann")
	caps = rc.ok("CAPABILITY")
	mustHave(t, caps, "IMAP4rev2", "IMAP4rev1", "IDLE", "MOVE", "UIDPLUS", "LITERAL+", "APPENDLIMIT=67108864",
		"SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-STATUS", "STATUS=SIZE", "BINARY", "ESEARCH", "SEARCHRES", "NAMESPACE", "CHILDREN", "UNSELECT", "ENABLE")
	if e.Auth.calls.Load() != 1 {
		t.Errorf("Authenticator calls = %d, want 1", e.Auth.calls.Load())
	}
}

// TestTLSLogin: every mechanism works on implicit TLS and after STARTTLS,
// with go-imap's client.
func TestTLSLogin(t *testing.T) {
	e := newEnv(t, envConfig{})
	dialers := map[string]func() (*imapclient.Client, error){
		"implicit": func() (*imapclient.Client, error) {
			return imapclient.DialTLS(e.TLS, &imapclient.Options{TLSConfig: e.ClientTLS})
		},
		"starttls": func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(e.Plain, &imapclient.Options{TLSConfig: e.ClientTLS})
		},
	}
	for name, dial := range dialers {
		for _, mech := range []string{"LOGIN command", "AUTHENTICATE PLAIN"} {
			t.Run(name+"/"+mech, func(t *testing.T) {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if mech == "LOGIN command" {
					err = c.Login("ann", "pw-ann").Wait()
				} else {
					err = c.Authenticate(sasl.NewPlainClient("", "ann", "pw-ann"))
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatal(err)
				}
				c.Logout().Wait()
			})
		}
	}
}

func TestSASLLoginAndFailures(t *testing.T) {
	e := newEnv(t, envConfig{RealAuth: true, Users: []string{"ann"}})
	t.Run("LOGIN mechanism", func(t *testing.T) {
		rc := e.rawTLS()
		tag := rc.send("AUTHENTICATE LOGIN")
		if l := rc.line(); l != "+ "+b64("Username:") {
			t.Fatalf("challenge %q", l)
		}
		rc.write(b64("ann") + "\r\n")
		if l := rc.line(); l != "+ "+b64("Password:") {
			t.Fatalf("challenge %q", l)
		}
		rc.write(b64("pw-ann") + "\r\n")
		if _, st := rc.wait(tag); !strings.HasPrefix(st, "OK") {
			t.Fatal(st)
		}
	})
	t.Run("LOGIN mechanism with initial response", func(t *testing.T) {
		rc := e.rawTLS()
		tag := rc.send("AUTHENTICATE LOGIN %s", b64("ann"))
		if l := rc.line(); l != "+ "+b64("Password:") {
			t.Fatalf("challenge %q", l)
		}
		rc.write(b64("pw-ann") + "\r\n")
		if _, st := rc.wait(tag); !strings.HasPrefix(st, "OK") {
			t.Fatal(st)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		rc := e.rawTLS()
		rc.no("NO [AUTHENTICATIONFAILED]", "LOGIN ann wrong")
		rc.no("NO [AUTHENTICATIONFAILED]", "AUTHENTICATE PLAIN %s", b64("\x00ann\x00wrong"))
		rc.no("NO [AUTHENTICATIONFAILED]", "LOGIN nobody whatever")
	})
	t.Run("authorization identity", func(t *testing.T) {
		rc := e.rawTLS()
		rc.no("NO [AUTHORIZATIONFAILED]", "AUTHENTICATE PLAIN %s", b64("bob\x00ann\x00pw-ann"))
	})
	t.Run("malformed PLAIN", func(t *testing.T) {
		rc := e.rawTLS()
		rc.no("BAD", "AUTHENTICATE PLAIN %s", b64("garbage"))
		rc.ok("LOGIN ann pw-ann") // the connection is still usable
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		rc := e.rawTLS()
		rc.no("NO", "AUTHENTICATE CRAM-MD5")
	})
}

// TestPreAuthAppend: before login APPEND is refused without reading the
// literal (the advertised limit is zero until then).
func TestPreAuthAppend(t *testing.T) {
	e := newEnv(t, envConfig{})
	rc := e.rawTLS()
	rc.no("NO [TOOBIG]", "APPEND INBOX {10}")
	rc.ok("NOOP")
}

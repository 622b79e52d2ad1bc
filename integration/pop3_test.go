package integration

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	popUser = "ann"
	popPass = "ann-pop3-password"
	popRcpt = "ann@localhost"
)

func startPOP3(t *testing.T) (*Server, []string) {
	t.Helper()
	s := Start(t, Config{})
	s.AddUser(popUser, popPass)
	return s, deliverAll(t, s, popRcpt, pop3Messages()...)
}

// TestPOP3Poplib: Python's poplib over STLS and POP3S, against the binary.
// Every count and body must match what was delivered, byte for byte, and
// DELE+QUIT must be visible over IMAP.
func TestPOP3Poplib(t *testing.T) {
	s, want := startPOP3(t)
	r := runPoplib(t, s, popUser, popPass)

	if !strings.HasPrefix(r.Greeting, "+OK") {
		t.Errorf("greeting %q", r.Greeting)
	}
	if !slices.Contains(r.CapaPlain, "STLS") || slices.Contains(r.CapaPlain, "USER") || slices.Contains(r.CapaPlain, "SASL") {
		t.Errorf("CAPA before TLS: %v", r.CapaPlain)
	}
	if !strings.HasPrefix(r.UserPlain, "-ERR [AUTH]") {
		t.Errorf("USER before TLS: %q, want -ERR [AUTH]", r.UserPlain)
	}
	if !slices.Contains(r.CapaTLS, "USER") || !slices.Contains(r.CapaTLS, "SASL") || slices.Contains(r.CapaTLS, "STLS") {
		t.Errorf("CAPA after STLS: %v", r.CapaTLS)
	}
	total := 0
	var sizes []int
	for _, m := range want {
		total += len(m)
		sizes = append(sizes, len(m))
	}
	if !slices.Equal(r.Stat, []int{len(want), total}) {
		t.Errorf("STAT %v, want [%d %d]", r.Stat, len(want), total)
	}
	if !slices.Equal(r.List, fmtList(sizes...)) {
		t.Errorf("LIST %v, want %v", r.List, fmtList(sizes...))
	}
	if len(r.UIDL) != len(want) || !slices.Equal(r.UIDL, r.UIDL2) {
		t.Errorf("UIDL %v over STLS, %v over POP3S", r.UIDL, r.UIDL2)
	}
	header, _, _ := strings.Cut(want[0], "\r\n\r\n")
	if string(r.Top1) != header+"\r\n\r\n" {
		t.Errorf("TOP 1 0 = %q, want the header and the blank line", r.Top1)
	}
	if len(r.Retr) != len(want) {
		t.Fatalf("%d RETRs, want %d", len(r.Retr), len(want))
	}
	for i, m := range r.Retr {
		if string(m.Body) != want[i] {
			t.Errorf("RETR %d: %d octets differ from the %d delivered", i+1, len(m.Body), len(want[i]))
		}
		if m.Resp != fmt.Sprintf("+OK %d octets", len(want[i])) || m.Octets != len(want[i]) {
			t.Errorf("RETR %d: %q, poplib counted %d; want %d", i+1, m.Resp, m.Octets, len(want[i]))
		}
	}
	if !strings.HasPrefix(r.Auth, "+OK") || !strings.HasPrefix(r.Dele, "+OK") || !strings.HasPrefix(r.Quit2, "+OK") {
		t.Errorf("POP3S session: AUTH %q, DELE %q, QUIT %q", r.Auth, r.Dele, r.Quit2)
	}

	c := s.LoginIMAPS(t, popUser, popPass)
	bodies := Bodies(t, c, "INBOX")
	if len(bodies) != 2 {
		t.Fatalf("IMAP sees %d messages after DELE 1 + QUIT, want 2", len(bodies))
	}
	for _, b := range bodies {
		if b == want[0] {
			t.Fatal("the deleted message is still there")
		}
	}
}

// TestPOP3Curl: curl lists and retrieves over STLS (--ssl-reqd) and POP3S;
// without --ssl-reqd it finds no way to log in without TLS and fails with
// 67 (login denied) without sending the password.
func TestPOP3Curl(t *testing.T) {
	s, want := startPOP3(t)
	_, stlsPort, _ := strings.Cut(s.POP3, ":")
	_, sslPort, _ := strings.Cut(s.POP3S, ":")
	creds := popUser + ":" + popPass
	curl := func(args ...string) (string, int) {
		t.Helper()
		out, errOut, code := runTool(t, nil, "curl", append([]string{"-sS", "--max-time", "30", "--user", creds}, args...)...)
		if code != 0 && code != 67 {
			t.Logf("curl %v: exit %d: %s", args, code, errOut)
		}
		return out, code
	}
	var list strings.Builder
	for i, m := range want {
		fmt.Fprintf(&list, "%d %d\r\n", i+1, len(m))
	}
	cases := []struct{ name, url, want string }{
		{"STLS list", "pop3://localhost:" + stlsPort + "/", list.String()},
		{"STLS retrieve", "pop3://localhost:" + stlsPort + "/2", want[1]},
		{"POP3S list", "pop3s://localhost:" + sslPort + "/", list.String()},
		{"POP3S retrieve", "pop3s://localhost:" + sslPort + "/3", want[2]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := curl("--ssl-reqd", "--cacert", s.CAFile(), tc.url)
			if code != 0 || out != tc.want {
				t.Fatalf("exit %d, %d octets; want 0 and %d octets:\n%.300q", code, len(out), len(tc.want), out)
			}
		})
	}
	t.Run("plaintext refused", func(t *testing.T) {
		trace := filepath.Join(t.TempDir(), "trace")
		_, code := curl("--trace-ascii", trace, "pop3://localhost:"+stlsPort+"/1")
		if code != 67 {
			t.Fatalf("curl exit %d, want 67 (login denied)", code)
		}
		b, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + popUser + "\x00" + popPass))
		if strings.Contains(string(b), popPass) || strings.Contains(string(b), plain) {
			t.Fatalf("curl sent the password in clear:\n%s", b)
		}
	})
}

// TestPOP3Fetchmail: fetchmail polls "localhost" (the certificate's name)
// over STLS, verifying the certificate, keeps the messages and hands them
// to an MDA; a second poll with UIDL finds nothing new, a third fetches
// exactly the one delivered in between.
func TestPOP3Fetchmail(t *testing.T) {
	needTool(t, "fetchmail")
	s, want := startPOP3(t)
	_, port, _ := strings.Cut(s.POP3, ":")
	home := t.TempDir()
	mbox := filepath.Join(home, "mbox")
	rc := func(name string, fetchall bool) string {
		keep := "keep"
		if fetchall {
			keep = "keep fetchall"
		}
		p := filepath.Join(home, name)
		conf := fmt.Sprintf(`poll localhost with protocol POP3 port %s uidl:
  user "%s" there with password "%s" is "%s" here
  sslproto "tls1.2+" sslcertck sslcertfile "%s"
  %s
  mda "cat >> %s"
`, port, popUser, popPass, popUser, s.CAFile(), keep, mbox)
		if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	poll := func(rcfile string) (string, int) {
		t.Helper()
		out, errOut, code := runTool(t, []string{"HOME=" + home}, "fetchmail", "--nosyslog", "-v",
			"-f", rcfile, "--idfile", filepath.Join(home, "ids"), "--pidfile", filepath.Join(home, "pid"))
		return out + errOut, code
	}
	out, code := poll(rc("all.rc", true))
	if code != 0 {
		t.Fatalf("fetchmail exit %d:\n%s", code, out)
	}
	// It must have used STLS, not plaintext.
	if !strings.Contains(out, "POP3> STLS") || !strings.Contains(out, "upgrade to TLS succeeded") {
		t.Fatalf("fetchmail did not use STLS:\n%s", out)
	}
	got, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	// fetchmail adds a Received: header and strips CR for an MDA.
	checkMbox := func(got string, msgs []string) {
		t.Helper()
		if n := strings.Count(got, "Received: from localhost"); n != len(msgs) {
			t.Fatalf("MDA got %d messages, want %d", n, len(msgs))
		}
		for i, m := range msgs {
			if !strings.Contains(got, strings.ReplaceAll(m, "\r\n", "\n")) {
				t.Fatalf("message %d not delivered intact to the MDA", i+1)
			}
		}
	}
	checkMbox(string(got), want)

	uidOnly := rc("new.rc", false)
	if out, code := poll(uidOnly); code != 1 || !strings.Contains(out, "3 messages (3 seen)") || strings.Contains(out, "reading message") {
		t.Fatalf("second poll: exit %d, want 1 (no new mail):\n%s", code, out)
	}
	late := deliverAll(t, s, popRcpt, testMessage("pop late", "after the first poll"))
	if out, code := poll(uidOnly); code != 0 || !strings.Contains(out, "4 messages (3 seen)") || strings.Count(out, "reading message") != 1 {
		t.Fatalf("third poll: exit %d, want one new message:\n%s", code, out)
	}
	got, _ = os.ReadFile(mbox)
	checkMbox(string(got), append(want, late...))
	if c := s.LoginIMAPS(t, popUser, popPass); len(Bodies(t, c, "INBOX")) != 4 {
		t.Fatal("keep: messages were deleted")
	}
}

// TestPOP3PlaintextRefusal is the TLS matrix on the binary: on the STLS port
// before STLS, every way of sending a credential gets -ERR and the login
// path never sees it (no log line for the user); the same credentials work
// after STLS and on the POP3S port.
func TestPOP3PlaintextRefusal(t *testing.T) {
	s, _ := startPOP3(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + popUser + "\x00" + popPass))
	cases := []struct {
		name  string
		lines []string // each must be refused
	}{
		{"USER", []string{"USER " + popUser}},
		{"USER then PASS", []string{"USER " + popUser, "PASS " + popPass}},
		{"PASS", []string{"PASS " + popPass}},
		{"APOP", []string{"APOP " + popUser + " c4c9334bac560ecc979e58001b3e22fb"}},
		{"AUTH PLAIN", []string{"AUTH PLAIN"}},
		{"AUTH PLAIN initial response", []string{"AUTH PLAIN " + ir}},
		{"AUTH list", []string{"AUTH"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWirePOP(t, s.POP3, nil)
			for _, l := range tc.lines {
				if r := c.expectErr(l); !strings.Contains(r, "[AUTH]") {
					t.Errorf("%q: %q lacks [AUTH]", l, r)
				}
			}
			// A refused AUTH PLAIN must not leave a continuation pending.
			if _, caps := c.multi("CAPA"); !strings.Contains(caps, "STLS") {
				t.Fatalf("CAPA %q", caps)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let the log catch up
	// The login path logs every check ("login", "login failed",
	// throttling) with component=login; pop3d logs a user only once it
	// has called it.
	if l := append(logLines(s, "component=login"), logLines(s, "proto=pop3", "user=")...); len(l) > 0 {
		t.Fatalf("the login path saw a plaintext credential:\n%s", strings.Join(l, "\n"))
	}
	if len(logLines(s, "proto=pop3", "cmd=AUTH")) != 3 || len(logLines(s, "proto=pop3", "cmd=PASS")) != 2 {
		t.Fatal("the refused commands did not reach the POP3 server") // the check above would be vacuous
	}
	if strings.Contains(s.Log(), popPass) {
		t.Fatal("the password is in the log")
	}

	for _, tls := range []string{"STLS", "POP3S"} {
		for _, login := range []string{"USER/PASS", "AUTH PLAIN", "AUTH PLAIN continuation"} {
			t.Run(tls+" "+login, func(t *testing.T) {
				var c *wirePOP
				if tls == "STLS" {
					c = dialWirePOP(t, s.POP3, nil)
					c.mustSTLS(s.TLSConfig())
				} else {
					c = dialWirePOP(t, s.POP3S, s.TLSConfig())
				}
				switch login {
				case "USER/PASS":
					c.login(popUser, popPass)
				case "AUTH PLAIN":
					c.expectOK("AUTH PLAIN " + ir)
				default:
					if r := c.cmd("AUTH PLAIN"); r != "+ " {
						t.Fatalf("AUTH PLAIN: %q, want a continuation", r)
					}
					c.expectOK(ir)
				}
				c.expectOK("STAT")
				c.expectOK("QUIT")
			})
		}
	}
	if n := len(logLines(s, "component=login", "msg=login", "user="+popUser)); n != 6 {
		t.Errorf("%d logins logged by the login path, want 6", n)
	}
}

// TestPOP3IMAPExpungeDuringSession: an IMAP client expunges a message while
// a POP3 session has it in its snapshot; RETR of it fails, the rest of the
// session works, and DELE+QUIT commits.
func TestPOP3IMAPExpungeDuringSession(t *testing.T) {
	s, want := startPOP3(t)
	p := dialWirePOP(t, s.POP3S, s.TLSConfig())
	p.login(popUser, popPass)

	c := s.LoginIMAPS(t, popUser, popPass)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	seq2 := imap.SeqSetNum(2)
	if err := c.Store(seq2, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}

	p.expectOK("STAT")
	p.expectErr("RETR 2")
	p.expectErr("TOP 2 0")
	for _, n := range []int{1, 3} {
		if _, b := p.multi(fmt.Sprintf("RETR %d", n)); b != want[n-1] {
			t.Fatalf("RETR %d after the expunge: wrong body", n)
		}
	}
	p.expectOK("DELE 1")
	p.expectOK("DELE 2") // already gone: ignored at QUIT
	p.expectOK("QUIT")
	p.expectClosed()

	bodies := Bodies(t, c, "INBOX")
	if len(bodies) != 1 {
		t.Fatalf("IMAP sees %d messages, want 1", len(bodies))
	}
	for _, b := range bodies {
		if b != want[2] {
			t.Fatal("the wrong message survived")
		}
	}
}

// TestPOP3DeleteSeenByIMAPIdle: DELE+QUIT over POP3 reaches an IDLE-ing
// IMAP client as EXPUNGE within a second.
func TestPOP3DeleteSeenByIMAPIdle(t *testing.T) {
	s, _ := startPOP3(t)
	var mu sync.Mutex
	var expunged []uint32
	got := make(chan struct{}, 8)
	c, err := imapclient.DialTLS(s.IMAPS, &imapclient.Options{
		TLSConfig: s.TLSConfig(),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) {
				mu.Lock()
				expunged = append(expunged, seq)
				mu.Unlock()
				got <- struct{}{}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(popUser, popPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}

	p := dialWirePOP(t, s.POP3S, s.TLSConfig())
	p.login(popUser, popPass)
	p.expectOK("DELE 1")
	p.expectOK("DELE 3")
	p.expectOK("QUIT")
	quit := time.Now()
	for range 2 {
		select {
		case <-got:
		case <-time.After(time.Second):
			t.Fatalf("IDLE saw %v within 1s of QUIT, want two EXPUNGEs", expunged)
		}
	}
	t.Logf("EXPUNGEs reached the IDLE client %v after QUIT", time.Since(quit))
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Seq 1 goes, then the old 3 is seq 2 (in either order: 3 then 1).
	if !slices.Equal(expunged, []uint32{1, 2}) && !slices.Equal(expunged, []uint32{3, 1}) {
		t.Fatalf("EXPUNGE %v", expunged)
	}
}

// TestPOP3UIDLAcrossRestart: UIDL values survive a restart of the binary.
func TestPOP3UIDLAcrossRestart(t *testing.T) {
	s, _ := startPOP3(t)
	before := uidlOf(t, s, popUser, popPass)
	if strings.Count(before, "\r\n") != 3 {
		t.Fatalf("UIDL %q", before)
	}
	s.Restart()
	if after := uidlOf(t, s, popUser, popPass); after != before {
		t.Fatalf("UIDL changed across restart:\n%s\nthen\n%s", before, after)
	}
	// After deleting message 1, the others keep their ids.
	c := dialWirePOP(t, s.POP3S, s.TLSConfig())
	c.login(popUser, popPass)
	c.expectOK("DELE 1")
	c.expectOK("QUIT")
	s.Restart()
	lines := strings.Split(strings.TrimSuffix(before, "\r\n"), "\r\n")
	var rest []string
	for i, l := range lines[1:] {
		_, id, _ := strings.Cut(l, " ")
		rest = append(rest, fmt.Sprintf("%d %s", i+1, id))
	}
	if after := uidlOf(t, s, popUser, popPass); after != strings.Join(rest, "\r\n")+"\r\n" {
		t.Fatalf("UIDL after DELE and restart %q, want %q", after, rest)
	}
}

// TestPOP3InUse: a second concurrent login gets [IN-USE]; once the first
// session quits, it succeeds at once.
func TestPOP3InUse(t *testing.T) {
	s, _ := startPOP3(t)
	first := dialWirePOP(t, s.POP3S, s.TLSConfig())
	first.login(popUser, popPass)
	second := dialWirePOP(t, s.POP3, nil)
	second.mustSTLS(s.TLSConfig())
	second.expectOK("USER " + popUser)
	if r := second.expectErr("PASS " + popPass); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("second login: %q, want -ERR [IN-USE]", r)
	}
	first.expectOK("QUIT")
	second.login(popUser, popPass)
	second.expectOK("STAT")

	// A clean shutdown (a session still open) is not an error.
	s.Stop()
	if l := logLines(s, "level=ERROR"); len(l) > 0 {
		t.Fatalf("errors logged:\n%s", strings.Join(l, "\n"))
	}
}

// TestPOP3UnterminatedAppend: a message appended over IMAP without a final
// CRLF is listed with the size RETR sends, which ends it with CRLF.
func TestPOP3UnterminatedAppend(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser(popUser, popPass)
	c := s.LoginIMAPS(t, popUser, popPass)
	const nonl = "Subject: nonl\r\n\r\nno newline at end"
	for _, m := range []string{nonl, "x"} {
		cmd := c.Append("INBOX", int64(len(m)), nil)
		cmd.Write([]byte(m))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	p := dialWirePOP(t, s.POP3S, s.TLSConfig())
	p.login(popUser, popPass)
	if _, l := p.multi("LIST"); l != fmt.Sprintf("1 %d\r\n2 3\r\n", len(nonl)+2) {
		t.Fatalf("LIST %q", l)
	}
	first, b := p.multi("RETR 1")
	if first != fmt.Sprintf("+OK %d octets", len(nonl)+2) || b != nonl+"\r\n" {
		t.Fatalf("RETR 1: %q %q", first, b)
	}
	p.expectOK("QUIT")
}

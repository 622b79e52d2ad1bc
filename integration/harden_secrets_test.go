package integration

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"sealpost/mailstore"
)

// Unique markers: none may ever appear in the server log.
const (
	secretPass   = "Pw-7c1e-Sekr3t"  // ann's password
	secretWrong1 = "Wr0ng-a93f-one"  // failed logins
	secretWrong2 = "Wr0ng-b27d-two"  // failed logins
	secretNew    = "Pw-5e0b-Rotated" // set with user passwd
	bodyMarker   = "BODY-4f2a-MARKER"
	subjMarker   = "SUBJ-8d3c-MARKER"
	appendMarker = "APPENDED-61be-BODY"
)

// secretForms returns every encoding of a secret a client sends: itself,
// base64 of it (SASL LOGIN), and the SASL PLAIN blobs.
func secretForms(user, pass string) []string {
	b := base64.StdEncoding.EncodeToString
	return []string{pass, b([]byte(pass)), b([]byte("\x00" + user + "\x00" + pass)), b([]byte(user + "\x00" + user + "\x00" + pass)),
		"\x00" + user + "\x00" + pass}
}

// fullSession uses every credential path and message path once.
func fullSession(t *testing.T, s *Server) {
	t.Helper()
	tc := s.TLSConfig()
	msg := fmt.Sprintf("From: x@example.org\r\nTo: ann@localhost\r\nSubject: %s\r\n\r\n%s\r\n", subjMarker, bodyMarker)
	if codes := lmtpSend(t, "unix", s.Socket, "x@example.org", []string{"ann@localhost"}, msg); codes["ann@localhost"] != 250 {
		t.Fatalf("delivery: %v", codes)
	}
	imapOK := func(r *wireIMAP, cmd string) {
		t.Helper()
		if _, st, err := r.do(cmd); err != nil || !strings.HasPrefix(st, "OK") {
			t.Fatalf("%.60s: %q %v", cmd, st, err)
		}
	}
	imapNO := func(r *wireIMAP, cmd string) {
		t.Helper()
		if _, st, err := r.do(cmd); err != nil || strings.HasPrefix(st, "OK") {
			t.Fatalf("%.60s: %q %v, want a refusal", cmd, st, err)
		}
	}
	// Plaintext first: refused before anything is checked, never logged.
	r, err := dialIMAP(userIP, s.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	imapNO(r, "LOGIN ann "+secretPass)
	imapNO(r, "AUTHENTICATE PLAIN "+saslPlain("ann", secretPass))
	r.Close()
	p, err := dialPOP3(userIP, s.POP3, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.do("USER ann")
	p.do("PASS " + secretPass)
	p.do("AUTH PLAIN " + saslPlain("ann", secretPass))
	p.Close()

	// IMAP over TLS: wrong passwords, malformed lines with the password,
	// every mechanism, then mail.
	r, err = dialIMAP(userIP, s.IMAPS, tc)
	if err != nil {
		t.Fatal(err)
	}
	imapNO(r, "LOGIN ann "+secretWrong1)
	imapNO(r, "AUTHENTICATE PLAIN "+saslPlain("ann", secretWrong2))
	imapNO(r, "LOGIN ann "+secretPass+" extra")     // syntax error
	imapNO(r, `LOGIN ann "`+secretPass+`\q"`)       // bad quoted string
	imapNO(r, "LOGIN ann ("+secretPass+")")         // a list, not a string
	imapNO(r, "AUTHENTICATE PLAIN "+secretPass+"!") // not base64
	r.Close()
	for _, auth := range []func(r *wireIMAP){
		func(r *wireIMAP) { imapOK(r, "LOGIN ann "+secretPass) },
		func(r *wireIMAP) { imapOK(r, "AUTHENTICATE PLAIN "+saslPlain("ann", secretPass)) },
		func(r *wireIMAP) {
			// Without initial response, then SASL LOGIN: continuation lines.
			tag := r.nextTag()
			fmt.Fprintf(r.nc, "%s AUTHENTICATE LOGIN\r\n", tag)
			for _, resp := range []string{"ann", secretPass} {
				if l, err := r.readLineWithin(10e9); err != nil || !strings.HasPrefix(l, "+") {
					t.Fatalf("AUTHENTICATE LOGIN: %q %v", l, err)
				}
				fmt.Fprintf(r.nc, "%s\r\n", base64.StdEncoding.EncodeToString([]byte(resp)))
			}
			if l, err := r.readLineWithin(10e9); err != nil || !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("AUTHENTICATE LOGIN: %q %v", l, err)
			}
		},
	} {
		r, err := dialIMAP(userIP, s.IMAPS, tc)
		if err != nil {
			t.Fatal(err)
		}
		auth(r)
		imapOK(r, "SELECT INBOX")
		imapOK(r, "FETCH 1 (BODY[] BODY[TEXT] BODY[HEADER.FIELDS (SUBJECT)] ENVELOPE)")
		imapOK(r, "APPEND INBOX "+lit("Subject: a\r\n\r\n"+appendMarker+"\r\n"))
		imapOK(r, "SEARCH BODY "+bodyMarker)
		imapOK(r, "LOGOUT")
		r.Close()
	}
	// STARTTLS, then LOGIN.
	r, err = dialIMAP(userIP, s.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.startTLS(tc); err != nil {
		t.Fatal(err)
	}
	imapOK(r, "LOGIN ann "+secretPass)
	r.Close()

	// POP3 over TLS.
	pop := func(cmds ...string) {
		t.Helper()
		p, err := dialPOP3(userIP, s.POP3S, tc)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, c := range cmds {
			st, err := p.do(c)
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			if strings.HasPrefix(c, "RETR") || strings.HasPrefix(c, "TOP") {
				if body, _ := p.readMulti(); !strings.Contains(strings.Join(body, "\n"), subjMarker) {
					t.Fatalf("%s: no message", c)
				}
			}
			_ = st
		}
	}
	pop("USER ann", "PASS "+secretWrong1, "AUTH PLAIN "+saslPlain("ann", secretWrong2), "AUTH PLAIN "+secretPass)
	pop("USER ann", "PASS "+secretPass, "RETR 1", "TOP 1 5", "QUIT")
	pop("AUTH PLAIN "+saslPlain("ann", secretPass), "RETR 1", "QUIT")
	func() { // AUTH PLAIN with the response on a continuation line
		p, err := dialPOP3(userIP, s.POP3S, tc)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if st, _ := p.do("AUTH PLAIN"); !strings.HasPrefix(st, "+") {
			t.Fatalf("AUTH PLAIN: %q", st)
		}
		if st, _ := p.do(saslPlain("ann", secretPass)); !strings.HasPrefix(st, "+OK") {
			t.Fatalf("AUTH PLAIN continuation: %q", st)
		}
	}()
	// Password change through the CLI (control socket).
	if out, code := s.Sealpost(secretNew+"\n", "user", "passwd", "ann", "--password-stdin", "--data", s.Data); code != 0 {
		t.Fatalf("user passwd: %d %s", code, out)
	}
	pop("USER ann", "PASS "+secretNew, "QUIT")
}

// checkNoSecrets fails for every marker found in log.
func checkNoSecrets(t *testing.T, log string) {
	t.Helper()
	var needles []string
	for _, p := range []string{secretPass, secretWrong1, secretWrong2, secretNew} {
		needles = append(needles, secretForms("ann", p)...)
	}
	needles = append(needles, bodyMarker, subjMarker, appendMarker)
	for _, n := range needles {
		if i := strings.Index(log, n); i >= 0 {
			line := log[strings.LastIndex(log[:i], "\n")+1:]
			line, _, _ = strings.Cut(line, "\n")
			t.Errorf("server log contains %q:\n%s", n, line)
		}
	}
}

// A full session at --log-level debug, in text and in JSON, never logs a
// password (in any encoding a client sends it), a SASL blob or message
// content.
func TestHardenSecretsNotLogged(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel() // two servers, mostly hashing passwords: use both cores
			s := Start(t, Config{Extra: []string{"--log-format", format}})
			s.AddUser("ann", secretPass)
			fullSession(t, s)
			s.Stop() // everything logged, shutdown included
			log := s.Log()
			checkNoSecrets(t, log)
			lines := strings.Count(log, "\n")
			debug := countLog(log, "level=DEBUG") + countLog(log, `"level":"DEBUG"`)
			logins := countLog(log, "component=login") + countLog(log, `"component":"login"`)
			if debug == 0 || logins < 10 {
				t.Errorf("log has %d debug lines and %d login lines: the session was not logged at debug level", debug, logins)
			}
			t.Logf("%s log: %d lines (%d debug, %d from the login component) searched for %d needles: none found",
				format, lines, debug, logins, 4*len(secretForms("", ""))+3)
		})
	}
}

// Files and sockets are created with restrictive modes, whatever the
// umask: the server runs with umask 000 here.
func TestHardenFileModes(t *testing.T) {
	old := syscall.Umask(0)
	s := Start(t, Config{})
	syscall.Umask(old)
	s.AddUser("ann", "ann-pw")
	// Bodies too big to be kept inside mail.db, so each gets a file.
	big := strings.Repeat("a line of a big message\r\n", mailstore.DefaultInlineBodyMax/25+1)
	if codes := lmtpSend(t, "unix", s.Socket, "x@example.org", []string{"ann@localhost"}, testMessage("modes", big)); codes["ann@localhost"] != 250 {
		t.Fatalf("delivery: %v", codes)
	}
	c := s.LoginIMAPS(t, "ann", "ann-pw")
	appended := "Subject: big\r\n\r\n" + big
	cmd := c.Append("INBOX", int64(len(appended)), nil)
	cmd.Write([]byte(appended))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	blobs, n := 0, 0
	err := filepath.WalkDir(s.Data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		rel, _ := filepath.Rel(s.Data, p)
		mode := fi.Mode()
		perm := mode.Perm()
		var want string
		switch {
		case rel == ".":
			if perm&0o077 != 0 {
				want = "0700 (data dir)"
			}
		case rel == "lmtp.sock":
			// Its group is being redesigned; it must never be world-writable.
			if perm&0o002 != 0 {
				want = "not world-writable"
			}
		case rel == filepath.Join("tls", "cert.pem"):
			// Public, inside the 0700 data dir.
		case mode.IsDir():
			if perm&0o077 != 0 {
				want = "0700"
			}
		default: // databases, message files, the key, control.sock
			if perm&0o077 != 0 {
				want = "0600"
			}
			if strings.HasPrefix(rel, "users"+string(filepath.Separator)) && strings.Contains(rel, "blobs") {
				blobs++
			}
		}
		if want != "" {
			t.Errorf("%s: mode %s, want %s", rel, mode, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"global.db", "control.sock", "lmtp.sock", filepath.Join("tls", "key.pem")} {
		if _, err := os.Lstat(filepath.Join(s.Data, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if blobs < 2 {
		t.Errorf("found %d message files, want at least 2", blobs)
	}
	t.Logf("umask 000: %d data dir entries checked (%d message files): dirs 0700, files and control.sock 0600, lmtp.sock not world-writable", n, blobs)
}

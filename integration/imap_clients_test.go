package integration

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Independent IMAP clients against the binary: Python's imaplib and curl.

// localhostAddr rewrites 127.0.0.1:port to localhost:port, the name the
// generated certificate is for.
func localhostAddr(t *testing.T, addr string) (host, port string) {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return "localhost", port
}

func runImaplib(t *testing.T, s *Server, mode, addr, user, pass string) map[string]any {
	t.Helper()
	host, port := localhostAddr(t, addr)
	cmd := exec.Command("python3", filepath.Join("testdata", "imaplib_client.py"), mode, host, port, s.CAFile(), user, pass)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	done := make(chan struct{})
	time.AfterFunc(30*time.Second, func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
		}
	})
	out, err := cmd.Output()
	close(done)
	if err != nil {
		t.Fatalf("imaplib %s: %v\n%s%s", mode, err, out, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("imaplib %s: %v: %s", mode, err, out)
	}
	return res
}

func TestIMAPPythonImaplib(t *testing.T) {
	needTool(t, "python3")
	s := Start(t, Config{})
	second := "From: Carol <carol@example.org>\r\nTo: py@example.com\r\nSubject: the second one\r\n" +
		"Date: Tue, 02 Apr 2024 11:00:00 +0000\r\nMessage-ID: <second@example.org>\r\n\r\nline one\r\nline two\r\n"
	for _, tc := range []struct{ mode, user, addr string }{
		{"starttls", "pya", s.IMAP},
		{"ssl", "pyb", s.IMAPS},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			pass := tc.user + "-pw"
			s.AddUser(tc.user, pass)
			rcpt := tc.user + "@example.com"
			deliver(t, s, rcpt, msgPlain)
			deliver(t, s, rcpt, second)
			if tc.mode == "starttls" {
				// Without starttls(): imaplib sends LOGIN anyway; the
				// server refuses it unseen.
				res := runImaplib(t, s, "plain", tc.addr, tc.user, pass)
				if !slices.Contains(anyStrings(res["capabilities"]), "LOGINDISABLED") {
					t.Errorf("plaintext capabilities: %v", res["capabilities"])
				}
				if res["login"] != "refused" || !strings.Contains(res["error"].(string), "PRIVACYREQUIRED") {
					t.Errorf("plain IMAP4 login: %v %v", res["login"], res["error"])
				}
			}
			res := runImaplib(t, s, tc.mode, tc.addr, tc.user, pass)
			if tc.mode == "starttls" {
				if before := anyStrings(res["capabilities_before_tls"]); !slices.Contains(before, "STARTTLS") || !slices.Contains(before, "LOGINDISABLED") {
					t.Errorf("capabilities before starttls(): %v", before)
				}
			}
			if caps := anyStrings(res["capabilities"]); !slices.Contains(caps, "AUTH=PLAIN") || slices.Contains(caps, "LOGINDISABLED") {
				t.Errorf("capabilities with TLS: %v", caps)
			}
			if l := strings.Join(anyStrings(res["list"]), "\n"); !strings.Contains(l, `"/" INBOX`) || !strings.Contains(l, `\Trash`) {
				t.Errorf("list: %s", l)
			}
			if res["exists"] != 2.0 || !slices.Equal(anyStrings(res["uids"]), []string{"1", "2"}) {
				t.Errorf("select/search: exists %v uids %v", res["exists"], res["uids"])
			}
			msgs := res["messages"].(map[string]any)
			for uid, want := range map[string]string{"1": delivered(rcpt, msgPlain), "2": delivered(rcpt, second)} {
				got, err := base64.StdEncoding.DecodeString(msgs[uid].(string))
				if err != nil || string(got) != want {
					t.Errorf("RFC822 of UID %s differs from what was delivered:\n%q\nwant\n%q", uid, got, want)
				}
			}
			if res["search_subject"] != "2" || res["search_unseen"] != "" {
				t.Errorf("search SUBJECT second: %q, UNSEEN after RFC822: %q", res["search_subject"], res["search_unseen"])
			}
			if f := res["flags_1"].(string); !strings.Contains(f, `\Flagged`) || !strings.Contains(f, "$Python") || !strings.Contains(f, `\Seen`) {
				t.Errorf("flags after store: %s", f)
			}
			if c := anyStrings(res["copy"]); len(c) < 2 || c[0] != "OK" || !strings.Contains(c[1], "COPYUID") {
				t.Errorf("copy: %v", c)
			}
			if e := anyStrings(res["expunge"]); !slices.Equal(e, []string{"1"}) {
				t.Errorf("expunge: %v", e)
			}
			unquote := func(v any) string { s, _ := v.(string); return strings.ReplaceAll(s, `"`, "") }
			if unquote(res["status_inbox"]) != "INBOX (MESSAGES 1)" || unquote(res["status_archive"]) != "Archive (MESSAGES 1)" {
				t.Errorf("status: %v / %v", res["status_inbox"], res["status_archive"])
			}
			if res["logout"] != "BYE" {
				t.Errorf("logout: %v", res["logout"])
			}
			// The plaintext attempt never reached the login path; the TLS
			// session logged in exactly once.
			waitLogin(t, s, tc.user)
			if n := loginAttempts(s.Log(), tc.user); n != 1 {
				t.Errorf("%d login attempts for %s in the server log, want 1 (the TLS one)", n, tc.user)
			}
		})
	}
}

// waitLogin waits until the server has logged a successful login of user.
func waitLogin(t *testing.T, s *Server, user string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Log(), "msg=login component=login remote=127.0.0.1 user="+user) {
		if time.Now().After(deadline) {
			t.Fatalf("no successful login of %s in the server log", user)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// curl runs curl with args and returns stdout, stderr and the exit code.
func curl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestIMAPCurl(t *testing.T) {
	needTool(t, "curl")
	s := Start(t, Config{})
	const user, pass = "cu", "curl-Pw-1"
	s.AddUser(user, pass)
	deliver(t, s, "cu@example.com", msgPlain)
	deliver(t, s, "cu@example.com", msgMultipart)
	_, imapPort := localhostAddr(t, s.IMAP)
	_, imapsPort := localhostAddr(t, s.IMAPS)
	ca := s.CAFile()
	creds := user + ":" + pass

	// First the plaintext attempt: curl sees LOGINDISABLED and gives up
	// with 67 (login denied) before sending the password.
	trace := filepath.Join(t.TempDir(), "trace")
	_, stderr, code := curl(t, "--user", creds, "--trace-ascii", trace, "imap://localhost:"+imapPort+"/INBOX;UID=1")
	if code != 67 {
		t.Errorf("curl imap:// without --ssl-reqd: exit %d (want 67): %s", code, stderr)
	}
	tr, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(tr), pass) || strings.Contains(string(tr), b64("\x00"+user+"\x00"+pass)) || strings.Contains(string(tr), b64(pass)) {
		t.Errorf("curl sent the password over plaintext:\n%s", tr)
	}

	cases := []struct{ name, url string }{
		{"imap --ssl-reqd (STARTTLS)", "imap://localhost:" + imapPort},
		{"imaps", "imaps://localhost:" + imapsPort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tls := []string{"--ssl-reqd", "--cacert", ca, "--user", creds}
			// Several URLs in one run share one connection and one login.
			dir := t.TempDir()
			urls := []struct{ path, want string }{
				{"/INBOX;UID=1", delivered("cu@example.com", msgPlain)},
				{"/INBOX;UID=2;SECTION=1", multipartPart1Body},
				{"/INBOX?SUBJECT%20multipart", "* SEARCH 2\r\n"},
				{"/", "* LIST (\\HasNoChildren) \"/\" INBOX"},
			}
			args := slices.Clone(tls)
			for i, u := range urls {
				args = append(args, tc.url+u.path, "-o", filepath.Join(dir, strconv.Itoa(i)))
			}
			if _, stderr, code := curl(t, args...); code != 0 {
				t.Fatalf("curl: exit %d %s", code, stderr)
			}
			for i, u := range urls {
				got, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				if u.path == "/" && !strings.Contains(string(got), u.want) || u.path != "/" && string(got) != u.want {
					t.Errorf("%s: got\n%q\nwant\n%q", u.path, got, u.want)
				}
			}
			out, stderr, code := curl(t, append(tls, tc.url+"/", "-X", "STATUS INBOX (MESSAGES)")...)
			if code != 0 || !strings.Contains(out, "* STATUS INBOX (MESSAGES 2)") {
				t.Errorf("STATUS: exit %d %s\n%q", code, stderr, out)
			}
		})
	}
	// A wrong password over TLS is refused (curl 67), and a refused
	// certificate stops curl before any login.
	if _, stderr, code := curl(t, "--ssl-reqd", "--cacert", ca, "--user", user+":wrong", "imaps://localhost:"+imapsPort+"/INBOX;UID=1"); code != 67 {
		t.Errorf("wrong password: exit %d %s", code, stderr)
	}
	if _, stderr, code := curl(t, "--ssl-reqd", "--user", creds, "imaps://localhost:"+imapsPort+"/INBOX;UID=1"); code != 60 {
		t.Errorf("untrusted certificate: exit %d (want 60) %s", code, stderr)
	}
	// Every TLS request logged in once; the plaintext one never reached
	// the login path.
	want := 2*2 + 1
	for deadline := time.Now().Add(5 * time.Second); loginAttempts(s.Log(), user) < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := loginAttempts(s.Log(), user); n != want {
		t.Errorf("%d login attempts for %s in the server log, want %d", n, user, want)
	}
}

package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// LMTP over the unix socket and over TCP, with swaks as the client: in one
// transaction a known recipient gets 250 and an unknown one 550 5.1.1.
func TestLMTPWithSwaks(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	cases := []struct {
		name string
		args []string
	}{
		{"unix socket", []string{"--socket", s.Socket}},
		{"tcp", []string{"--server", s.LMTP}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--protocol", "LMTP", "--from", "sender@example.org",
				"--to", "ann@example.com,nobody@example.com", "--header", "Subject: via " + tc.name,
				"--body", "hello over " + tc.name}, tc.args...)
			out, _ := swaks(t, args...)
			if !strings.Contains(out, "<-  250 2.0.0 <ann@example.com>") {
				t.Fatalf("no 250 for ann:\n%s", out)
			}
			if !strings.Contains(out, "550 5.1.1") {
				t.Fatalf("no 550 5.1.1 for the unknown user:\n%s", out)
			}
		})
	}
	c := s.LoginIMAPS(t, "ann", "ann-password")
	bodies := Bodies(t, c, "INBOX")
	if len(bodies) != 2 {
		t.Fatalf("INBOX has %d messages, want 2", len(bodies))
	}
	for _, b := range bodies {
		if !strings.HasPrefix(b, "Return-Path: <sender@example.org>\r\nDelivered-To: ann@example.com\r\n") {
			t.Errorf("missing Return-Path/Delivered-To:\n%s", b)
		}
		if !strings.Contains(b, "hello over") {
			t.Errorf("body lost:\n%s", b)
		}
	}
}

func TestLMTPAddressing(t *testing.T) {
	s := Start(t, Config{Extra: []string{}})
	s.AddUser("ann", "ann-password")
	codes := lmtpSend(t, "unix", s.Socket, "sender@example.org",
		[]string{"ann+lists@example.com", "ANN@example.com", "ghost@example.com", "bad address@x"},
		testMessage("tagged", "tag test"))
	want := map[string]int{"ann+lists@example.com": 250, "ANN@example.com": 250, "ghost@example.com": 550, "bad address@x": 553}
	for r, c := range want {
		if codes[r] != c && !(r == "bad address@x" && codes[r] >= 500) {
			t.Errorf("%s: reply %d, want %d", r, codes[r], c)
		}
	}
	c := s.LoginIMAPS(t, "ann", "ann-password")
	if n := len(Bodies(t, c, "INBOX")); n != 2 {
		t.Fatalf("INBOX has %d messages, want 2", n)
	}
}

// sealpost deliver: the LDA path for Postfix's mailbox_command / pipe(8).
func TestDeliverCommand(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "ann-password")
	run := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(binary, append([]string{"deliver", "--data", s.Data}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	msg := "From sender@example.org Sat Nov 21 10:00:00 2026\nSubject: piped\nFrom: sender@example.org\n\npiped body\n"
	if out, code := run(msg, "-d", "ann", "-f", "sender@example.org"); code != 0 {
		t.Fatalf("deliver: exit %d: %s", code, out)
	}
	if out, code := run(msg, "-d", "nobody"); code != 67 || !strings.Contains(out, "unknown user") {
		t.Fatalf("unknown user: exit %d: %s", code, out)
	}
	if out, code := run("", "-d", "ann"); code != 65 {
		t.Fatalf("empty message: exit %d: %s", code, out)
	}
	if _, code := run(msg); code != 64 {
		t.Fatalf("no -d: exit %d", code)
	}
	c := s.LoginIMAPS(t, "ann", "ann-password")
	bodies := Bodies(t, c, "INBOX")
	if len(bodies) != 1 {
		t.Fatalf("INBOX has %d messages", len(bodies))
	}
	for _, b := range bodies {
		if strings.Contains(b, "From sender@example.org Sat") || !strings.Contains(b, "piped body\r\n") {
			t.Fatalf("stored message wrong:\n%q", b)
		}
	}
	s.Stop()
	if out, code := run(msg, "-d", "ann"); code != 75 {
		t.Fatalf("server stopped: exit %d (want 75): %s", code, out)
	}
}

// User administration through the CLI, while the server runs (control
// socket) and while it is stopped (direct store access).
func TestUserCLI(t *testing.T) {
	s := Start(t, Config{})
	s.AddUser("ann", "first-password")
	if out, code := s.Sealpost("x\n", "user", "add", "ann", "--password-stdin", "--data", s.Data); code == 0 || !strings.Contains(out, "exists") {
		t.Fatalf("duplicate add: exit %d: %s", code, out)
	}
	if out, code := s.Sealpost("", "user", "add", "bad name!", "--password-stdin", "--data", s.Data); code == 0 {
		t.Fatalf("bad name accepted: %s", out)
	}
	if out, code := s.Sealpost("second-password\n", "user", "passwd", "ann", "--password-stdin", "--data", s.Data); code != 0 {
		t.Fatalf("passwd: %d %s", code, out)
	}
	s.LoginIMAPS(t, "ann", "second-password")
	out, code := s.Sealpost("", "user", "list", "--data", s.Data)
	if code != 0 || !strings.Contains(out, "ann") {
		t.Fatalf("list: %d %s", code, out)
	}
	s.Stop()
	if out, code := s.Sealpost("bob-pw\n", "user", "add", "bob", "--password-stdin", "--quota", "10MB", "--data", s.Data); code != 0 {
		t.Fatalf("add while stopped: %d %s", code, out)
	}
	out, _ = s.Sealpost("", "user", "list", "--data", s.Data)
	if !strings.Contains(out, "bob") || !strings.Contains(out, "10485760") {
		t.Fatalf("list while stopped: %s", out)
	}
	if out, code := s.Sealpost("", "user", "del", "ann", "--data", s.Data); code != 0 {
		t.Fatalf("del: %d %s", code, out)
	}
	if out, code := s.Sealpost("", "user", "del", "ann", "--data", s.Data); code == 0 {
		t.Fatalf("del twice: %s", out)
	}
	s.start()
	s.LoginIMAPS(t, "bob", "bob-pw")
}

// sealpost deliver with long lines and over the size limit: a message
// with 3000- and 100000-char lines is stored byte for byte (exit 0); one
// over max_message_size is refused for good (65), never deferred (75),
// also when it is a single line longer than the limit.
func TestDeliverLongLinesAndSize(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "sealpost.toml", "[limits]\nmax_message_size = \"256KB\"\n")
	s := Start(t, Config{Extra: []string{"--config", cfg}})
	s.AddUser("ann", "ann-password")
	long := "Subject: long lines\r\nFrom: sender@example.org\r\n\r\n" +
		strings.Repeat("a", 3000) + "\r\n" + strings.Repeat("b", 100000) + "\r\n"
	deliver := func(msg string) (string, int) {
		return s.Sealpost(msg, "deliver", "--data", s.Data, "-d", "ann", "-f", "sender@example.org")
	}
	if out, code := deliver(long); code != 0 {
		t.Fatalf("long lines: exit %d: %s", code, out)
	}
	for name, msg := range map[string]string{
		"many lines": "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("c", 78)+"\r\n", 4000),
		"one line":   "Subject: big\r\n\r\n" + strings.Repeat("d", 2<<20) + "\r\n",
	} {
		if out, code := deliver(msg); code != 65 || !strings.Contains(out, "552 5.3.4") {
			t.Errorf("too big (%s): exit %d, want 65 with 552 5.3.4: %s", name, code, out)
		}
	}
	c := s.LoginIMAPS(t, "ann", "ann-password")
	bodies := Bodies(t, c, "INBOX")
	if len(bodies) != 1 {
		t.Fatalf("INBOX has %d messages, want 1", len(bodies))
	}
	want := "Return-Path: <sender@example.org>\r\nDelivered-To: ann@localhost\r\n" + long
	for _, b := range bodies {
		if b != want {
			t.Fatalf("stored %d bytes, want %d (byte-identical with trace headers)", len(b), len(want))
		}
	}
}

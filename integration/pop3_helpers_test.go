package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// stored is the form in which a message delivered with deliverTCP to rcpt
// sits in the store, and what POP3 RETR must return: the LMTP inlet
// prepends Return-Path and Delivered-To.
func stored(rcpt, body string) string {
	return "Return-Path: <sender@example.org>\r\nDelivered-To: " + rcpt + "\r\n" + body
}

// deliverAll delivers the bodies to rcpt one after another (so UIDs follow
// the slice order) and returns their stored forms.
func deliverAll(t testing.TB, s *Server, rcpt string, bodies ...string) []string {
	t.Helper()
	out := make([]string, len(bodies))
	for i, b := range bodies {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := deliverTCP(ctx, s.LMTP, rcpt, b)
		cancel()
		if err != nil {
			t.Fatalf("deliver %d: %v", i+1, err)
		}
		out[i] = stored(rcpt, b)
	}
	return out
}

// pop3Messages are test bodies that exercise dot-stuffing and line lengths.
func pop3Messages() []string {
	return []string{
		testMessage("pop one", "hello over POP3"),
		testMessage("pop two", ".leading dot\r\n..two dots\r\n.\r\nend"),
		testMessage("pop three", strings.Repeat("a fairly long line of text for a bigger body, 0123456789\r\n", 2000)+"last"),
	}
}

// run executes a command and returns stdout, stderr and the exit code;
// env entries are added to the environment.
func runTool(t testing.TB, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	needTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return stdout.String(), stderr.String(), code
}

// poplibResult is what testdata/pop3_poplib.py prints.
type poplibResult struct {
	Greeting  string   `json:"greeting"`
	CapaPlain []string `json:"capa_plain"`
	UserPlain string   `json:"user_plain"`
	CapaTLS   []string `json:"capa_tls"`
	Stat      []int    `json:"stat"`
	List      []string `json:"list"`
	UIDL      []string `json:"uidl"`
	Top1      []byte   `json:"top1"`
	Retr      []struct {
		Resp   string `json:"resp"`
		Octets int    `json:"octets"`
		Body   []byte `json:"body"`
	} `json:"retr"`
	Quit1 string   `json:"quit1"`
	Auth  string   `json:"auth"`
	UIDL2 []string `json:"uidl2"`
	Dele  string   `json:"dele"`
	Quit2 string   `json:"quit2"`
}

func runPoplib(t testing.TB, s *Server, user, pass string) poplibResult {
	t.Helper()
	_, stlsPort, _ := net.SplitHostPort(s.POP3)
	_, sslPort, _ := net.SplitHostPort(s.POP3S)
	out, errOut, code := runTool(t, nil, "python3", "testdata/pop3_poplib.py", "localhost", stlsPort, sslPort, s.CAFile(), user, pass)
	if code != 0 {
		t.Fatalf("poplib script exit %d:\n%s%s", code, out, errOut)
	}
	var r poplibResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("poplib output %q: %v", out, err)
	}
	return r
}

// uidlOf returns the UIDL listing of user's maildrop over POP3S.
func uidlOf(t testing.TB, s *Server, user, pass string) string {
	t.Helper()
	c := dialWirePOP(t, s.POP3S, s.TLSConfig())
	c.login(user, pass)
	_, u := c.multi("UIDL")
	c.expectOK("QUIT")
	return u
}

// logLines returns the server log lines containing every one of parts.
func logLines(s *Server, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(s.Log(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func fmtList(sizes ...int) []string {
	var out []string
	for i, n := range sizes {
		out = append(out, fmt.Sprintf("%d %d", i+1, n))
	}
	return out
}

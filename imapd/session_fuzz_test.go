package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// errorLog is a slog handler that keeps every record at Error level:
// panics, unexpected store errors, broken message files. A fuzzed session
// must produce none of them.
type errorLog struct {
	mu   sync.Mutex
	recs []string
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *errorLog) WithGroup(string) slog.Handler                { return h }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *errorLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.recs
	h.recs = nil
	return r
}

// fuzzMessages are kept in ann's INBOX so fuzzed FETCH, SEARCH, STORE and
// COPY have something to work on.
var fuzzMessages = []string{
	testMsg("plain one", "hello"),
	"From: a@example.com\r\nSubject: =?utf-8?q?multi=C3=A9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b--\r\n",
	"Subject: no end\r\nContent-Type: multipart/alternative; boundary=zz\r\n\r\nnever a boundary",
}

// FuzzIMAPSession drives whole IMAP sessions: each input is the byte
// stream a logged-in client sends over TLS (commands, literals, IDLE,
// garbage). One server and store serve every input, as in production. The
// session must end cleanly when the client closes its side, nothing may be
// logged at Error level (panics included), and the server must still greet
// a fresh connection afterwards.
func FuzzIMAPSession(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS UID BODYSTRUCTURE ENVELOPE)\r\nc LOGOUT\r\n",
		"a SELECT INBOX\r\nb UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY[1.MIME] BINARY[2] RFC822.SIZE)\r\n",
		"a APPEND INBOX (\\Seen) {11}\r\nhello world\r\nb SELECT INBOX\r\nc STORE 1:* +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n",
		"a CREATE x/y\r\nb RENAME x z\r\nc LIST \"\" *\r\nd STATUS z/y (MESSAGES UIDNEXT SIZE)\r\ne DELETE z/y\r\n",
		"a SELECT INBOX\r\nb IDLE\r\nDONE\r\nc SEARCH OR FROM ann SUBJECT x NOT SEEN\r\n",
		"a EXAMINE INBOX\r\nb COPY 1:2 Trash\r\nc MOVE 1 Archive\r\nd UID SEARCH RETURN (MIN MAX COUNT) ALL\r\n",
		"a ENABLE IMAP4rev2\r\nb SELECT INBOX\r\nc FETCH 1 (BODY[]<0.5>)\r\nd UNSELECT\r\n",
		"a APPEND Drafts {5+}\r\nab\r\n\r\n",
		"",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}
	h := &errorLog{}
	e := newEnv(f, envConfig{Users: []string{"ann"}, Logger: slog.New(h)})
	acct := e.account("ann")
	f.Fuzz(func(t *testing.T, in []byte) {
		if info, err := acct.Mailbox(bg, "INBOX"); err != nil {
			t.Fatalf("INBOX: %v", err)
		} else if info.Messages < uint32(len(fuzzMessages)) {
			for _, m := range fuzzMessages {
				if _, err := e.Store.Deliver(bg, "ann", strings.NewReader(m)); err != nil {
					t.Fatal(err)
				}
			}
		}
		fuzzSession(t, e, in)
		if recs := h.take(); len(recs) > 0 {
			t.Fatalf("server logged errors for input %q:\n%s", in, strings.Join(recs, "\n"))
		}
		c, err := net.DialTimeout("tcp", e.Plain, 5*time.Second)
		if err != nil {
			t.Fatalf("server gone: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if g, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(g, "* OK") {
			t.Fatalf("fresh connection: greeting %q, %v", g, err)
		}
	})
}

// fuzzSession logs ann in over TLS, sends in, closes the write side and
// waits for the server to end the session. Replies are read all the while,
// so a server writing a large FETCH never blocks on a full socket.
func fuzzSession(t *testing.T, e *testEnv, in []byte) {
	t.Helper()
	c, err := tls.Dial("tcp", e.TLS, e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if g, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q, %v", g, err)
	}
	if _, err := io.WriteString(c, "L0 LOGIN ann pw-ann\r\n"); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if strings.HasPrefix(l, "L0 ") {
			if !strings.HasPrefix(l, "L0 OK") {
				t.Fatalf("login: %q", l)
			}
			break
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		done <- err
	}()
	// A write error only means the server closed first (LOGOUT, BYE).
	if _, err := c.Write(in); err == nil {
		c.CloseWrite()
	}
	select {
	case err := <-done:
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("session still open 10 s after the client closed its side, input %q", in)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("session hung, input %q", in)
	}
}

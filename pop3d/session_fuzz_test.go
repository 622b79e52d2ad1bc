package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// errorLog is a slog handler that keeps every record at Error level
// (panics, failed commands, RETR size mismatches): a fuzzed session must
// produce none.
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

// FuzzPOP3Session drives whole POP3 sessions: each input is what a client
// sends after logging in over implicit TLS. One server serves every input.
// The session must end when the client closes its side, the maildrop lock
// must be released, nothing may be logged at Error level (panics
// included), and the server must still greet a fresh connection.
func FuzzPOP3Session(f *testing.F) {
	for _, s := range []string{
		"STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 3\r\nRSET\r\nQUIT\r\n",
		"CAPA\r\nLIST 2\r\nUIDL 3\r\nDELE 1\r\nDELE 1\r\nRETR 1\r\nNOOP\r\nQUIT\r\n",
		"TOP 1 0\r\nTOP 3 99999999999\r\nRETR 4\r\nLIST 0\r\nDELE -1\r\n",
		"USER ann\r\nPASS secret\r\nSTLS\r\nAUTH PLAIN\r\n*\r\nAPOP ann x\r\n",
		"DELE 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n",
		"retr 2\nlist\n\nstat \r\n",
		strings.Repeat("X", 300) + "\r\nSTAT\r\n",
		"",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}
	p := getPKI(f)
	st := newMemStore()
	st.addUser("ann", "secret")
	h := &errorLog{}
	srv, err := New(Options{Auth: st, TLSConfig: p.server, Logger: slog.New(h)})
	if err != nil {
		f.Fatal(err)
	}
	plain, implicit := listen(f), listen(f)
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(plain) }()
	go func() { serveErr <- srv.ServeTLS(implicit) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-serveErr
		<-serveErr
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		// Every input starts from the same three messages.
		st.mu.Lock()
		st.users["ann"].msgs = nil
		st.mu.Unlock()
		for _, b := range testMessages {
			st.deliver("ann", b)
		}
		fuzzPOP3(t, implicit.Addr().String(), p.client, in)
		for deadline := time.Now().Add(5 * time.Second); st.locked("ann"); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("maildrop still locked 5 s after the session, input %q", in)
			}
		}
		if n := st.openBodies.Load(); n != 0 {
			t.Fatalf("%d message bodies left open, input %q", n, in)
		}
		if recs := h.take(); len(recs) > 0 {
			t.Fatalf("server logged errors for input %q:\n%s", in, strings.Join(recs, "\n"))
		}
		c, err := net.DialTimeout("tcp", plain.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("server gone: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if g, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(g, "+OK") {
			t.Fatalf("fresh connection: greeting %q, %v", g, err)
		}
	})
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fuzzPOP3 logs ann in over implicit TLS, sends in, closes its write side
// and reads replies until the server ends the session.
func fuzzPOP3(t *testing.T, addr string, cfg *tls.Config, in []byte) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i, line := range []string{"", "USER ann", "PASS secret"} {
		if line != "" {
			if _, err := io.WriteString(c, line+"\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("login step %d: %q, %v", i, l, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		done <- err
	}()
	// A write error only means the server closed first (QUIT, too many errors).
	if _, err := c.Write(in); err == nil {
		c.CloseWrite()
	}
	select {
	case err := <-done:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("session still open 10 s after the client closed its side, input %q", in)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("session hung, input %q", in)
	}
}

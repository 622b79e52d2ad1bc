package imapd

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/crypto/bcrypt"

	"sealpost/certs/certstest"
	"sealpost/mailstore"
	"sealpost/mailstore/login"
)

var bg = context.Background()

// testEnv is a store with users and an imapd serving it on two loopback
// listeners: Plain (STARTTLS) and TLS (implicit).
type testEnv struct {
	t         testing.TB
	Store     *mailstore.Store
	Srv       *Server
	Auth      *countingAuth
	Plain     string
	TLS       string
	ClientTLS *tls.Config
}

// envConfig tunes newEnv; the zero value is fine.
type envConfig struct {
	Users         []string // default: ann, bob (password "pw-<name>")
	IdleKeepalive time.Duration
	MaxConns      int
	MaxConnsPerIP int
	// MaxConnsPerUserIP: zero gives 1000, since tests open many sessions
	// of one user from 127.0.0.1 without waiting for each to close.
	MaxConnsPerUserIP int
	MaxMessage        int64 // store limit; zero: 64 MiB
	AppendLimit       int64 // Options.AppendLimit; zero: the default
	QueueLimit        int   // events a selected session may hold; zero: the default
	Logger            *slog.Logger
	Faults            *mailstore.Faults
	// RealAuth logs in through mailstore/login with argon2id hashes, as
	// production does. Otherwise users get a cheap imported hash and a
	// map-based Authenticator, so -race tests do not spend seconds hashing.
	RealAuth bool
	Metrics  Metrics
}

// countingAuth wraps a login path and counts every call, so tests can
// prove that no plaintext connection ever reaches it.
type countingAuth struct {
	inner Authenticator
	calls atomic.Int64
}

func (a *countingAuth) Login(ctx context.Context, remote netip.Addr, user, pass string) (*mailstore.Account, error) {
	a.calls.Add(1)
	return a.inner.Login(ctx, remote, user, pass)
}

// fastAuth accepts "pw-<user>" for every store user.
type fastAuth struct{ st *mailstore.Store }

func (a fastAuth) Login(ctx context.Context, _ netip.Addr, user, pass string) (*mailstore.Account, error) {
	if pass != "pw-"+user {
		return nil, mailstore.ErrAuthFailed
	}
	acct, err := a.st.Account(ctx, user)
	if errors.Is(err, mailstore.ErrNoSuchUser) {
		return nil, mailstore.ErrAuthFailed
	}
	return acct, err
}

// cheapHash is a bcrypt hash of cost 4, for imported test users.
var cheapHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("unused"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

func newEnv(t testing.TB, cfg envConfig) *testEnv {
	t.Helper()
	st, err := mailstore.Open(t.TempDir(), mailstore.Options{MaxMessageSize: cfg.MaxMessage, Faults: cfg.Faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	users := cfg.Users
	if users == nil {
		users = []string{"ann", "bob"}
	}
	auth := &countingAuth{inner: fastAuth{st}}
	if cfg.RealAuth {
		auth.inner = login.New(login.Options{Store: st})
	}
	for _, u := range users {
		var err error
		if cfg.RealAuth {
			_, err = st.CreateUser(bg, u, "pw-"+u, 0)
		} else {
			_, err = st.ImportUser(bg, u, cheapHash(), 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	serverTLS, clientTLS := certstest.New(t)
	logger := cfg.Logger
	if logger == nil && os.Getenv("IMAPD_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(Options{
		Auth: auth, TLSConfig: serverTLS, Logger: logger,
		IdleKeepalive: cfg.IdleKeepalive, MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP,
		MaxConnsPerUserIP: cmp.Or(cfg.MaxConnsPerUserIP, 1000),
		AppendLimit:       cfg.AppendLimit,
		Metrics:           cfg.Metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QueueLimit > 0 {
		srv.queueLimit = cfg.QueueLimit
	}
	e := &testEnv{t: t, Store: st, Srv: srv, Auth: auth, ClientTLS: clientTLS}
	pl := listen(t)
	tl := listen(t)
	e.Plain, e.TLS = pl.Addr().String(), tl.Addr().String()
	done := make(chan struct{}, 2)
	go func() { srv.Serve(pl); done <- struct{}{} }()
	go func() { srv.ServeTLS(tl); done <- struct{}{} }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
		<-done
	})
	return e
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *testEnv) account(user string) *mailstore.Account {
	e.t.Helper()
	a, err := e.Store.Account(bg, user)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// deliver puts a message in user's INBOX and returns its UID.
func (e *testEnv) deliver(user, msg string) mailstore.UID {
	e.t.Helper()
	res, err := e.Store.Deliver(bg, user, strings.NewReader(msg))
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Message.UID
}

// client logs user in over implicit TLS with go-imap's client.
func (e *testEnv) client(user string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialTLS(e.TLS, &imapclient.Options{TLSConfig: e.ClientTLS, UnilateralDataHandler: h})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "pw-"+user).Wait(); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// testMsg is a small well-formed message.
func testMsg(subject, body string) string {
	return "From: Ann Example <ann@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@example.com>\r\n\r\n" + body + "\r\n"
}

// rawClient speaks IMAP line by line, for transcripts where the exact
// bytes matter (sequence numbers, response codes).
type rawClient struct {
	t     testing.TB
	conn  net.Conn
	r     *bufio.Reader
	tag   int
	Greet string
}

func (e *testEnv) rawPlain() *rawClient {
	e.t.Helper()
	c, err := net.Dial("tcp", e.Plain)
	if err != nil {
		e.t.Fatal(err)
	}
	return newRaw(e.t, c)
}

func (e *testEnv) rawTLS() *rawClient {
	e.t.Helper()
	c, err := tls.Dial("tcp", e.TLS, e.ClientTLS)
	if err != nil {
		e.t.Fatal(err)
	}
	return newRaw(e.t, c)
}

// rawLogin opens a TLS connection and logs user in.
func (e *testEnv) rawLogin(user string) *rawClient {
	rc := e.rawTLS()
	rc.ok("LOGIN %s pw-%s", user, user)
	return rc
}

func newRaw(t testing.TB, c net.Conn) *rawClient {
	t.Helper()
	rc := &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	rc.Greet = rc.line()
	return rc
}

// startTLS upgrades a plaintext connection.
func (rc *rawClient) startTLS(cfg *tls.Config) {
	rc.t.Helper()
	rc.ok("STARTTLS")
	tc := tls.Client(rc.conn, cfg)
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.conn, rc.r = tc, bufio.NewReader(tc)
}

// line reads one response line; literals are inlined.
func (rc *rawClient) line() string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read: %v (so far %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		n, ok := literalSize(l)
		if !ok {
			return b.String()
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			rc.t.Fatalf("read literal: %v", err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

func literalSize(l string) (int, bool) {
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
	return n, err == nil
}

func (rc *rawClient) send(format string, args ...any) string {
	rc.t.Helper()
	rc.tag++
	tag := fmt.Sprintf("a%d", rc.tag)
	rc.write(tag + " " + fmt.Sprintf(format, args...) + "\r\n")
	return tag
}

func (rc *rawClient) write(s string) {
	rc.t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.conn, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// cmd runs a command and returns the untagged lines and the tagged reply
// (without the tag).
func (rc *rawClient) cmd(format string, args ...any) (untagged []string, status string) {
	rc.t.Helper()
	tag := rc.send(format, args...)
	return rc.wait(tag)
}

func (rc *rawClient) wait(tag string) (untagged []string, status string) {
	rc.t.Helper()
	for {
		l := rc.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (rc *rawClient) ok(format string, args ...any) []string {
	rc.t.Helper()
	u, st := rc.cmd(format, args...)
	if !strings.HasPrefix(st, "OK") {
		rc.t.Fatalf("%s: %s (untagged %q)", fmt.Sprintf(format, args...), st, u)
	}
	return u
}

// no runs a command that must fail with the given prefix (e.g. "NO [TRYCREATE]").
func (rc *rawClient) no(prefix, format string, args ...any) []string {
	rc.t.Helper()
	u, st := rc.cmd(format, args...)
	if !strings.HasPrefix(st, prefix) {
		rc.t.Fatalf("%s: got %q, want %q…", fmt.Sprintf(format, args...), st, prefix)
	}
	return u
}

func hasLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func mustHave(t testing.TB, lines []string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !hasLine(lines, s) {
			t.Errorf("no line with %q in %q", s, lines)
		}
	}
}

// runtimeStats samples the heap for streaming checks.
type runtimeStats struct{ heap uint64 }

func (s *runtimeStats) read() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.heap = m.HeapAlloc
}

func (s *runtimeStats) max(o runtimeStats) { s.heap = max(s.heap, o.heap) }

package pop3d

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- In-memory Authenticator and Maildrop ----

// memStore is a tiny store for protocol tests; the real mailstore adapter
// is exercised by the integration tests.
type memStore struct {
	mu         sync.Mutex
	users      map[string]*memBox
	failDelete bool
	authCalls  atomic.Int32
	dropCloses atomic.Int32
	openBodies atomic.Int32
}

type memBox struct {
	password    string
	uidValidity uint32
	nextUID     uint32
	msgs        []memMsg // UID order
	locked      bool
}

type memMsg struct {
	uid    uint32
	body   string
	broken bool // Open's reader fails halfway
}

var _ Authenticator = (*memStore)(nil)
var _ Maildrop = (*memDrop)(nil)

func newMemStore() *memStore { return &memStore{users: map[string]*memBox{}} }

// addUser creates a user with the given messages.
func (s *memStore) addUser(name, password string, bodies ...string) {
	s.mu.Lock()
	s.users[name] = &memBox{password: password, uidValidity: 1700000000, nextUID: 1}
	s.mu.Unlock()
	for _, b := range bodies {
		s.deliver(name, b)
	}
}

func (s *memStore) deliver(user, body string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.users[user]
	uid := b.nextUID
	b.nextUID++
	b.msgs = append(b.msgs, memMsg{uid: uid, body: body})
	return uid
}

// expunge removes a message as an IMAP client would.
func (s *memStore) expunge(user string, uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.users[user]
	for i, m := range b.msgs {
		if m.uid == uid {
			b.msgs = append(b.msgs[:i], b.msgs[i+1:]...)
			return
		}
	}
}

func (s *memStore) uids(user string) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint32
	for _, m := range s.users[user].msgs {
		out = append(out, m.uid)
	}
	return out
}

func (s *memStore) locked(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[user].locked
}

func (s *memStore) setBroken(user string, uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.users[user].msgs {
		if s.users[user].msgs[i].uid == uid {
			s.users[user].msgs[i].broken = true
		}
	}
}

func (s *memStore) Authenticate(ctx context.Context, remote netip.Addr, user, pass string) (Maildrop, error) {
	s.authCalls.Add(1)
	if !remote.IsLoopback() {
		return nil, fmt.Errorf("unexpected remote %v", remote)
	}
	switch user {
	case "throttled":
		return nil, fmt.Errorf("login: %w", ErrThrottled)
	case "panic":
		panic("authenticator exploded")
	case "broken":
		return nil, errors.New("database on fire")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.users[user]
	if b == nil || b.password != pass {
		return nil, fmt.Errorf("login %q: %w", user, ErrAuthFailed)
	}
	return &memDrop{s: s, box: b}, nil
}

type memDrop struct {
	s      *memStore
	box    *memBox
	locked bool
	closed bool
}

func (d *memDrop) Lock(ctx context.Context) ([]Message, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.box.locked {
		return nil, ErrInUse
	}
	d.box.locked, d.locked = true, true
	var out []Message
	for _, m := range d.box.msgs {
		out = append(out, Message{
			UID:  m.uid,
			UIDL: fmt.Sprintf("%08x%08x", d.box.uidValidity, m.uid),
			Size: int64(len(m.body)),
			// As the real adapter: the stored octets say whether RETR
			// must end the last line.
			Unterminated: !strings.HasSuffix(m.body, "\r\n"),
		})
	}
	return out, nil
}

func (d *memDrop) Open(ctx context.Context, msg Message) (io.ReadCloser, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	for _, m := range d.box.msgs {
		if m.uid == msg.UID {
			d.s.openBodies.Add(1)
			var r io.Reader = strings.NewReader(m.body)
			if m.broken {
				r = io.MultiReader(strings.NewReader(m.body[:len(m.body)/2]), errReader{})
			}
			return &countedBody{Reader: r, s: d.s}, nil
		}
	}
	return nil, fmt.Errorf("open uid %d: %w", msg.UID, ErrGone)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk read error") }

type countedBody struct {
	io.Reader
	s    *memStore
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.s.openBodies.Add(-1) })
	return nil
}

func (d *memDrop) Delete(ctx context.Context, ms []Message) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.failDelete {
		return errors.New("disk full")
	}
	gone := map[uint32]bool{}
	for _, m := range ms {
		gone[m.UID] = true
	}
	kept := d.box.msgs[:0:0]
	for _, m := range d.box.msgs {
		if !gone[m.uid] {
			kept = append(kept, m)
		}
	}
	d.box.msgs = kept
	return nil
}

func (d *memDrop) Close() error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.closed {
		panic("Maildrop closed twice")
	}
	d.closed = true
	d.s.dropCloses.Add(1)
	if d.locked {
		d.box.locked = false
	}
	return nil
}

// ---- Certificates ----

// testPKI is a CA and a leaf for 127.0.0.1/localhost, generated per test
// binary (crypto/tls generate_cert.go recipe, P-256).
type testPKI struct {
	server *tls.Config
	client *tls.Config
	caPEM  []byte
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) testPKI {
	pkiOnce.Do(func() { pki = newPKI() })
	if pki.server == nil {
		t.Fatal("certificate generation failed")
	}
	return pki
}

func newPKI() testPKI {
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		return n
	}
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "pop3d test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return testPKI{}
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return testPKI{}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		server: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}},
		},
		client: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
}

// ---- Server harness ----

type testEnv struct {
	t        *testing.T
	store    *memStore
	srv      *Server
	plain    string // address of the STLS port
	implicit string // address of the implicit-TLS port
	pki      testPKI
	serveErr chan error
}

// startServer runs a Server with a memStore holding user "ann" (password
// "secret") and three messages, on 127.0.0.1:0 for both ports. Options can
// be adjusted by the callers' funcs.
func startServer(t *testing.T, adjust ...func(*Options)) *testEnv {
	t.Helper()
	p := getPKI(t)
	e := &testEnv{t: t, store: newMemStore(), pki: p, serveErr: make(chan error, 2)}
	e.store.addUser("ann", "secret", testMessages...)
	e.store.addUser("bob", "pass word")
	opts := Options{
		Auth:      e.store,
		TLSConfig: p.server,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range adjust {
		f(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.plain, e.implicit = l1.Addr().String(), l2.Addr().String()
	go func() { e.serveErr <- srv.Serve(l1) }()
	go func() { e.serveErr <- srv.ServeTLS(l2) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range 2 {
			if err := <-e.serveErr; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
		if n := e.store.openBodies.Load(); n != 0 {
			t.Errorf("%d message bodies left open", n)
		}
	})
	return e
}

// testMessages are ann's INBOX: 44, 50 and 51 octets, 145 in all.
var testMessages = []string{
	"Subject: one\r\nFrom: a@example.com\r\n\r\nhello\r\n",
	"Subject: two\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
	"Subject: three\r\nX-Long: yes\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\nl5\r\n",
}

// testWriter routes server logs to t.Log, so they show only on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// ---- Transcript client ----

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dial connects to the STLS port and reads the greeting.
func (e *testEnv) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	c.expect("+OK Sealpost POP3 server ready")
	return c
}

// dialTLS connects to the implicit-TLS port and reads the greeting.
func (e *testEnv) dialTLS(t *testing.T) *client {
	t.Helper()
	nc, err := tls.Dial("tcp", e.implicit, e.pki.client)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	c.expect("+OK Sealpost POP3 server ready")
	return c
}

// starttls runs STLS and the client handshake.
func (c *client) starttls(cfg *tls.Config) {
	c.t.Helper()
	c.run("C: STLS\nS: +OK Begin TLS negotiation")
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("client handshake: %v", err)
	}
	c.nc, c.br = tc, bufio.NewReader(tc)
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	c.run("C: USER " + user + "\nS: +OK send PASS\nC: PASS " + pass + "\nS: +OK maildrop has ...")
}

func (c *client) send(line string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one reply line without its CRLF.
func (c *client) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads a line and compares it; a trailing "..." matches a prefix.
func (c *client) expect(want string) string {
	c.t.Helper()
	got := c.line()
	if p, ok := strings.CutSuffix(want, "..."); ok {
		if !strings.HasPrefix(got, p) {
			c.t.Fatalf("got %q, want prefix %q", got, p)
		}
	} else if got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

// run plays a transcript: "C: line" is sent, "S: line" is expected (see
// expect); blank lines and leading whitespace are ignored.
func (c *client) run(script string) {
	c.t.Helper()
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimLeft(l, " \t")
		switch {
		case l == "":
		case strings.HasPrefix(l, "C: "):
			c.send(l[3:])
		case strings.HasPrefix(l, "S: "):
			c.expect(l[3:])
		case l == "S:": // an empty response line
			c.expect("")
		default:
			c.t.Fatalf("bad transcript line %q", l)
		}
	}
}

// multi sends a command expecting a multi-line reply and returns the
// lines between the +OK line and the terminating ".", still dot-stuffed.
func (c *client) multi(cmd string) []string {
	c.t.Helper()
	c.send(cmd)
	c.expect("+OK...")
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// expectClosed asserts that the server closes the connection without
// sending anything more.
func (c *client) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.br.ReadString('\n')
	if err == nil || b != "" {
		c.t.Fatalf("want connection closed, got %q, %v", b, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("want connection closed, read timed out")
	}
}

// writeTemp writes data to a file in t.TempDir.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

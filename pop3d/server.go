package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Authenticator checks credentials. pop3d calls it only when TLS is active.
// It is responsible for throttling (it may sleep); it returns an error
// wrapping ErrAuthFailed for bad credentials and may wrap ErrThrottled for
// refusals. Any other error is logged and answered [SYS/TEMP].
type Authenticator interface {
	Authenticate(ctx context.Context, remote netip.Addr, username, password string) (Maildrop, error)
}

// Maildrop is one user's INBOX as POP3 sees it. pop3d calls its methods from
// one goroutine per session.
type Maildrop interface {
	// Lock takes the exclusive per-user POP3 lock (ErrInUse if another POP3
	// session holds it) and returns the INBOX snapshot in UID order.
	// Unlock is via Close.
	Lock(ctx context.Context) ([]Message, error)
	// Open returns the message exactly as stored (CRLF line endings); if
	// the message was expunged meanwhile it returns an error wrapping ErrGone.
	Open(ctx context.Context, m Message) (io.ReadCloser, error)
	// Delete removes these messages atomically (all or nothing);
	// already-gone ones are ignored.
	Delete(ctx context.Context, ms []Message) error
	// Close releases the lock. pop3d calls it exactly once per Maildrop
	// returned by Authenticate, whether or not Lock succeeded.
	Close() error
}

// Message is one message of the maildrop snapshot.
type Message struct {
	UID  uint32
	UIDL string // stable unique id (RFC 1939 §7: 1-70 chars 0x21-0x7E), derived from UIDVALIDITY and UID
	Size int64  // exact octets as stored, with CRLF line endings
	// Unterminated: the stored message does not end in CRLF (an IMAP
	// APPEND may store that). RETR then ends it with a CRLF, which LIST
	// and STAT count, so the counts equal what RETR sends.
	Unterminated bool
}

// Options configures a Server. Zero values are documented per field.
type Options struct {
	Auth      Authenticator // required
	TLSConfig *tls.Config   // required: STLS and implicit TLS; New errors when nil
	// Logger receives connection events with the keys proto, conn, remote,
	// user, cmd and err. nil discards. Passwords, SASL data and message
	// bodies are never logged.
	Logger   *slog.Logger
	Hostname string // shown in the greeting; may be empty
	// PreAuthTimeout bounds each read in the AUTHORIZATION state. Zero: 60s.
	PreAuthTimeout time.Duration
	// LoginTimeout bounds the whole AUTHORIZATION state from connect to a
	// successful login, so CAPA every minute cannot hold a connection
	// forever. The client gets "-ERR" and the connection is closed.
	// Zero: 60s.
	LoginTimeout time.Duration
	// IdleTimeout bounds each read after login. Zero: 10m (RFC 1939 §3
	// asks for at least 10 minutes).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake (implicit TLS and STLS). Zero: 15s.
	HandshakeTimeout time.Duration
	// MaxErrors is the number of consecutive bad commands after login
	// after which the connection is closed. Zero: 10.
	MaxErrors int
	// PreAuthMaxErrors is the number of bad commands (in all, not only
	// consecutive ones; failed logins included) allowed before login. A
	// client of another protocol (an HTTP request sent to the POP3 port)
	// is cut off after a few lines. Zero: 3.
	PreAuthMaxErrors int
	// MaxConns and MaxConnsPerIP cap concurrent connections; a connection
	// over a cap gets "-ERR [SYS/TEMP] too many connections" and is closed.
	// Zero: 1000 and 50. Negative: no cap.
	MaxConns, MaxConnsPerIP int
	// Metrics counts connections by TLS state. nil: none.
	Metrics Metrics
}

// Server is a POP3 server. Create it with New; it may serve several
// listeners at once.
type Server struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; parent of every session's context
	cancel context.CancelFunc

	closing atomic.Bool
	nextID  atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[netip.Addr]int
	refusing  int // goroutines writing a refusal
	done      chan struct{}
}

// maxRefusing bounds the goroutines that tell an over-limit client why it is
// refused; beyond it such connections are closed silently.
const maxRefusing = 64

// New checks opts and fills in defaults.
func New(opts Options) (*Server, error) {
	if opts.Auth == nil {
		return nil, errors.New("pop3d: Options.Auth is required")
	}
	if opts.TLSConfig == nil {
		return nil, errors.New("pop3d: Options.TLSConfig is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&opts.PreAuthTimeout, 60*time.Second)
	setDefault(&opts.IdleTimeout, 10*time.Minute)
	setDefault(&opts.HandshakeTimeout, 15*time.Second)
	setDefault(&opts.LoginTimeout, 60*time.Second)
	setDefault(&opts.MaxErrors, 10)
	setDefault(&opts.PreAuthMaxErrors, 3)
	setDefault(&opts.MaxConns, 1000)
	setDefault(&opts.MaxConnsPerIP, 50)
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("proto", "pop3"),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		perIP:     map[netip.Addr]int{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Serve accepts plaintext connections on l; clients upgrade with STLS
// (RFC 2595). It always returns a non-nil error and closes l; after
// Shutdown or Close the error is ErrServerClosed.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on a plain TCP listener l and runs implicit
// TLS (RFC 8314) on each with Options.TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error { return s.serve(l, true) }

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	defer l.Close()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Like net/http: back off on EMFILE and friends instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		remote := remoteAddr(nc)
		c, ok := s.admit(nc, remote)
		if !ok {
			s.refuse(nc, implicitTLS)
			continue
		}
		go c.run(implicitTLS)
	}
}

func remoteAddr(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// admit applies the connection caps and registers the connection.
func (s *Server) admit(nc net.Conn, remote netip.Addr) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil, false
	}
	if (s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns) ||
		(s.opts.MaxConnsPerIP > 0 && s.perIP[remote] >= s.opts.MaxConnsPerIP) {
		s.log.Warn("connection refused: too many connections", "remote", remote.String())
		return nil, false
	}
	c := newConn(s, nc, remote)
	s.conns[c] = struct{}{}
	s.perIP[remote]++
	return c, true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perIP[c.remote]--; s.perIP[c.remote] <= 0 {
		delete(s.perIP, c.remote)
	}
	if len(s.conns) == 0 && s.done != nil {
		close(s.done)
		s.done = nil
	}
}

// refuse answers an over-limit connection. On the implicit-TLS port the
// reply needs a handshake, so it runs in a bounded number of goroutines.
func (s *Server) refuse(nc net.Conn, implicitTLS bool) {
	s.mu.Lock()
	if s.refusing >= maxRefusing || s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.refusing++
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			s.refusing--
			s.mu.Unlock()
		}()
		defer nc.Close()
		var w net.Conn = nc
		nc.SetDeadline(time.Now().Add(min(s.opts.HandshakeTimeout, 5*time.Second)))
		if implicitTLS {
			tc := tls.Server(nc, s.opts.TLSConfig)
			if tc.Handshake() != nil {
				return
			}
			w = tc
			defer tc.Close()
		}
		io.WriteString(w, "-ERR [SYS/TEMP] too many connections\r\n")
	}()
}

// Shutdown stops accepting, closes connections that wait for a command and
// waits for the others to finish their current command, or for ctx.
// Sessions closed this way delete nothing (RFC 1939 §6: only QUIT commits).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	var done chan struct{}
	if len(s.conns) > 0 {
		if s.done == nil {
			s.done = make(chan struct{})
		}
		done = s.done
	}
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
	}
}

// Close stops accepting, cancels running store calls and closes every
// connection at once. Marked deletions are not applied.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.raw.Close()
	}
	return nil
}

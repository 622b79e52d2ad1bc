package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore"
)

// Authenticator checks credentials. imapd calls it only on TLS connections.
// It may sleep to throttle. Wrong credentials are mailstore.ErrAuthFailed
// (NO [AUTHENTICATIONFAILED]); login.ErrThrottled and any other error give
// NO [UNAVAILABLE].
type Authenticator interface {
	Login(ctx context.Context, remote netip.Addr, username, password string) (*mailstore.Account, error)
}

// Options configure a Server.
type Options struct {
	Auth      Authenticator // required
	TLSConfig *tls.Config   // required: New fails when nil
	// Logger receives connection and error logs with the keys proto, conn,
	// remote, user, cmd, mailbox, dur and err. nil discards them.
	Logger        *slog.Logger
	IdleKeepalive time.Duration // "* OK Still here" during IDLE; zero: 2m
	AppendLimit   int64         // largest APPEND literal, advertised as APPENDLIMIT; zero: 64 MiB
	MaxConns      int           // open connections; zero: 2000
	MaxConnsPerIP int           // open connections from one address; zero: 100
	Metrics       Metrics       // connection counts; nil: none
	// MaxConnsPerUserIP caps one user's logged-in connections from one
	// address (Thunderbird opens up to 5 per account); a login over it gets
	// NO [LIMIT]. Zero: 20.
	MaxConnsPerUserIP int
	// LoginTimeout closes a connection that has not logged in this long
	// after it was accepted, however busy it keeps (imapserver itself only
	// bounds each command, to 30 s). Zero: 60s.
	LoginTimeout time.Duration
	// HandshakeTimeout bounds the implicit-TLS handshake (STARTTLS runs
	// inside imapserver, under its 30 s command deadline and LoginTimeout).
	// Zero: 15s.
	HandshakeTimeout time.Duration
}

const (
	defaultIdleKeepalive = 2 * time.Minute
	defaultAppendLimit   = 64 << 20
	defaultMaxConns      = 2000
	defaultMaxConnsPerIP = 100
	// keepaliveWriteTimeout bounds one "* OK Still here" write.
	keepaliveWriteTimeout = 30 * time.Second
	// shutdownPoll is how often Shutdown looks for connections it can close.
	shutdownPoll = 20 * time.Millisecond
)

// imapserver's own limits (conn.go, not configurable): 30 s to read a
// command and before login, 35 min of inactivity after login (RFC 9051
// §5.4 asks for at least 30), 5 min per APPEND literal, 64 KiB (our patch; upstream 50) per command
// line, 4 KiB per literal outside APPEND.

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown. It
// wraps net.ErrClosed, so callers that ignore closed listeners ignore it too.
var ErrServerClosed = fmt.Errorf("imapd: server closed: %w", net.ErrClosed)

// caps are the capabilities imapserver advertises for us. Each one that
// needs a Session interface has it (imapserver panics otherwise):
// IMAP4rev2 → SessionIMAP4rev2, NAMESPACE → SessionNamespace, MOVE →
// SessionMove. SASL-IR, LITERAL-, UNSELECT, ENABLE and IDLE are implicit;
// APPENDLIMIT comes from SessionAppendLimit; AUTH= from SessionSASL.
//
// LITERAL+ stays: Thunderbird uses it for APPEND. It is safe only because
// of the patch in third_party/go-imap (SEALPOST-PATCH.md): a refused or
// unread non-synchronizing literal is skipped, or ends the connection with
// BYE when larger than 1 MiB, and its data is never parsed as commands.
// Dropping LITERAL+ would not help: imapserver treats {n+} the same either
// way, and LITERAL- is part of IMAP4rev2.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapLiteralPlus:      {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapBinary:           {},
}

// Server is an IMAP server. Create it with New.
type Server struct {
	opts Options
	log  *slog.Logger
	// queueLimit bounds a selected session's unreported events (tests
	// lower it).
	queueLimit int
	// ctx is the parent of every session context; cancel aborts store
	// calls in flight when Shutdown runs out of time.
	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	admitted  int
	rejecting int
	perIP     map[netip.Addr]int
	perUserIP map[userIPKey]int // logged-in connections (limits.go)
	closing   bool
	wg        sync.WaitGroup // connection goroutines
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Auth == nil {
		return nil, errors.New("imapd: Options.Auth is required")
	}
	if opts.TLSConfig == nil {
		return nil, errors.New("imapd: Options.TLSConfig is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleKeepalive <= 0 {
		opts.IdleKeepalive = defaultIdleKeepalive
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = defaultAppendLimit
	}
	if opts.AppendLimit > 1<<32-1 {
		opts.AppendLimit = 1<<32 - 1 // APPENDLIMIT is a 32-bit number in imapserver
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultMaxConns
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = defaultMaxConnsPerIP
	}
	if opts.MaxConnsPerUserIP <= 0 {
		opts.MaxConnsPerUserIP = defaultMaxConnsPerUserIP
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = defaultLoginTimeout
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = defaultHandshakeTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel, queueLimit: defaultQueueLimit,
		listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
		perIP: map[netip.Addr]int{}, perUserIP: map[userIPKey]int{},
	}, nil
}

// Serve accepts plaintext connections on l; clients upgrade with STARTTLS
// before they can log in. It returns ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on l (a plain TCP listener) and runs the TLS
// handshake itself (implicit TLS, RFC 8314). It returns ErrServerClosed
// after Shutdown.
func (s *Server) ServeTLS(l net.Listener) error { return s.serve(l, true) }

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Like net/http: back off on transient errors (EMFILE…).
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "dur", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc, implicitTLS)
	}
}

// conn is one client connection as the Server tracks it.
type conn struct {
	id     uint64
	remote netip.Addr
	log    *slog.Logger
	raw    *trackedConn // the TCP connection, under any TLS layer
	// loginBy is when LoginTimeout runs out; userIP is the per-user count
	// this connection holds once logged in (guarded by Server.mu).
	loginBy time.Time
	userIP  *userIPKey

	mu      sync.Mutex
	ic      *imapserver.Conn
	sess    *session
	byeSent bool
}

func remoteAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (s *Server) serveConn(nc net.Conn, implicitTLS bool) {
	defer s.wg.Done()
	c := &conn{id: s.nextID.Add(1), remote: remoteAddr(nc.RemoteAddr()), loginBy: time.Now().Add(s.opts.LoginTimeout)}
	c.raw = &trackedConn{Conn: nc, done: make(chan struct{})}
	proto := "imap"
	if implicitTLS {
		proto = "imaps"
	}
	c.log = s.log.With("proto", proto, "conn", c.id, "remote", c.remote.String())
	cm := s.connOpened(implicitTLS)
	defer cm.closed()
	admitted, ok := s.admit(c)
	if !ok {
		nc.Close() // far over the limit: not even worth a BYE
		return
	}
	defer s.release(c, admitted)
	defer logPanic(c.log)
	defer c.watchLogin()()

	var ic net.Conn = c.raw
	if implicitTLS {
		tc := tls.Server(c.raw, s.opts.TLSConfig)
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.log.Debug("TLS handshake failed", "err", err)
			c.raw.Close()
			return
		}
		ic = tc
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if !admitted {
				c.log.Warn("connection refused: too many connections")
				return nil, nil, &imap.Error{
					Type: imap.StatusResponseTypeBye,
					Code: imap.ResponseCodeUnavailable,
					Text: "Too many connections, try again later",
				}
			}
			return s.newSession(c, conn), nil, nil
		},
		Caps:      caps,
		Logger:    &imapLogger{c: c},
		TLSConfig: cm.startTLSConfig(s.opts.TLSConfig), // STARTTLS; never offered on an implicit-TLS connection
		// InsecureAuth stays false: no credential without TLS, ever.
	})
	// imapserver only serves listeners, so each connection gets a
	// listener that yields it once. A Server per connection also gives
	// imapserver's Printf logger the connection's attributes.
	srv.Serve(&oneConnListener{c: ic, done: c.raw.done, addr: nc.LocalAddr()})
}

// admit registers c and decides whether it gets a session (admitted) or a
// BYE greeting. ok is false when c should be dropped without a word.
func (s *Server) admit(c *conn) (admitted, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false, false
	}
	if s.admitted < s.opts.MaxConns && s.perIP[c.remote] < s.opts.MaxConnsPerIP {
		s.admitted++
		s.perIP[c.remote]++
		s.conns[c] = struct{}{}
		return true, true
	}
	// Greeting the refused with a BYE costs a goroutine (and for TLS a
	// handshake); cap how many are in flight.
	if s.rejecting >= s.opts.MaxConns {
		return false, false
	}
	s.rejecting++
	s.conns[c] = struct{}{}
	return false, true
}

func (s *Server) release(c *conn, admitted bool) {
	c.raw.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if !admitted {
		s.rejecting--
		return
	}
	s.releaseUserLocked(c)
	s.admitted--
	if s.perIP[c.remote]--; s.perIP[c.remote] <= 0 {
		delete(s.perIP, c.remote)
	}
}

// Shutdown stops accepting connections, says BYE to every connection as
// soon as it is between commands (or in IDLE), and waits for them to close.
// When ctx ends first, it closes the remaining connections, cancels store
// calls in flight and returns ctx's error. A message is never lost: an
// APPEND cut short was not acknowledged.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()

	t := time.NewTicker(shutdownPoll)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			c.byeIfIdle()
		}
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.cancel()
			s.mu.Lock()
			for c := range s.conns {
				c.raw.Close()
			}
			s.mu.Unlock()
			s.wg.Wait()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.wg.Wait()
	s.cancel()
	return nil
}

// Close stops the server at once: listeners and connections are closed
// without waiting for commands to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// byeIfIdle sends BYE and closes the connection unless a command is
// running. Connections that have not logged in are closed without a BYE:
// they may be in the middle of STARTTLS, where imapserver swaps its
// connection without a lock that Bye would take.
func (c *conn) byeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byeSent {
		return
	}
	if c.sess == nil || !c.sess.loggedIn() {
		c.byeSent = true
		c.raw.Close()
		if c.sess != nil {
			c.sess.cancel() // a LOGIN waiting out a throttle delay
		}
		return
	}
	if c.sess.busy.Load() > 0 {
		return
	}
	c.byeSent = true
	go c.sess.bye("Server shutting down") // may wait for a slow client's write
}

// trackedConn is the TCP connection with a done channel closed on Close.
// It sits under any TLS layer, so imapserver still sees *tls.Conn.
type trackedConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(func() { close(t.done) })
	return err
}

// oneConnListener hands one connection to imapserver.Server.Serve, then
// blocks until that connection is closed, so Serve returns with it.
type oneConnListener struct {
	c    net.Conn // read and cleared by Accept; Serve calls it sequentially
	done <-chan struct{}
	addr net.Addr
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if c := l.c; c != nil {
		l.c = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }

// imapLogger bridges imapserver's Printf logger to slog with the
// connection's attributes. It also turns imapserver's reaction to a command
// line over 64 KiB (NO [SERVERBUG], then the rest of the line parsed as new
// commands) into a clear BYE: the decoder reports "max size exceeded"
// through this logger before anything is written to the client.
type imapLogger struct{ c *conn }

func (l *imapLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	log := l.c.log
	switch {
	case strings.Contains(msg, "max size exceeded"):
		log.Info("command line too long, closing connection")
		l.c.mu.Lock()
		ic := l.c.ic
		l.c.mu.Unlock()
		if ic != nil {
			ic.Bye("Command line too long (limit 64 KiB)")
		}
	case strings.HasPrefix(msg, "panic"):
		log.Error("imapserver: " + msg)
	case strings.HasPrefix(msg, "failed to read command"), strings.HasPrefix(msg, "failed to write greeting"),
		strings.Contains(msg, errClientWrite.Error()), strings.Contains(msg, errClientRead.Error()),
		// A command cut short because the client left, or because we
		// closed the connection (login timeout, shutdown).
		strings.Contains(msg, net.ErrClosed.Error()), strings.HasSuffix(msg, io.ErrUnexpectedEOF.Error()),
		// Mailbox names imapserver cannot decode (it answers NO
		// [SERVERBUG]): client input, not our fault.
		strings.HasSuffix(msg, "utf7: invalid UTF-7"), strings.HasSuffix(msg, "invalid UTF-8"):
		// The client went away or stalled: routine.
		log.Debug("imapserver: " + msg)
	default:
		log.Warn("imapserver: " + msg)
	}
}

package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"
)

// state is the RFC 1939 §3 session state.
type state uint8

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

const readBufSize = 4096

// maxSASLLine bounds a SASL continuation line, CRLF included. It may exceed
// the 255-octet command limit (RFC 5034 §4 leaves it to the mechanism).
const maxSASLLine = 8 << 10

// errQuit ends the session after a QUIT reply.
var errQuit = errors.New("quit")

// errShutdown: the server is shutting down and closed an idle session.
var errShutdown = errors.New("server shutting down")

// errLineTooLong is readLine's over-limit result; the line has been discarded.
var errLineTooLong = errors.New("line too long")

// conn is one POP3 session. Everything but mu-guarded fields is owned by the
// connection's goroutine.
type conn struct {
	srv    *Server
	raw    net.Conn // the accepted TCP conn; Server.Close closes it directly
	nc     net.Conn // raw or the *tls.Conn over it, outermost, never wrapped
	br     *bufio.Reader
	bw     *bufio.Writer
	remote netip.Addr
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	state    state
	user     string // name from the USER just executed
	userPrev string // name from the USER right before this command; only PASS uses it
	drop     Maildrop
	msgs     []message
	errCount int       // bad commands: in all before login, consecutive after
	loginBy  time.Time // end of the AUTHORIZATION state's time budget
	lineBuf  []byte
	metrics  *connMetrics // nil without Options.Metrics

	mu     sync.Mutex
	idle   bool // waiting for a command; Shutdown may close the connection
	inAuth bool // in the Authenticator, maybe waiting out a throttle delay
	killed bool
}

// message is a snapshot entry with its deletion mark (RFC 1939 §5 DELE).
type message struct {
	Message
	deleted bool
}

func newConn(s *Server, nc net.Conn, remote netip.Addr) *conn {
	id := s.nextID.Add(1)
	c := &conn{
		srv:    s,
		raw:    nc,
		remote: remote,
		log:    s.log.With("conn", id, "remote", remote.String()),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.loginBy = time.Now().Add(s.opts.LoginTimeout)
	c.setConn(nc)
	return c
}

// setConn installs nc and fresh buffers. After STLS this drops whatever the
// client pipelined in plaintext (RFC 2595 §4, CVE-2011-0411 class).
func (c *conn) setConn(nc net.Conn) {
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, readBufSize)
	c.bw = bufio.NewWriterSize(deadlineWriter{nc, writeTimeout}, readBufSize)
}

// tlsActive is the one TLS predicate: it drives CAPA and the auth gate.
// It holds because nothing ever wraps the *tls.Conn.
func tlsActive(nc net.Conn) bool {
	_, ok := nc.(*tls.Conn)
	return ok
}

// run serves the connection until QUIT, an error or shutdown. A panic ends
// this connection only.
func (c *conn) run(implicitTLS bool) {
	defer c.srv.forget(c)
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic in POP3 session", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	defer c.close()
	c.metrics = c.srv.connOpened(implicitTLS)
	defer c.metrics.closed()
	c.log.Debug("connection opened", "tls", implicitTLS)
	if implicitTLS {
		if err := c.handshake(); err != nil {
			c.log.Debug("TLS handshake failed", "err", err)
			return
		}
	}
	greeting := "Sealpost POP3 server ready"
	if h := c.srv.opts.Hostname; h != "" {
		greeting += " on " + h
	}
	c.ok("%s", greeting)
	if err := c.loop(); err != nil {
		c.log.Debug("connection ended", "err", err)
	}
}

// close releases the maildrop lock without deleting anything (RFC 1939 §6:
// only QUIT enters UPDATE) and closes the socket.
func (c *conn) close() {
	c.cancel()
	c.releaseDrop()
	c.nc.Close()
	c.raw.Close()
}

func (c *conn) releaseDrop() {
	if c.drop == nil {
		return
	}
	if err := c.drop.Close(); err != nil {
		c.log.Warn("maildrop close failed", "err", err)
	}
	c.drop, c.msgs = nil, nil
}

// handshake runs the server side of TLS on c.nc under HandshakeTimeout and
// makes the *tls.Conn the session's connection.
func (c *conn) handshake() error {
	tc := tls.Server(c.nc, c.srv.opts.TLSConfig)
	deadline := time.Now().Add(c.srv.opts.HandshakeTimeout)
	if c.loginBy.Before(deadline) {
		deadline = c.loginBy // handshakes happen before login
	}
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	c.nc.SetDeadline(deadline)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	c.nc.SetDeadline(time.Time{})
	c.setConn(tc)
	return nil
}

func (c *conn) loop() error {
	for {
		if !c.hasPendingLine() {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		line, err := c.readIdle(maxCmdLine)
		if errors.Is(err, errShutdown) {
			return err
		}
		// RFC 1939 §7: PASS is valid only directly after a successful USER.
		c.userPrev, c.user = c.user, ""
		if errors.Is(err, errLineTooLong) {
			if c.reply(errLineLong) {
				return c.tooManyErrors()
			}
			continue
		}
		if err != nil {
			// RFC 1939 §3: on the autologout timer the server closes
			// "without removing any messages or sending any response".
			// The login limit is ours: say why.
			c.noteLoginTimeout(err)
			return err
		}
		cmd, perr := parseCommand(line)
		if cmd.name != "" {
			c.log.Debug("command", "cmd", cmd.name)
		}
		if perr == nil {
			perr = c.dispatch(cmd)
		}
		var fe fatalError
		switch {
		case perr == nil:
			if c.state != stateAuthorization {
				c.errCount = 0
			}
		case errors.Is(perr, errQuit):
			return c.bw.Flush()
		case errors.As(perr, &fe):
			c.noteLoginTimeout(fe.err)
			c.bw.Flush()
			return fe
		default:
			resp, known := toResp(perr)
			if !known {
				c.log.Error("command failed", "cmd", cmd.name, "err", perr)
			}
			if c.reply(resp) {
				return c.tooManyErrors()
			}
		}
	}
}

// reply writes a -ERR and reports whether the error budget is spent:
// PreAuthMaxErrors bad commands in all before login, MaxErrors in a row
// after.
func (c *conn) reply(e *respError) bool {
	c.fail(e)
	if !e.bad {
		return false
	}
	c.errCount++
	if c.state == stateAuthorization {
		return c.errCount >= c.srv.opts.PreAuthMaxErrors
	}
	return c.errCount >= c.srv.opts.MaxErrors
}

// tooManyErrors tells the client why it is cut off, after the reply to the
// last bad command, and ends the session.
func (c *conn) tooManyErrors() error {
	c.log.Info("too many bad commands, closing")
	c.fail(errTooMany)
	c.bw.Flush()
	return errors.New("too many errors")
}

// noteLoginTimeout sends the login-limit -ERR if err is a read timeout
// that hit the AUTHORIZATION state's absolute deadline.
func (c *conn) noteLoginTimeout(err error) {
	var ne net.Error
	if c.state != stateAuthorization || !errors.As(err, &ne) || !ne.Timeout() || time.Now().Before(c.loginBy) {
		return
	}
	c.log.Info("login time limit exceeded, closing")
	c.fail(errLoginTime)
	c.bw.Flush()
}

// hasPendingLine reports whether a whole pipelined command is already
// buffered; replies are flushed only when it is not (RFC 2449 §6.6).
func (c *conn) hasPendingLine() bool {
	n := c.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// readLine reads one line of at most limit octets including its line
// ending, under the state's read deadline, and returns it without CRLF (a
// bare LF is tolerated). An over-long line is read to its end, dropped, and
// reported as errLineTooLong.
func (c *conn) readLine(limit int) ([]byte, error) {
	deadline := time.Now().Add(c.srv.opts.IdleTimeout)
	if c.state == stateAuthorization {
		deadline = time.Now().Add(c.srv.opts.PreAuthTimeout)
		if c.loginBy.Before(deadline) {
			deadline = c.loginBy
		}
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	c.lineBuf = c.lineBuf[:0]
	tooLong := false
	for {
		frag, err := c.br.ReadSlice('\n')
		if !tooLong {
			if len(c.lineBuf)+len(frag) > limit {
				tooLong, c.lineBuf = true, c.lineBuf[:0]
			} else {
				c.lineBuf = append(c.lineBuf, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if tooLong {
		return nil, errLineTooLong
	}
	line := bytes.TrimSuffix(c.lineBuf, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// readIdle is readLine at a point where the session waits for the client:
// Shutdown may close the connection meanwhile, and then errShutdown is
// returned whatever was read.
func (c *conn) readIdle(limit int) ([]byte, error) {
	if !c.enterIdle() {
		return nil, errShutdown
	}
	line, err := c.readLine(limit)
	if !c.leaveIdle() {
		return nil, errShutdown
	}
	return line, err
}

func (c *conn) enterIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed || c.srv.closing.Load() {
		return false
	}
	c.idle = true
	return true
}

func (c *conn) leaveIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = false
	return !c.killed
}

// closeIfIdle is Shutdown's hook: a session waiting for a command is cut;
// its marks are dropped and nothing is deleted.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.idle || c.inAuth) && !c.killed {
		c.killed = true
		c.cancel() // ends a throttle delay; nothing to lose before login
		c.raw.Close()
	}
}

// dispatch runs one parsed command in the current state (RFC 1939 §4-6).
func (c *conn) dispatch(cmd command) error {
	switch cmd.kind {
	case cmdCAPA:
		return c.cmdCapa()
	case cmdNOOP:
		if c.state != stateTransaction {
			return errState
		}
		c.ok("")
		return nil
	case cmdQUIT:
		return c.cmdQuit()
	}
	if c.state == stateAuthorization {
		switch cmd.kind {
		case cmdSTLS:
			return c.cmdStls()
		case cmdUSER:
			return c.cmdUser(cmd)
		case cmdPASS:
			return c.cmdPass(cmd)
		case cmdAPOP:
			return c.cmdApop()
		case cmdAUTH:
			return c.cmdAuth(cmd)
		}
		return errState
	}
	switch cmd.kind {
	case cmdSTAT:
		return c.cmdStat()
	case cmdLIST, cmdUIDL:
		return c.cmdList(cmd)
	case cmdRETR:
		return c.cmdRetr(cmd.msg, -1)
	case cmdTOP:
		return c.cmdRetr(cmd.msg, cmd.lines)
	case cmdDELE:
		return c.cmdDele(cmd.msg)
	case cmdRSET:
		return c.cmdRset()
	case cmdSTLS:
		if tlsActive(c.nc) {
			return errTLSActive
		}
	}
	return errState
}

// cmdCapa lists capabilities (RFC 2449 §5). USER and SASL appear only where
// they can succeed: with TLS, before login.
func (c *conn) cmdCapa() error {
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if c.state == stateAuthorization {
		if tlsActive(c.nc) {
			caps = append(caps, "USER", "SASL PLAIN")
		} else {
			caps = append(caps, "STLS")
		}
	}
	caps = append(caps, "IMPLEMENTATION Sealpost")
	return c.multiline("Capability list follows", caps)
}

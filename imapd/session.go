package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"sealpost/mailstore"
)

// session is one connection's imapserver.Session. imapserver calls its
// methods one at a time from the connection goroutine, except Idle, which
// runs on a second goroutine while the first waits for DONE (and Close,
// which can overlap an Idle that has not yet seen its stop channel).
type session struct {
	srv    *Server
	c      *conn
	ic     *imapserver.Conn
	ctx    context.Context // cancelled by Close, or by a forced Shutdown
	cancel context.CancelFunc
	log    *slog.Logger
	busy   atomic.Int32 // commands running; Shutdown waits for zero

	// acct is set once by a successful login, on the connection goroutine,
	// before any other goroutine of the session can run.
	acct   *mailstore.Account
	authed atomic.Bool

	mu  sync.Mutex // guards sel
	sel *mailboxView

	// idleDone is closed when the running Idle returns. Commands and Poll
	// wait for it, so that a keepalive never overlaps their replies.
	idleMu   sync.Mutex
	idleDone chan struct{}
	// wmu serializes what imapd writes itself, outside imapserver's
	// encoder: the IDLE keepalive, and the BYEs it sends (Shutdown, an
	// overflowed view).
	wmu sync.Mutex
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (s *Server) newSession(c *conn, ic *imapserver.Conn) *session {
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &session{srv: s, c: c, ic: ic, ctx: ctx, cancel: cancel, log: c.log}
	c.mu.Lock()
	c.ic, c.sess = ic, sess
	c.mu.Unlock()
	return sess
}

func logPanic(log *slog.Logger) {
	if v := recover(); v != nil {
		log.Error("panic", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}

// enter marks a command as running (Shutdown waits for it) and returns the
// function that ends it, logging its duration at debug level.
func (s *session) enter(cmd string, attrs ...any) func() {
	s.waitIdle()
	s.busy.Add(1)
	start := time.Now()
	return func() {
		s.busy.Add(-1)
		if s.log.Enabled(s.ctx, slog.LevelDebug) {
			s.log.Debug("command", append(attrs, "cmd", cmd, "dur", time.Since(start))...)
		}
	}
}

func (s *session) loggedIn() bool { return s.authed.Load() }

// tlsActive is the one TLS predicate, the same one imapserver uses: the
// connection imapserver talks through is a *tls.Conn.
func (s *session) tlsActive() bool {
	_, ok := s.ic.NetConn().(*tls.Conn)
	return ok
}

// Close ends the session: it cancels the session's store calls and stops
// following the selected mailbox.
func (s *session) Close() error {
	s.cancel()
	s.unselect()
	return nil
}

// Login checks a password. imapserver calls it only on TLS connections
// (RFC 9051 §6.2.3: no plaintext password is accepted before TLS); the
// check is repeated here so the Authenticator can never see one.
func (s *session) Login(username, password string) error {
	defer s.enter("LOGIN")()
	if !s.tlsActive() {
		return errPrivacyRequired
	}
	if s.acct != nil {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Already logged in"}
	}
	ctx, cancel := context.WithDeadline(s.ctx, s.c.loginBy) // throttle waits end with LoginTimeout
	defer cancel()
	acct, err := s.srv.opts.Auth.Login(ctx, s.c.remote, username, password)
	if err != nil {
		reply, known := loginReply(err)
		if !known {
			s.log.Error("login failed", "err", err)
		}
		return reply
	}
	if !s.srv.admitUser(s.c, acct.User().Name) {
		s.log.Info("login refused: too many connections for this user from this address",
			"user", acct.User().Name, "limit", s.srv.opts.MaxConnsPerUserIP)
		return errUserIPLimit
	}
	s.acct = acct
	s.authed.Store(true)
	s.log = s.log.With("user", acct.User().Name)
	s.log.Debug("logged in")
	return nil
}

// AuthenticateMechanisms lists the SASL mechanisms; imapserver advertises
// them (AUTH=…) only once TLS is active.
func (s *session) AuthenticateMechanisms() []string { return []string{"PLAIN", "LOGIN"} }

// Authenticate returns the SASL server for mech. imapserver refuses
// AUTHENTICATE without TLS before calling it.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !s.tlsActive() {
		return nil, errPrivacyRequired
	}
	switch mech {
	case "PLAIN":
		return saslErrors{sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return &imap.Error{
					Type: imap.StatusResponseTypeNo,
					Code: imap.ResponseCodeAuthorizationFailed,
					Text: "Acting as another user is not supported",
				}
			}
			return s.Login(username, password)
		})}, nil
	case "LOGIN":
		return saslErrors{&loginServer{login: s.Login}}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unsupported SASL mechanism"}
}

// saslErrors turns go-sasl's own errors (malformed PLAIN responses), which
// imapserver would report as SERVERBUG, into BAD.
type saslErrors struct{ sasl.Server }

func (s saslErrors) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := s.Server.Next(resp)
	var ie *imap.Error
	if err != nil && !errors.As(err, &ie) {
		err = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Malformed SASL response"}
	}
	return ch, done, err
}

// loginServer is the obsolete SASL LOGIN mechanism
// (draft-murchison-sasl-login), still used by old Outlook versions: the
// server asks "Username:" then "Password:". An initial response (SASL-IR)
// is the user name.
type loginServer struct {
	login    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.login(l.username, string(resp))
	}
	return nil, false, errors.New("sasl login: unexpected response")
}

// AppendLimit is advertised as APPENDLIMIT. imapserver also calls it before
// login, when it refuses any literal above the limit without reading it:
// zero there, so nobody can push data before authenticating.
func (s *session) AppendLimit() uint32 {
	if s.acct == nil {
		return 0
	}
	return uint32(s.srv.opts.AppendLimit)
}

// Namespace (RFC 2342): one personal namespace, "" with "/".
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailstore.Delimiter}}}, nil
}

// systemFlags are the flags every mailbox supports (RFC 9051 §2.3.2).
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// Select opens a mailbox. The view is seeded from a snapshot taken after
// the watch is registered, so no change can fall between the two.
func (s *session) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	defer s.enter("SELECT", "mailbox", name)()
	s.unselect()
	v, snap, err := openView(s.ctx, s.acct, name, opts.ReadOnly, s.srv.queueLimit)
	if err != nil {
		return nil, s.fail("select", err, operand, "mailbox", name)
	}
	data := &imap.SelectData{
		Flags:       systemFlags,
		NumMessages: uint32(len(snap.UIDs)),
		UIDNext:     imap.UID(snap.Info.UIDNext),
		UIDValidity: snap.Info.UIDValidity,
	}
	if !opts.ReadOnly {
		// \* : clients may create keywords (RFC 9051 §7.1).
		data.PermanentFlags = append(append([]imap.Flag(nil), systemFlags...), imap.FlagWildcard)
	}
	// OK [UNSEEN n] is IMAP4rev1 only; look for the first unseen message
	// only when there is one and the client has not enabled IMAP4rev2.
	if snap.Info.Unseen > 0 && !s.ic.EnabledCaps().Has(imap.CapIMAP4rev2) {
		seq, err := firstUnseen(s.ctx, s.acct, snap.Info.ID, snap.UIDs)
		if err != nil {
			v.close()
			return nil, s.fail("select", err, operand, "mailbox", name)
		}
		data.FirstUnseenSeqNum = seq
	}
	s.mu.Lock()
	s.sel = v
	s.mu.Unlock()
	return data, nil
}

// firstUnseen is the sequence number of the first unseen message of the
// snapshot, 0 if none. The store looks it up in a second transaction; a
// message that arrived in between is not the client's yet and counts as
// none.
func firstUnseen(ctx context.Context, acct *mailstore.Account, id mailstore.MailboxID, uids []mailstore.UID) (uint32, error) {
	uid, ok, err := acct.FirstUnseen(ctx, id)
	if err != nil || !ok {
		return 0, err
	}
	if i, found := slices.BinarySearch(uids, uid); found {
		return uint32(i + 1), nil
	}
	return 0, nil
}

// Unselect leaves the selected mailbox (CLOSE has already expunged).
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	s.mu.Lock()
	v := s.sel
	s.sel = nil
	s.mu.Unlock()
	if v != nil {
		v.close()
	}
}

func (s *session) selected() *mailboxView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sel
}

// Poll reports pending changes after each command; imapserver withholds
// EXPUNGE (allowExpunge false) after FETCH, STORE and SEARCH (RFC 9051
// §7.5.1).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	s.waitIdle()
	v := s.selected()
	if v == nil {
		return nil
	}
	return s.viewErr(v.flush(w, allowExpunge))
}

// viewErr ends the session with BYE when the selected view overflowed
// (its client left too many changes unread, see defaultQueueLimit); other
// errors pass through.
func (s *session) viewErr(err error) error {
	if !errors.Is(err, errViewOverflow) {
		return err
	}
	s.log.Info("selected mailbox changed too much while the client was away, closing connection")
	s.bye("Too many changes to the selected mailbox, please reconnect")
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Connection closed"}
}

// bye says BYE and closes the connection, never during a keepalive.
func (s *session) bye(text string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.ic.Bye(text)
}

// waitIdle waits for an Idle that is still running: imapserver returns
// from IDLE at once when the client sends something other than DONE, while
// our Idle may be writing a keepalive.
func (s *session) waitIdle() {
	s.idleMu.Lock()
	done := s.idleDone
	s.idleMu.Unlock()
	if done != nil {
		<-done
	}
}

// Idle reports changes as they happen until the client sends DONE, with a
// "* OK Still here" every IdleKeepalive so NAT boxes keep the connection.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	done := make(chan struct{})
	s.idleMu.Lock()
	s.idleDone = done
	s.idleMu.Unlock()
	defer close(done)
	v := s.selected()
	var notify <-chan struct{}
	if v != nil {
		notify = v.notify
	}
	t := time.NewTicker(s.srv.opts.IdleKeepalive)
	defer t.Stop()
	for {
		if v != nil {
			if err := v.flush(w, true); err != nil {
				return s.viewErr(err)
			}
		}
		select {
		case <-stop:
			return nil
		case <-s.ctx.Done():
			return nil
		case <-notify:
		case <-t.C:
			if err := s.keepalive(stop); err != nil {
				return err
			}
		}
	}
}

// keepalive writes an untagged OK. imapserver has no way to write one
// through its encoder (which serializes its writes), so it goes straight to
// the connection, in one Write, which a *tls.Conn never interleaves with
// another. Nothing else is written meanwhile: nothing is left in
// imapserver's buffer during IDLE (the replies a command batches are
// flushed by its tagged reply, and IDLE's "+ idling" and updates are
// flushed as written), it writes nothing during IDLE but our updates, which
// run on this goroutine; our own BYEs take wmu; once stop is closed no keepalive
// starts, and the commands that follow wait (waitIdle) for Idle to return.
func (s *session) keepalive(stop <-chan struct{}) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-stop:
		return nil
	default:
	}
	nc := s.ic.NetConn()
	nc.SetWriteDeadline(time.Now().Add(keepaliveWriteTimeout))
	_, err := io.WriteString(nc, "* OK Still here\r\n")
	nc.SetWriteDeadline(time.Time{})
	return err
}

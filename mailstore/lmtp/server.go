package lmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"sealpost/mailstore"
)

// Store is what the inlet needs from the mail store.
type Store interface {
	LookupUser(ctx context.Context, name string) (mailstore.User, error)
	Deliver(ctx context.Context, user string, r io.Reader) (mailstore.AppendResult, error)
	MaxMessageSize() int64
}

// Options configure the LMTP server.
type Options struct {
	Store Store // required
	// Domains accepted in recipient addresses (case-insensitive). Empty:
	// any domain, which suits an MTA that already decided the mail is ours.
	Domains []string
	// RecipientDelimiter is the set of characters that separate the user
	// from a tag ("ann+lists@x" delivers to ann), split at the first one
	// found, as Postfix's recipient_delimiter ("+-" accepts both ann+x
	// and ann-x). Empty: "+".
	RecipientDelimiter string
	Hostname           string // LHLO greeting name; empty: "localhost"
	// MaxMessageSize is advertised with SIZE and enforced on DATA; zero:
	// the store's maximum. The store accepts it plus the trace headers
	// the inlet adds (mailstore.TraceAllowance).
	MaxMessageSize int64
	MaxRecipients  int           // zero: 100
	Timeout        time.Duration // per read and write; zero: 5 min (RFC 5321 §4.5.3.2)
	SpoolDir       string        // where large messages are buffered; empty: os.TempDir()
	Logger         *slog.Logger  // nil: discard
	Metrics        Metrics       // delivery counts and store latency; nil: none
}

// Server is an LMTP server. Serve it on as many listeners as needed.
type Server struct {
	opts Options
	log  *slog.Logger
	smtp *smtp.Server
	conn atomic.Uint64
}

// New checks opts and returns a server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("lmtp: Store is required")
	}
	if opts.RecipientDelimiter == "" {
		opts.RecipientDelimiter = "+"
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MaxMessageSize <= 0 || opts.MaxMessageSize > opts.Store.MaxMessageSize() {
		opts.MaxMessageSize = opts.Store.MaxMessageSize()
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = 100
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger.With("proto", "lmtp")}
	srv := smtp.NewServer(s)
	srv.LMTP = true
	srv.Domain = opts.Hostname
	// go-smtp's DATA reader must read the terminating dot within its
	// budget, so it refuses a message of exactly MaxMessageBytes. One byte
	// more lets DATA take exactly MaxMessageSize; MAIL's SIZE= and
	// LMTPData enforce MaxMessageSize itself (BDAT would take the extra
	// byte). The cost: LHLO advertises SIZE one byte too high.
	srv.MaxMessageBytes = opts.MaxMessageSize + 1
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxLineLength = 0 // lineConn limits lines instead, see linelimit.go
	srv.ReadTimeout = opts.Timeout
	srv.WriteTimeout = opts.Timeout
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	s.smtp = srv
	return s, nil
}

// Serve accepts LMTP connections on l until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(listener{l})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for sessions to end (or ctx).
func (s *Server) Shutdown(ctx context.Context) error { return s.smtp.Shutdown(ctx) }

// Close stops the server at once.
func (s *Server) Close() error { return s.smtp.Close() }

// NewSession implements smtp.Backend; go-smtp calls it at LHLO.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	lc, _ := c.Conn().(*lineConn)
	return &session{s: s, lc: lc, log: s.log.With("conn", s.conn.Add(1))}, nil
}

type recipient struct {
	addr string // exactly as given in RCPT TO, the key for SetStatus
	user string
}

type session struct {
	s     *Server
	lc    *lineConn
	log   *slog.Logger
	from  *string
	rcpts []recipient
}

var _ smtp.LMTPSession = (*session)(nil)

func (ss *session) Reset() {
	ss.from, ss.rcpts = nil, nil
	ss.lc.setMessageMode(false, 0)
}
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if opts != nil && opts.Size > ss.s.opts.MaxMessageSize {
		return errTooBig
	}
	if len(from) > maxPath {
		return errLongSender
	}
	ss.from = &from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	err := ss.rcpt(to)
	if err != nil {
		ss.s.countRecipient(err)
	}
	return err
}

func (ss *session) rcpt(to string) error {
	if ss.from == nil {
		return errNoSender
	}
	if len(to) > maxPath {
		return errLongRcpt
	}
	user, err := ss.s.userOf(to)
	if err != nil {
		return err
	}
	if _, err := ss.s.opts.Store.LookupUser(context.Background(), user); err != nil {
		if !errors.Is(err, mailstore.ErrNoSuchUser) {
			ss.log.Error("look up recipient", "err", err)
		}
		return toSMTP(err)
	}
	ss.rcpts = append(ss.rcpts, recipient{addr: to, user: user})
	ss.lc.setMessageMode(true, ss.s.opts.MaxMessageSize)
	return nil
}

// maxPath bounds the addresses in MAIL FROM and RCPT TO, far above RFC
// 5321's 256 octets (§4.5.3.1.3) so that long SRS or BATV addresses pass,
// but low enough that the trace headers the inlet adds always fit in
// mailstore.TraceAllowance: a message accepted at SIZE must not be refused
// for what the inlet added to it.
const maxPath = 1024

// traceHeader is what the inlet prepends to each recipient's copy.
func traceHeader(from, rcpt string) string {
	return fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, rcpt)
}

// userOf maps a recipient address to a store user: the local part before
// the recipient delimiter, for an accepted domain ("localhost" and the
// server's host name are always its own).
func (s *Server) userOf(addr string) (string, error) {
	local, domain, hasAt := strings.Cut(addr, "@")
	if local == "" || hasAt && domain == "" || strings.ContainsAny(addr, " \t\r\n<>") {
		return "", errBadAddress
	}
	if domain != "" && len(s.opts.Domains) > 0 && !containsFold(s.opts.Domains, domain) &&
		!strings.EqualFold(domain, "localhost") && !strings.EqualFold(domain, s.opts.Hostname) {
		return "", errBadDomain
	}
	if i := strings.IndexAny(local, s.opts.RecipientDelimiter); i > 0 {
		local = local[:i]
	}
	u, err := mailstore.NormalizeUser(local)
	if err != nil {
		return "", errUnknownUser
	}
	return u, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Data is used only by plain SMTP; LMTPData handles LMTP.
func (ss *session) Data(r io.Reader) error {
	return errTemp
}

func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	start := time.Now()
	sp := &spool{dir: ss.s.opts.SpoolDir}
	defer sp.close()
	if _, err := io.Copy(sp, r); err != nil {
		reply := toSMTP(err)
		if reply == errNoSpace {
			ss.log.Error("spool message", "err", err)
		} else if !errors.Is(err, smtp.ErrDataTooLarge) {
			ss.log.Warn("read message", "err", err)
		}
		for range ss.rcpts {
			ss.s.countRecipient(reply)
		}
		return reply
	}
	if sp.size > ss.s.opts.MaxMessageSize {
		return errTooBig
	}
	// Each recipient's delivery waits for its own fsyncs and commit; run
	// them side by side (a few at a time) so that a message to several
	// users costs about one delivery, not one per recipient: accounts
	// commit independently, and two recipients in one account share a
	// commit batch. Replies still go out in RCPT order.
	done := make([]chan error, len(ss.rcpts))
	for i := range done {
		done[i] = make(chan error, 1)
	}
	go func() {
		slots := make(chan struct{}, maxParallelRcpts)
		for i, rc := range ss.rcpts {
			slots <- struct{}{}
			go func() {
				defer func() { <-slots }()
				done[i] <- ss.deliverTo(sp, rc)
			}()
		}
	}()
	for i, rc := range ss.rcpts {
		err := <-done[i]
		reply := toSMTP(err)
		if reply == errTooBig && sp.size <= ss.s.opts.MaxMessageSize {
			// We accepted this size; the store refusing it is our bug
			// (a store limit below ours), not the sender's: do not bounce.
			ss.log.Error("store refused a message of an accepted size", "user", rc.user, "size", sp.size, "err", err)
			reply = errTemp
		}
		ss.s.countRecipient(reply)
		if reply == errTemp || reply == errNoSpace {
			ss.log.Error("deliver", "user", rc.user, "err", err)
		} else {
			ss.log.Info("deliver", "user", rc.user, "size", sp.size, "result", replyCode(reply), "dur", time.Since(start))
		}
		status.SetStatus(rc.addr, reply)
	}
	return nil
}

// maxParallelRcpts bounds the deliveries of one LMTP transaction that run
// at once (each holds a write buffer and a parser).
const maxParallelRcpts = 8

// deliverTo stores the spooled message, with its trace header, for one
// recipient. It runs on a goroutine of its own, outside go-smtp's panic
// recovery, so it recovers a panic itself: that recipient gets a 451 and
// the server keeps running.
func (ss *session) deliverTo(sp *spool, rc recipient) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ss.log.Error("deliver: panic", "user", rc.user, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	hdr := traceHeader(*ss.from, rc.addr)
	t := time.Now()
	_, err = ss.s.opts.Store.Deliver(context.Background(), rc.user, io.MultiReader(strings.NewReader(hdr), sp.reader()))
	ss.s.observeDelivery(time.Since(t))
	return err
}

func replyCode(err error) int {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code
	}
	return 250
}

// spool keeps a message in memory up to spoolMem bytes and in an unlinked
// temp file beyond, so each recipient's delivery can re-read it.
type spool struct {
	dir  string
	buf  bytes.Buffer
	f    *os.File
	size int64
}

const spoolMem = 1 << 20

func (s *spool) Write(p []byte) (int, error) {
	s.size += int64(len(p))
	if s.f == nil && s.buf.Len()+len(p) <= spoolMem {
		return s.buf.Write(p)
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "lmtp-spool-")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		os.Remove(f.Name())
		s.f = f
		if _, err := s.f.Write(s.buf.Bytes()); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.buf = bytes.Buffer{}
	}
	return s.f.Write(p)
}

// reader returns a new reader of the whole message; several may be read
// at once.
func (s *spool) reader() io.Reader {
	if s.f == nil {
		return bytes.NewReader(s.buf.Bytes())
	}
	return io.NewSectionReader(s.f, 0, s.size)
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
	}
}

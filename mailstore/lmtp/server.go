package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
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
	SpoolDir       string        // where large messages to several recipients are buffered; empty: os.TempDir()
	Logger         *slog.Logger  // nil: discard
	Metrics        Metrics       // delivery counts and store latency; nil: none
}

// Server is an LMTP server. Serve it on as many listeners as needed.
type Server struct {
	opts Options
	log  *slog.Logger
	smtp *smtp.Server
	conn atomic.Uint64

	mu    sync.Mutex
	conns map[*lineConn]struct{} // open connections, for Shutdown
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
	s := &Server{opts: opts, log: opts.Logger.With("proto", "lmtp"), conns: map[*lineConn]struct{}{}}
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
	err := s.smtp.Serve(listener{Listener: l, s: s})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for sessions to end. When ctx ends
// first, it closes the sessions left: idle ones (an MTA's connection
// cache) and ones still receiving a message. Those must not linger: a
// message to one recipient is written into the store as it arrives and
// holds its account open (Store.Close would wait for it). Nothing they
// were sending was acknowledged, so the MTA still has it.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	if ctx.Err() != nil {
		s.mu.Lock()
		for c := range s.conns {
			c.Conn.Close()
		}
		s.mu.Unlock()
	}
	return err
}

func (s *Server) track(c *lineConn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

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
	if len(ss.rcpts) == 1 {
		return ss.stream(r, status)
	}
	start := time.Now()
	sp := &spool{dir: ss.s.opts.SpoolDir}
	defer sp.close()
	if err := sp.readFrom(r); err != nil {
		return ss.readFailed(err)
	}
	if sp.size > ss.s.opts.MaxMessageSize {
		return ss.readFailed(errTooBig)
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
				t := time.Now()
				err := ss.deliverTo(sp.reader(), rc)
				ss.s.observeDelivery(time.Since(t))
				done[i] <- err
			}()
		}
	}()
	for i, rc := range ss.rcpts {
		status.SetStatus(rc.addr, ss.reply(rc, <-done[i], sp.size, start))
	}
	return nil
}

// stream delivers the message of a one-recipient transaction straight
// from the connection into the store, without a spool: the store parses
// and writes it as it arrives, and it is committed only if all of it
// arrived (the store reads to the end of DATA and fails on any read
// error), so the 250 still means durable.
func (ss *session) stream(r io.Reader, status smtp.StatusCollector) error {
	start := time.Now()
	rc := ss.rcpts[0]
	d := &dataStream{r: r, max: ss.s.opts.MaxMessageSize}
	err := ss.deliverTo(d, rc)
	if d.end.IsZero() && d.err == nil {
		// The store stopped reading early (over quota, a failed write):
		// read the rest of DATA before its reply goes out.
		io.Copy(io.Discard, d)
	}
	if d.err != nil {
		return ss.readFailed(d.err)
	}
	ss.s.observeDelivery(time.Since(d.end))
	status.SetStatus(rc.addr, ss.reply(rc, err, d.size, start))
	return nil
}

// dataStream counts what the store reads of DATA and fails once it is
// over max. It keeps the first read error: with it, the message did not
// arrive whole, whatever the store made of that.
type dataStream struct {
	r    io.Reader
	max  int64
	size int64
	err  error
	end  time.Time // when the end of DATA was read
}

func (d *dataStream) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	d.size += int64(n)
	switch {
	case d.size > d.max:
		d.err = errTooBig
		return 0, d.err
	case err == io.EOF:
		if d.end.IsZero() {
			d.end = time.Now()
		}
	case err != nil:
		d.err = err
	}
	return n, err
}

// readFailed is the reply, for all recipients, to DATA that could not be
// read whole (too big, the connection lost, the spool failed).
func (ss *session) readFailed(err error) error {
	reply := toSMTP(err)
	if reply == errNoSpace {
		ss.log.Error("spool message", "err", err)
	} else if reply != errTooBig {
		ss.log.Warn("read message", "err", err)
	}
	for range ss.rcpts {
		ss.s.countRecipient(reply)
	}
	return reply
}

// reply maps one recipient's delivery result to its reply, counts and
// logs it. The message was within MaxMessageSize.
func (ss *session) reply(rc recipient, err error, size int64, start time.Time) error {
	reply := toSMTP(err)
	if reply == errTooBig {
		// We accepted this size; the store refusing it is our bug
		// (a store limit below ours), not the sender's: do not bounce.
		ss.log.Error("store refused a message of an accepted size", "user", rc.user, "size", size, "err", err)
		reply = errTemp
	}
	ss.s.countRecipient(reply)
	if reply == errTemp || reply == errNoSpace {
		ss.log.Error("deliver", "user", rc.user, "err", err)
	} else {
		ss.log.Info("deliver", "user", rc.user, "size", size, "result", replyCode(reply), "dur", time.Since(start))
	}
	return reply
}

// maxParallelRcpts bounds the deliveries of one LMTP transaction that run
// at once (each holds a write buffer and a parser).
const maxParallelRcpts = 8

// deliverTo stores the message, with its trace header, for one recipient.
// It may run on a goroutine of its own, outside go-smtp's panic recovery,
// so it recovers a panic itself: that recipient gets a 451 and the server
// keeps running.
func (ss *session) deliverTo(msg io.Reader, rc recipient) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ss.log.Error("deliver: panic", "user", rc.user, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	hdr := traceHeader(*ss.from, rc.addr)
	_, err = ss.s.opts.Store.Deliver(context.Background(), rc.user, io.MultiReader(strings.NewReader(hdr), msg))
	return err
}

func replyCode(err error) int {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code
	}
	return 250
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"sealpost/mailstore"
	"sealpost/mailstore/mailfmt"
)

// storeAdmin is everything the admin commands do to a store. localAdmin
// does it on a store this process opened (the server is stopped, or this
// is the server answering its control socket); controlClient asks the
// running server (adminclient.go). Commands are written once against it.
type storeAdmin interface {
	userAdmin
	ImportUser(ctx context.Context, name, hash string, quota int64) (mailstore.User, error)
	Mailboxes(ctx context.Context, user string) ([]mailstore.MailboxInfo, error)
	CreateMailbox(ctx context.Context, user, name, specialUse string) error
	DeleteMailbox(ctx context.Context, user, name string) error
	Stats(ctx context.Context) (*mailstore.Stats, error)
	CheckLive(ctx context.Context) (*mailstore.LiveCheckReport, error)
	// Import stores the messages next returns until io.EOF, one at a time
	// (a message with a nil Body only creates its mailbox). done hears of
	// each; an error it returns stops the import. Per-message failures go
	// to done; Import returns the error that ended it early.
	Import(ctx context.Context, user string, next func() (*mailfmt.Message, error), done func(importResult) error) error
	// Export visits the mailboxes (mailbox "" = all) and their messages in
	// UID order: visit(mb, nil) as a mailbox starts, then visit(mb, msg).
	Export(ctx context.Context, user, mailbox string, visit func(mailstore.MailboxInfo, *mailfmt.Message) error) error
	// Backup hands every file of a consistent copy of the store to put.
	Backup(ctx context.Context, put func(*mailstore.BackupFile) error) (*mailstore.BackupManifest, error)
}

// importResult is the outcome of importing one message.
type importResult struct {
	Mailbox string
	UID     mailstore.UID
	Err     error
	Fatal   bool // the import cannot go on (over quota, no such user, storage down)
}

// openStoreAdmin reaches the store through a running server's control
// socket, or opens it directly when no server runs.
func openStoreAdmin(dir string) (storeAdmin, func(), error) {
	sock := filepath.Join(dir, controlSock)
	if _, err := os.Stat(sock); err == nil {
		cc := controlClient{path: sock}
		if _, err := cc.call(context.Background(), controlRequest{Op: "ping"}); err == nil {
			return cc, func() {}, nil
		}
	}
	st, err := mailstore.Open(dir, mailstore.Options{})
	if errors.Is(err, mailstore.ErrLocked) {
		return nil, nil, fmt.Errorf("the store in %s is in use by a running server, but its control socket %s does not answer", dir, sock)
	}
	if err != nil {
		return nil, nil, err
	}
	return localAdmin{st}, func() { st.Close() }, nil
}

// localAdmin implements storeAdmin on an open store.
type localAdmin struct{ *mailstore.Store }

var _ storeAdmin = localAdmin{}
var _ storeAdmin = controlClient{}

func (l localAdmin) Mailboxes(ctx context.Context, user string) ([]mailstore.MailboxInfo, error) {
	a, err := l.Account(ctx, user)
	if err != nil {
		return nil, err
	}
	return a.Mailboxes(ctx)
}

// CreateMailbox creates and subscribes a mailbox: clients that show only
// subscribed folders (Thunderbird's default) then see it.
func (l localAdmin) CreateMailbox(ctx context.Context, user, name, specialUse string) error {
	a, err := l.Account(ctx, user)
	if err != nil {
		return err
	}
	if err := a.CreateMailbox(ctx, name, specialUse); err != nil {
		return err
	}
	return a.SetSubscribed(ctx, name, true)
}

func (l localAdmin) DeleteMailbox(ctx context.Context, user, name string) error {
	a, err := l.Account(ctx, user)
	if err != nil {
		return err
	}
	return a.DeleteMailbox(ctx, name)
}

// importer stores imported messages in one account, creating (and
// subscribing) missing mailboxes on the way.
type importer struct {
	acct  *mailstore.Account
	known map[string]bool
}

func newImporter(a *mailstore.Account) *importer {
	return &importer{acct: a, known: map[string]bool{}}
}

func (im *importer) add(ctx context.Context, m *mailfmt.Message) importResult {
	name, err := mailstore.NormalizeMailbox(m.Mailbox)
	if err != nil {
		return importResult{Mailbox: m.Mailbox, Err: err}
	}
	res := importResult{Mailbox: name}
	if !im.known[name] {
		if _, err := im.acct.Mailbox(ctx, name); errors.Is(err, mailstore.ErrNoSuchMailbox) {
			err = im.acct.CreateMailbox(ctx, name, "")
			if err == nil || errors.Is(err, mailstore.ErrMailboxExists) {
				err = im.acct.SetSubscribed(ctx, name, true)
			}
			if err != nil {
				res.Err, res.Fatal = err, fatalImport(err)
				return res
			}
		} else if err != nil {
			res.Err, res.Fatal = err, fatalImport(err)
			return res
		}
		im.known[name] = true
	}
	if m.Body == nil {
		return res
	}
	ar, err := im.acct.Append(ctx, name, m.Body, mailstore.AppendOptions{Flags: m.Flags, InternalDate: m.Date})
	res.UID, res.Err, res.Fatal = ar.Message.UID, err, err != nil && fatalImport(err)
	return res
}

// fatalImport tells errors that will fail every further message from
// those of one message (too big, unparsable, bad folder name).
func fatalImport(err error) bool {
	for _, e := range []error{mailstore.ErrOverQuota, mailstore.ErrNoSuchUser, mailstore.ErrClosed,
		context.Canceled, context.DeadlineExceeded, syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sourceReader remembers a read error of the import source, so that a
// failing disk on the reading side is told apart from a store failure.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

func (l localAdmin) Import(ctx context.Context, user string, next func() (*mailfmt.Message, error), done func(importResult) error) error {
	a, err := l.Account(ctx, user)
	if err != nil {
		return err
	}
	im := newImporter(a)
	for {
		m, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var src *sourceReader
		if m.Body != nil {
			src = &sourceReader{r: m.Body}
			m.Body = src
		}
		res := im.add(ctx, m)
		if src != nil && src.err != nil {
			return fmt.Errorf("reading the source: %w", src.err)
		}
		if err := done(res); err != nil {
			return err
		}
		if res.Fatal {
			return res.Err
		}
	}
}

func (l localAdmin) Export(ctx context.Context, user, mailbox string, visit func(mailstore.MailboxInfo, *mailfmt.Message) error) error {
	a, err := l.Account(ctx, user)
	if err != nil {
		return err
	}
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		return err
	}
	if mailbox != "" {
		mb, err := a.Mailbox(ctx, mailbox)
		if err != nil {
			return err
		}
		mbs = []mailstore.MailboxInfo{mb}
	}
	for _, mb := range mbs {
		if err := visit(mb, nil); err != nil {
			return err
		}
		err := a.Fetch(ctx, mb.ID, nil, mailstore.FetchWant{}, func(mm *mailstore.MessageMeta) error {
			f, err := a.Open(mm.Message)
			if errors.Is(err, mailstore.ErrGone) {
				return nil // expunged meanwhile
			}
			if err != nil {
				return err
			}
			defer f.Close()
			return visit(mb, &mailfmt.Message{Mailbox: mb.Name, Flags: mm.Flags, Date: mm.InternalDate, Body: f, Size: mm.Size})
		})
		if err != nil {
			return fmt.Errorf("mailbox %s: %w", mb.Name, err)
		}
	}
	return nil
}

// Operations on the control socket beyond the user.* ones of control.go.

func doStoreOp(ctx context.Context, st userAdmin, req controlRequest, rep *controlReply) error {
	sa, ok := st.(storeAdmin)
	if !ok {
		return fmt.Errorf("unknown control operation %q", req.Op)
	}
	var err error
	switch req.Op {
	case "user.import":
		_, err = sa.ImportUser(ctx, req.Name, req.Hash, req.Quota)
	case "mailbox.list":
		rep.Mailboxes, err = sa.Mailboxes(ctx, req.Name)
	case "mailbox.create":
		err = sa.CreateMailbox(ctx, req.Name, req.Mailbox, req.SpecialUse)
	case "mailbox.delete":
		err = sa.DeleteMailbox(ctx, req.Name, req.Mailbox)
	case "stats":
		rep.Stats, err = sa.Stats(ctx)
	case "check":
		rep.Check, err = sa.CheckLive(ctx)
	default:
		err = fmt.Errorf("unknown control operation %q", req.Op)
	}
	return err
}

func sentinelCode(err error) string {
	for code, s := range sentinels {
		if errors.Is(err, s) {
			return code
		}
	}
	return ""
}

// codedError rebuilds an error received over the control socket, so that
// errors.Is works on the client as on the server.
func codedError(msg, code string) error {
	if s, ok := sentinels[code]; ok {
		return &remoteError{msg: msg, sentinel: s}
	}
	return errors.New(msg)
}

// remoteError reads as the server's message and unwraps to its sentinel.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

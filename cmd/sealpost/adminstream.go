package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"sealpost/mailstore"
	"sealpost/mailstore/mailfmt"
)

// The streaming admin operations over the control socket. The admin
// command reads and writes the files (it runs as the admin, who can read
// ~ann/Maildir or write /srv/backup, which a hardened server often cannot:
// see dist/sealpost.service) and the server does the store side, one
// message or file at a time, so neither side holds a mailbox in memory.

func isStreamOp(op string) bool { return op == "import" || op == "export" || op == "backup" }

// serveStream runs a streaming operation for a control client.
func serveStream(ctx context.Context, s *stream, st localAdmin, req controlRequest, log *slog.Logger) {
	start := time.Now()
	var n int64
	var err error
	switch req.Op {
	case "import":
		n, err = serveImport(ctx, s, st, req.Name)
	case "export":
		n, err = serveExport(ctx, s, st, req.Name, req.Mailbox)
	case "backup":
		n, err = serveBackup(ctx, s, st)
	}
	if err != nil {
		// Tell the client, if the connection still works.
		s.send(errFrame(err, true))
	}
	s.flush()
	log.Info("admin", "op", req.Op, "user", req.Name, "items", n, "dur", time.Since(start).Round(time.Millisecond), "err", err)
}

func serveImport(ctx context.Context, s *stream, st localAdmin, user string) (int64, error) {
	a, err := st.Account(ctx, user)
	if err != nil {
		return 0, err
	}
	im := newImporter(a)
	if err := s.send(&frame{Type: "ready"}); err != nil {
		return 0, err
	}
	var n int64
	for {
		if err := s.flush(); err != nil {
			return n, err
		}
		f, err := s.recv()
		if err != nil {
			return n, err
		}
		switch f.Type {
		case "end":
			return n, s.send(&frame{Type: "end"})
		case "msg":
		default:
			return n, fmt.Errorf("control stream: unexpected %q frame", f.Type)
		}
		m := &mailfmt.Message{Mailbox: f.Mailbox, Flags: f.Flags, Date: f.Date}
		var body *chunkReader
		if f.Body {
			body = s.body()
			m.Body = body
		}
		res := im.add(ctx, m)
		if body != nil {
			if err := body.drain(); err != nil {
				return n, err
			}
		}
		rf := &frame{Type: "result", Mailbox: res.Mailbox, UID: uint32(res.UID), Fatal: res.Fatal}
		if res.Err != nil {
			rf.Error, rf.Code = res.Err.Error(), sentinelCode(res.Err)
		} else if f.Body {
			n++
		}
		if err := s.send(rf); err != nil {
			return n, err
		}
	}
}

func serveExport(ctx context.Context, s *stream, st localAdmin, user, mailbox string) (int64, error) {
	var n int64
	err := st.Export(ctx, user, mailbox, func(mb mailstore.MailboxInfo, m *mailfmt.Message) error {
		if m == nil {
			return s.send(&frame{Type: "mailbox", Info: &mb})
		}
		if err := s.send(&frame{Type: "msg", Mailbox: m.Mailbox, Flags: m.Flags, Date: m.Date, Size: m.Size, Body: true}); err != nil {
			return err
		}
		n++
		_, err := s.sendBody(m.Body)
		return err
	})
	if err != nil {
		return n, err
	}
	if err := s.send(&frame{Type: "end"}); err != nil {
		return n, err
	}
	return n, s.flush()
}

func serveBackup(ctx context.Context, s *stream, st localAdmin) (int64, error) {
	var n int64
	man, err := st.Backup(ctx, func(f *mailstore.BackupFile) error {
		if err := s.send(&frame{Type: "file", Path: f.Path, Size: f.Size, Date: f.ModTime, Body: true}); err != nil {
			return err
		}
		n++
		_, err := s.sendBodyFrom(f.WriteTo)
		return err
	})
	if err != nil {
		return n, err
	}
	if err := s.send(&frame{Type: "end", Manifest: man}); err != nil {
		return n, err
	}
	return n, s.flush()
}

// Client side.

// open starts a streaming operation.
func (cc controlClient) open(ctx context.Context, req controlRequest) (*stream, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", cc.path)
	if err != nil {
		return nil, err
	}
	s := newStream(c, nil)
	// Cancelling ctx unblocks reads and writes.
	s.stop = context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	b, err := json.Marshal(req)
	if err == nil {
		s.bw.Write(append(b, '\n'))
		err = s.flush()
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// streamError reads an error frame's error, or describes an unexpected frame.
func streamError(f *frame, want string) error {
	if f.Type == "error" {
		return frameErr(f)
	}
	return fmt.Errorf("control stream: got %q frame, want %q", f.Type, want)
}

func (cc controlClient) Import(ctx context.Context, user string, next func() (*mailfmt.Message, error), done func(importResult) error) error {
	s, err := cc.open(ctx, controlRequest{Op: "import", Name: user})
	if err != nil {
		return err
	}
	defer s.close()
	f, err := s.recv()
	if err != nil {
		return err
	}
	if f.Type != "ready" {
		return streamError(f, "ready")
	}
	for {
		m, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := s.send(&frame{Type: "msg", Mailbox: m.Mailbox, Flags: m.Flags, Date: m.Date, Body: m.Body != nil}); err != nil {
			return err
		}
		var srcErr error
		if m.Body != nil {
			src := &sourceReader{r: m.Body}
			if _, err := s.sendBody(src); err != nil {
				if src.err == nil {
					return err // the connection, not the source
				}
				srcErr = fmt.Errorf("reading the source: %w", src.err)
			}
		}
		if err := s.flush(); err != nil {
			return err
		}
		f, err := s.recv()
		if err != nil {
			return err
		}
		if f.Type != "result" {
			return streamError(f, "result")
		}
		if srcErr != nil {
			return srcErr
		}
		res := importResult{Mailbox: f.Mailbox, UID: mailstore.UID(f.UID), Err: frameErr(f), Fatal: f.Fatal}
		if err := done(res); err != nil {
			return err
		}
		if res.Fatal {
			return res.Err
		}
	}
	if err := s.send(&frame{Type: "end"}); err != nil {
		return err
	}
	if err := s.flush(); err != nil {
		return err
	}
	f, err = s.recv()
	if err != nil {
		return err
	}
	if f.Type != "end" {
		return streamError(f, "end")
	}
	return nil
}

func (cc controlClient) Export(ctx context.Context, user, mailbox string, visit func(mailstore.MailboxInfo, *mailfmt.Message) error) error {
	s, err := cc.open(ctx, controlRequest{Op: "export", Name: user, Mailbox: mailbox})
	if err != nil {
		return err
	}
	defer s.close()
	var cur mailstore.MailboxInfo
	for {
		f, err := s.recv()
		if err != nil {
			return err
		}
		switch f.Type {
		case "mailbox":
			if f.Info == nil {
				return errors.New("control stream: mailbox frame without info")
			}
			cur = *f.Info
			if err := visit(cur, nil); err != nil {
				return err
			}
		case "msg":
			body := s.body()
			if err := visit(cur, &mailfmt.Message{Mailbox: f.Mailbox, Flags: f.Flags, Date: f.Date, Size: f.Size, Body: body}); err != nil {
				return err
			}
			if err := body.drain(); err != nil {
				return err
			}
		case "end":
			return nil
		default:
			return streamError(f, "msg")
		}
	}
}

func (cc controlClient) Backup(ctx context.Context, put func(*mailstore.BackupFile) error) (*mailstore.BackupManifest, error) {
	s, err := cc.open(ctx, controlRequest{Op: "backup"})
	if err != nil {
		return nil, err
	}
	defer s.close()
	for {
		f, err := s.recv()
		if err != nil {
			return nil, err
		}
		switch f.Type {
		case "file":
			body := s.body()
			err := put(&mailstore.BackupFile{Path: f.Path, Size: f.Size, ModTime: f.Date, WriteTo: func(w io.Writer) (int64, error) {
				return io.Copy(w, body)
			}})
			if err != nil {
				return nil, err
			}
			if err := body.drain(); err != nil {
				return nil, err
			}
		case "end":
			if f.Manifest == nil {
				return nil, errors.New("control stream: backup ended without a manifest")
			}
			return f.Manifest, nil
		default:
			return nil, streamError(f, "file")
		}
	}
}

// The non-streaming operations.

func (cc controlClient) ImportUser(ctx context.Context, name, hash string, quota int64) (mailstore.User, error) {
	_, err := cc.call(ctx, controlRequest{Op: "user.import", Name: name, Hash: hash, Quota: quota})
	return mailstore.User{Name: name, Quota: quota}, err
}

func (cc controlClient) Mailboxes(ctx context.Context, user string) ([]mailstore.MailboxInfo, error) {
	rep, err := cc.call(ctx, controlRequest{Op: "mailbox.list", Name: user})
	return rep.Mailboxes, err
}

func (cc controlClient) CreateMailbox(ctx context.Context, user, name, specialUse string) error {
	_, err := cc.call(ctx, controlRequest{Op: "mailbox.create", Name: user, Mailbox: name, SpecialUse: specialUse})
	return err
}

func (cc controlClient) DeleteMailbox(ctx context.Context, user, name string) error {
	_, err := cc.call(ctx, controlRequest{Op: "mailbox.delete", Name: user, Mailbox: name})
	return err
}

func (cc controlClient) Stats(ctx context.Context) (*mailstore.Stats, error) {
	rep, err := cc.call(ctx, controlRequest{Op: "stats"})
	if err == nil && rep.Stats == nil {
		err = errors.New("control socket: no stats in reply")
	}
	return rep.Stats, err
}

func (cc controlClient) CheckLive(ctx context.Context) (*mailstore.LiveCheckReport, error) {
	rep, err := cc.call(ctx, controlRequest{Op: "check"})
	if err == nil && rep.Check == nil {
		err = errors.New("control socket: no check report in reply")
	}
	return rep.Check, err
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"sealpost/mailstore"
)

// The control socket lets `sealpost user ...` work while `serve` runs: only
// one process can open the bbolt files, so the admin command asks the
// server to do it. The socket is mode 0600 in the data dir, so only the
// server's own user (or root) can use it. One JSON request per connection.

const controlSock = "control.sock"

type controlRequest struct {
	Op       string `json:"op"` // user.add, user.passwd, user.quota, user.del, user.list; more in admin.go
	Name     string `json:"name,omitempty"`
	Password string `json:"password,omitempty"`
	Quota    int64  `json:"quota,omitempty"`
	// For the operations in admin.go.
	Hash       string `json:"hash,omitempty"`
	Mailbox    string `json:"mailbox,omitempty"`
	SpecialUse string `json:"special_use,omitempty"`
}

type controlReply struct {
	Error     string                     `json:"error,omitempty"`
	Code      string                     `json:"code,omitempty"` // sentinel name, so the client can pick its exit code
	Users     []mailstore.User           `json:"users,omitempty"`
	Mailboxes []mailstore.MailboxInfo    `json:"mailboxes,omitempty"`
	Stats     *mailstore.Stats           `json:"stats,omitempty"`
	Check     *mailstore.LiveCheckReport `json:"check,omitempty"`
}

// userAdmin is the subset of the store that user commands use; both the
// local store and the control client provide it.
type userAdmin interface {
	CreateUser(ctx context.Context, name, password string, quota int64) (mailstore.User, error)
	SetPassword(ctx context.Context, name, password string) error
	SetQuota(ctx context.Context, name string, quota int64) error
	DeleteUser(ctx context.Context, name string) error
	Users(ctx context.Context) ([]mailstore.User, error)
}

var sentinels = map[string]error{
	"nosuchuser": mailstore.ErrNoSuchUser,
	"userexists": mailstore.ErrUserExists,
	"badname":    mailstore.ErrBadName,
	// Used by the operations in admin.go.
	"nosuchmailbox": mailstore.ErrNoSuchMailbox,
	"mailboxexists": mailstore.ErrMailboxExists,
	"haschildren":   mailstore.ErrHasChildren,
	"inbox":         mailstore.ErrInboxNotAllowed,
	"overquota":     mailstore.ErrOverQuota,
	"toobig":        mailstore.ErrTooBig,
	"specialuse":    mailstore.ErrBadSpecialUse,
}

func doControl(ctx context.Context, st userAdmin, req controlRequest) controlReply {
	var err error
	var rep controlReply
	switch req.Op {
	case "user.add":
		_, err = st.CreateUser(ctx, req.Name, req.Password, req.Quota)
	case "user.passwd":
		err = st.SetPassword(ctx, req.Name, req.Password)
	case "user.quota":
		err = st.SetQuota(ctx, req.Name, req.Quota)
	case "user.del":
		err = st.DeleteUser(ctx, req.Name)
	case "user.list":
		rep.Users, err = st.Users(ctx)
	case "ping":
	default:
		err = doStoreOp(ctx, st, req, &rep)
	}
	if err != nil {
		rep.Error = err.Error()
		for code, s := range sentinels {
			if errors.Is(err, s) {
				rep.Code = code
			}
		}
	}
	return rep
}

// serveControl answers admin requests on the control socket.
func serveControl(ctx context.Context, l net.Listener, store *mailstore.Store, log *slog.Logger) {
	st := localAdmin{store}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			// The request is one line; streaming operations go on with
			// frames on the same connection (frame.go).
			br := bufio.NewReaderSize(c, 64<<10)
			var req controlRequest
			line, err := br.ReadSlice('\n')
			if err == nil {
				err = json.Unmarshal(line, &req)
			}
			if err != nil {
				json.NewEncoder(c).Encode(controlReply{Error: "bad request"})
				return
			}
			if isStreamOp(req.Op) {
				serveStream(ctx, newStream(c, br), st, req, log)
				return
			}
			rep := doControl(ctx, st, req)
			if req.Op != "ping" {
				log.Info("admin", "op", req.Op, "user", req.Name, "err", rep.Error)
			}
			json.NewEncoder(c).Encode(rep)
		}()
	}
}

func listenControl(dataDir string) (net.Listener, error) {
	path := filepath.Join(dataDir, controlSock)
	return listenUnix(path, 0o600)
}

// listenUnix listens on a unix socket, replacing a stale socket file, and
// sets its mode.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another server is listening", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// controlClient implements userAdmin over the control socket.
type controlClient struct{ path string }

func (cc controlClient) call(ctx context.Context, req controlRequest) (controlReply, error) {
	var rep controlReply
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", cc.path)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return rep, err
	}
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&rep); err != nil {
		return rep, fmt.Errorf("control socket: %w", err)
	}
	if rep.Error != "" {
		return rep, codedError(rep.Error, rep.Code)
	}
	return rep, nil
}

func (cc controlClient) CreateUser(ctx context.Context, name, pw string, quota int64) (mailstore.User, error) {
	_, err := cc.call(ctx, controlRequest{Op: "user.add", Name: name, Password: pw, Quota: quota})
	return mailstore.User{Name: name}, err
}

func (cc controlClient) SetPassword(ctx context.Context, name, pw string) error {
	_, err := cc.call(ctx, controlRequest{Op: "user.passwd", Name: name, Password: pw})
	return err
}

func (cc controlClient) SetQuota(ctx context.Context, name string, q int64) error {
	_, err := cc.call(ctx, controlRequest{Op: "user.quota", Name: name, Quota: q})
	return err
}

func (cc controlClient) DeleteUser(ctx context.Context, name string) error {
	_, err := cc.call(ctx, controlRequest{Op: "user.del", Name: name})
	return err
}

func (cc controlClient) Users(ctx context.Context) ([]mailstore.User, error) {
	rep, err := cc.call(ctx, controlRequest{Op: "user.list"})
	return rep.Users, err
}

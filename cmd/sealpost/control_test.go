package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"sealpost/mailstore"
)

// The control protocol end to end: a real store served on a real control
// socket, driven by the client the CLI uses. Sentinel errors survive the
// trip, so `sealpost user` picks the same exit codes either way.
func TestControlProtocol(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := mailstore.Open(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := listenControl(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go serveControl(ctx, l, st, slog.New(slog.DiscardHandler))

	cc, closeAdmin, err := openAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAdmin()
	if _, ok := cc.(controlClient); !ok {
		t.Fatalf("openAdmin with a running server gave %T, want the control client", cc)
	}
	if _, err := cc.CreateUser(ctx, "ann", "first-pw", 1<<20); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want error // nil: success
	}{
		{"duplicate add", func() error { _, err := cc.CreateUser(ctx, "ann", "x", 0); return err }, mailstore.ErrUserExists},
		{"bad name", func() error { _, err := cc.CreateUser(ctx, "bad name!", "x", 0); return err }, mailstore.ErrBadName},
		{"passwd", func() error { return cc.SetPassword(ctx, "ann", "second-pw") }, nil},
		{"passwd unknown", func() error { return cc.SetPassword(ctx, "nobody", "x") }, mailstore.ErrNoSuchUser},
		{"quota", func() error { return cc.SetQuota(ctx, "ann", 5<<20) }, nil},
		{"del unknown", func() error { return cc.DeleteUser(ctx, "nobody") }, mailstore.ErrNoSuchUser},
	}
	for _, s := range steps {
		if err := s.do(); s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if _, err := st.Authenticate(ctx, "ann", "second-pw"); err != nil {
		t.Errorf("new password not in effect: %v", err)
	}
	users, err := cc.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "ann" || users[0].Quota != 5<<20 {
		t.Fatalf("list: %v %+v", err, users)
	}
	if _, err := cc.(controlClient).call(ctx, controlRequest{Op: "user.frobnicate"}); err == nil || !strings.Contains(err.Error(), "unknown control operation") {
		t.Errorf("unknown op: %v", err)
	}
	// Garbage gets a reply, not a hang.
	c, err := net.Dial("unix", filepath.Join(dir, controlSock))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "not json\n")
	rep, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(rep), "bad request") {
		t.Errorf("garbage request: %q", rep)
	}
	if err := cc.DeleteUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LookupUser(ctx, "ann"); !errors.Is(err, mailstore.ErrNoSuchUser) {
		t.Fatalf("ann still there: %v", err)
	}
}

// Without a server openAdmin opens the store itself; with the store held
// by a server whose control socket does not answer, it says so.
func TestOpenAdminFallback(t *testing.T) {
	dir := t.TempDir()
	a, closeAdmin, err := openAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(*mailstore.Store); !ok {
		t.Fatalf("no server: got %T, want the store", a)
	}
	// While this process holds the store, a second openAdmin (as another
	// process would) finds it locked and no control socket.
	_, _, err = openAdmin(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by a running server") {
		t.Fatalf("locked store: %v", err)
	}
	closeAdmin()
}

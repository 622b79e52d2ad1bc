package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"sealpost/mailstore"
	"sealpost/mailstore/login"
	"sealpost/pop3d"
)

// newPOP3Store opens a store on t.TempDir with user ann and returns the
// adapter as cmd/sealpost wires it, plus ann's account.
func newPOP3Store(t *testing.T) (pop3Auth, *mailstore.Account) {
	t.Helper()
	return newPOP3StoreOpts(t, mailstore.Options{})
}

// newPOP3StoreOpts is newPOP3Store with the store's options.
func newPOP3StoreOpts(t *testing.T, opts mailstore.Options) (pop3Auth, *mailstore.Account) {
	t.Helper()
	st, err := mailstore.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, "ann", "ann-password", 0); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Account(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	return pop3Auth{login: login.New(login.Options{Store: st})}, acct
}

func appendMsg(t *testing.T, a *mailstore.Account, body string) mailstore.UID {
	t.Helper()
	res, err := a.Append(context.Background(), mailstore.Inbox, strings.NewReader(body), mailstore.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Message.UID
}

func lockDrop(t *testing.T, p pop3Auth, hook func()) (*maildrop, []pop3d.Message) {
	t.Helper()
	d, err := p.Authenticate(context.Background(), netip.MustParseAddr("127.0.0.1"), "ann", "ann-password")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(*maildrop)
	md.afterInfo = hook
	msgs, err := md.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	return md, msgs
}

func TestMaildropAuth(t *testing.T) {
	p, _ := newPOP3Store(t)
	_, err := p.Authenticate(context.Background(), netip.MustParseAddr("127.0.0.1"), "ann", "wrong")
	if !errors.Is(err, pop3d.ErrAuthFailed) {
		t.Fatalf("wrong password: %v, want ErrAuthFailed", err)
	}
}

// TestMaildropSizes: Size is the stored octets; Unterminated is set only
// for a non-empty message that does not end in CRLF, which pop3d then
// counts and terminates.
func TestMaildropSizes(t *testing.T) {
	p, a := newPOP3Store(t)
	bodies := []string{
		"Subject: ok\r\n\r\nline\r\n",
		"Subject: nonl\r\n\r\nno newline at end",
		"Subject: lf only\n\nbare\n", // stored with CRLF
		"x",
	}
	for _, b := range bodies {
		appendMsg(t, a, b)
	}
	md, msgs := lockDrop(t, p, nil)
	want := []struct {
		size         int64
		unterminated bool
	}{{21, false}, {34, true}, {26, false}, {1, true}}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		m := msgs[i]
		if m.Size != w.size || m.Unterminated != w.unterminated {
			t.Errorf("message %d: size %d unterminated %v, want %d %v", i+1, m.Size, m.Unterminated, w.size, w.unterminated)
		}
		r, err := md.Open(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if int64(len(b)) != m.Size {
			t.Errorf("message %d: Open gave %d octets, Size says %d", i+1, len(b), m.Size)
		}
	}
}

// TestMaildropSnapshotAtomic: with more messages than one store read
// transaction holds (1,024), a delivery during Lock does not join the
// snapshot.
func TestMaildropSnapshotAtomic(t *testing.T) {
	p, a := newPOP3Store(t)
	const n = 1030
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := a.Append(context.Background(), mailstore.Inbox, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), mailstore.AppendOptions{})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var late mailstore.UID
	_, msgs := lockDrop(t, p, func() { late = appendMsg(t, a, "Subject: late\r\n\r\nx\r\n") })
	if len(msgs) != n {
		t.Fatalf("snapshot has %d messages, want %d (late UID %d joined?)", len(msgs), n, late)
	}
	for _, m := range msgs {
		if m.UID == uint32(late) {
			t.Fatal("late delivery in the snapshot")
		}
	}
}

// TestMaildropGoneAndDelete: a message expunged elsewhere gives ErrGone;
// Delete removes the marked ones and ignores the gone one.
func TestMaildropGoneAndDelete(t *testing.T) {
	p, a := newPOP3Store(t)
	u1 := appendMsg(t, a, "Subject: 1\r\n\r\nx\r\n")
	appendMsg(t, a, "Subject: 2\r\n\r\nx\r\n")
	appendMsg(t, a, "Subject: 3\r\n\r\nx\r\n")
	md, msgs := lockDrop(t, p, nil)
	info, err := a.Mailbox(context.Background(), mailstore.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%08x%08x", info.UIDValidity, uint32(u1)); msgs[0].UIDL != want {
		t.Fatalf("UIDL %q, want %q", msgs[0].UIDL, want)
	}
	if _, err := a.Delete(context.Background(), info.ID, []mailstore.UID{mailstore.UID(msgs[0].UID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := md.Open(context.Background(), msgs[0]); !errors.Is(err, pop3d.ErrGone) {
		t.Fatalf("Open of expunged message: %v, want ErrGone", err)
	}
	if err := md.Delete(context.Background(), msgs[:2]); err != nil {
		t.Fatal(err)
	}
	info, _ = a.Mailbox(context.Background(), mailstore.Inbox)
	if info.Messages != 1 {
		t.Fatalf("%d messages left, want 1", info.Messages)
	}
	// The lock is exclusive until Close.
	d2, err := p.Authenticate(context.Background(), netip.MustParseAddr("127.0.0.1"), "ann", "ann-password")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, err := d2.Lock(context.Background()); !errors.Is(err, pop3d.ErrInUse) {
		t.Fatalf("second Lock: %v, want ErrInUse", err)
	}
	md.Close()
	if _, err := d2.Lock(context.Background()); err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
}

// BenchmarkMaildropLock: the snapshot of 1,000 messages taken at login,
// including the check of each message's last two octets.
func BenchmarkMaildropLock(b *testing.B) {
	st, err := mailstore.Open(b.TempDir(), mailstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, "ann", "pw", 0); err != nil {
		b.Fatal(err)
	}
	a, err := st.Account(ctx, "ann")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 / 16 {
				a.Append(ctx, mailstore.Inbox, strings.NewReader(fmt.Sprintf("Subject: %d-%d\r\n\r\nx\r\n", w, i)), mailstore.AppendOptions{})
			}
		}()
	}
	wg.Wait()
	for b.Loop() {
		md := &maildrop{acct: a}
		if _, err := md.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		md.Close()
	}
}

package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealpost/mailstore"
)

type testEnv struct {
	store *mailstore.Store
	addr  string
	sock  string
}

func start(t testing.TB, opts Options) *testEnv {
	t.Helper()
	return startStore(t, 32<<20, nil, opts)
}

// startStore runs the inlet on a store that accepts messages up to
// storeMax bytes; wrap, if set, sits between the two.
func startStore(t testing.TB, storeMax int64, wrap func(*mailstore.Store) Store, opts Options) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := mailstore.Open(dir, mailstore.Options{MaxMessageSize: storeMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store = st
	if wrap != nil {
		opts.Store = wrap(st)
	}
	opts.SpoolDir = dir
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lmtp.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	go srv.Serve(ul)
	t.Cleanup(func() { srv.Close() })
	return &testEnv{store: st, addr: l.Addr().String(), sock: sock}
}

// send runs one LMTP transaction and returns each recipient's reply code.
func send(t testing.TB, network, addr string, rcpts []string, body string) map[string]int {
	t.Helper()
	return sendFrom(t, network, addr, "from@example.org", rcpts, body)
}

func sendFrom(t testing.TB, network, addr, from string, rcpts []string, body string) map[string]int {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	var ok []string
	for _, r := range rcpts {
		var se *smtp.SMTPError
		if err := c.Rcpt(r, nil); errors.As(err, &se) {
			codes[r] = se.Code
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return codes
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	_, err = w.CloseWithLMTPResponse()
	for _, r := range ok {
		codes[r] = 250
	}
	var le smtp.LMTPDataError
	if errors.As(err, &le) {
		for r, e := range le {
			codes[r] = e.Code
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return codes
}

func inboxCount(t testing.TB, st *mailstore.Store, user string) uint32 {
	t.Helper()
	a, err := st.Account(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return info.Messages
}

const body = "From: a@example.org\r\nSubject: test\r\n\r\nhello\r\n"

func TestReplies(t *testing.T) {
	env := start(t, Options{Domains: []string{"example.com"}})
	addUser(t, env.store, "ann", 0)
	addUser(t, env.store, "full", 10)
	tests := []struct {
		rcpt string
		want int
	}{
		{"ann@example.com", 250},
		{"ann+tag@EXAMPLE.com", 250},
		{"nobody@example.com", 550},
		{"ann@other.org", 550},
		{"full@example.com", 452},
		{"@example.com", 501},
	}
	var rcpts []string
	for _, tc := range tests {
		rcpts = append(rcpts, tc.rcpt)
	}
	for _, network := range []string{"tcp", "unix"} {
		addr := env.addr
		if network == "unix" {
			addr = env.sock
		}
		got := send(t, network, addr, rcpts, body)
		for _, tc := range tests {
			if got[tc.rcpt] != tc.want && !(tc.want >= 500 && got[tc.rcpt] >= 500 && got[tc.rcpt] < 600) {
				t.Errorf("%s %s: %d, want %d", network, tc.rcpt, got[tc.rcpt], tc.want)
			}
		}
	}
	if n := inboxCount(t, env.store, "ann"); n != 4 {
		t.Fatalf("ann has %d messages, want 4", n)
	}
	if n := inboxCount(t, env.store, "full"); n != 0 {
		t.Fatalf("over-quota user got %d messages", n)
	}
}

func TestTooBigAndStoreFailure(t *testing.T) {
	env := start(t, Options{MaxMessageSize: 1000})
	addUser(t, env.store, "ann", 0)
	got := send(t, "tcp", env.addr, []string{"ann@x"}, body+strings.Repeat(strings.Repeat("x", 70)+"\r\n", 30))
	if got["ann@x"] != 552 {
		t.Fatalf("oversize: %d, want 552", got["ann@x"])
	}
	// A broken store is a temporary failure (451), never a 5xx bounce.
	env.store.Close()
	got = send(t, "tcp", env.addr, []string{"ann@x"}, body)
	if got["ann@x"] != 451 {
		t.Fatalf("closed store: %d, want 451", got["ann@x"])
	}
}

func TestConcurrentAndBig(t *testing.T) {
	env := start(t, Options{})
	for i := range 4 {
		addUser(t, env.store, fmt.Sprintf("u%d", i), 0)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				r := fmt.Sprintf("u%d@x", (w+i)%4)
				if got := send(t, "tcp", env.addr, []string{r}, body); got[r] != 250 {
					t.Errorf("%s: %d", r, got[r])
				}
			}
		}()
	}
	wg.Wait()
	var total uint32
	for i := range 4 {
		total += inboxCount(t, env.store, fmt.Sprintf("u%d", i))
	}
	if total != 80 {
		t.Fatalf("%d messages stored, want 80", total)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("y", 998)+"\r\n", 5000)
	if got := send(t, "unix", env.sock, []string{"u0@x", "u1@x"}, big); got["u0@x"] != 250 || got["u1@x"] != 250 {
		t.Fatalf("big: %v", got)
	}
}

func TestTimeout(t *testing.T) {
	env := start(t, Options{Timeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	c.Read(buf) // greeting
	// Say nothing: the server must hang up on its own.
	start := time.Now()
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connection kept for %v", d)
	}
}

// One transaction to more recipients than are delivered at once, some in
// the same account, with a body large enough to be spooled to a file
// (read by all deliveries at once) or small enough to stay in memory:
// every recipient gets the whole message, with its own trace header, and
// a reply of its own.
func TestManyRecipients(t *testing.T) {
	env := start(t, Options{})
	const users = 10
	for i := range users {
		addUser(t, env.store, fmt.Sprintf("u%d", i), 0)
	}
	var rcpts []string
	for i := range users {
		rcpts = append(rcpts, fmt.Sprintf("u%d@x", i))
	}
	rcpts = append(rcpts, "u0+a@x", "u0+b@x", "u3+c@x") // same accounts again
	for _, size := range []int{100, 3 << 20} {
		msg := "Subject: many\r\n\r\n" + strings.Repeat(strings.Repeat("z", 78)+"\r\n", size/80)
		got := send(t, "tcp", env.addr, rcpts, msg)
		for _, r := range rcpts {
			if got[r] != 250 {
				t.Errorf("size %d, %s: reply %d", size, r, got[r])
			}
		}
	}
	for i := range users {
		u := fmt.Sprintf("u%d", i)
		var want []string
		for _, size := range []int{100, 3 << 20} {
			msg := "Subject: many\r\n\r\n" + strings.Repeat(strings.Repeat("z", 78)+"\r\n", size/80)
			for _, r := range rcpts {
				if r == u+"@x" || strings.HasPrefix(r, u+"+") {
					want = append(want, traceHeader("from@example.org", r)+msg)
				}
			}
		}
		got := inboxBodies(t, env.store, u)
		slices.Sort(got)
		slices.Sort(want)
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", u, len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("%s: message %d differs (%d bytes, want %d)", u, j, len(got[j]), len(want[j]))
			}
		}
	}
}

// panicStore panics when delivering to one user.
type panicStore struct {
	*mailstore.Store
	user string
}

func (p panicStore) Deliver(ctx context.Context, user string, r io.Reader) (mailstore.AppendResult, error) {
	if user == p.user {
		panic("test panic")
	}
	return p.Store.Deliver(ctx, user, r)
}

// A panic while storing one recipient's copy (outside go-smtp's own
// recovery, since deliveries run on goroutines of their own) costs that
// recipient a 451, not the server.
func TestDeliveryPanic(t *testing.T) {
	env := startStore(t, 1<<20, func(st *mailstore.Store) Store { return panicStore{st, "bad"} }, Options{})
	addUser(t, env.store, "ann", 0)
	addUser(t, env.store, "bad", 0)
	got := send(t, "tcp", env.addr, []string{"ann@x", "bad@x"}, body)
	if got["ann@x"] != 250 || got["bad@x"] != 451 {
		t.Fatalf("replies %v, want ann 250, bad 451", got)
	}
	if got := send(t, "tcp", env.addr, []string{"ann@x"}, body); got["ann@x"] != 250 {
		t.Fatalf("after the panic: %v", got)
	}
}

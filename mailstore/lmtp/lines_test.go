package lmtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore"
)

// addUser creates a user with a cheap bcrypt hash: argon2id is slow by
// design, and these tests are not about passwords.
func addUser(t testing.TB, st *mailstore.Store, name string, quota int64) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportUser(context.Background(), name, string(h), quota); err != nil {
		t.Fatal(err)
	}
}

// inboxBodies returns the stored bodies of a user's INBOX in UID order.
func inboxBodies(t testing.TB, st *mailstore.Store, user string) []string {
	t.Helper()
	a, err := st.Account(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = a.Fetch(context.Background(), info.ID, nil, mailstore.FetchWant{}, func(m *mailstore.MessageMeta) error {
		f, err := a.Open(m.Message)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		out = append(out, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Long message lines are delivered intact: real mail has them, and a
// refusal would be either a bounce or (as a 4xx) a retry that never ends.
func TestLongLines(t *testing.T) {
	env := start(t, Options{})
	addUser(t, env.store, "ann", 0)
	var want []string
	for _, n := range []int{3000, 100000, 2 << 20} {
		body := "Subject: long line\r\n\r\n" + strings.Repeat("x", n) + "\r\nend\r\n"
		if got := send(t, "unix", env.sock, []string{"ann@x"}, body); got["ann@x"] != 250 {
			t.Fatalf("%d-char line: reply %d, want 250", n, got["ann@x"])
		}
		want = append(want, traceHeader("from@example.org", "ann@x")+body)
	}
	got := inboxBodies(t, env.store, "ann")
	if len(got) != len(want) {
		t.Fatalf("%d messages stored, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: stored %d bytes, sent %d (with trace headers)", i, len(got[i]), len(want[i]))
		}
	}
}

// A command line over MaxCommandLine gets a permanent 500 5.4.0 and the
// connection is closed; it is not a temporary failure.
func TestLongCommandLine(t *testing.T) {
	env := start(t, Options{})
	for _, tc := range []struct {
		name string
		cmds []string
	}{
		{"before LHLO", []string{"NOOP " + strings.Repeat("a", MaxCommandLine+10)}},
		{"RCPT", []string{"LHLO test", "MAIL FROM:<a@example.org>", "RCPT TO:<" + strings.Repeat("a", MaxCommandLine+10) + "@x>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", env.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			br.ReadString('\n') // greeting
			var last string
			for _, cmd := range tc.cmds {
				if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
					t.Fatal(err)
				}
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("after %.20q: %v (last reply %q)", cmd, err, last)
					}
					last = line
					if len(line) < 4 || line[3] != '-' {
						break
					}
				}
			}
			if !strings.HasPrefix(last, "500 5.4.0") {
				t.Fatalf("reply %q, want 500 5.4.0", last)
			}
			if _, err := br.ReadString('\n'); err == nil {
				t.Fatal("connection still open")
			}
		})
	}
}

// Addresses longer than maxPath are refused at MAIL/RCPT, so the trace
// headers always fit in mailstore.TraceAllowance.
func TestLongAddresses(t *testing.T) {
	if n := len(traceHeader(strings.Repeat("s", maxPath), strings.Repeat("r", maxPath))); n > mailstore.TraceAllowance {
		t.Fatalf("trace headers can be %d bytes, more than mailstore.TraceAllowance", n)
	}
	env := start(t, Options{})
	addUser(t, env.store, "ann", 0)
	long := "ann+" + strings.Repeat("t", maxPath) + "@x"
	if got := send(t, "tcp", env.addr, []string{long}, body); got[long] != 501 {
		t.Fatalf("long recipient: %d, want 501", got[long])
	}
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(c)
	defer lc.Close()
	lc.Hello("test")
	var se *smtp.SMTPError
	if err := lc.Mail(strings.Repeat("s", maxPath)+"@example.org", nil); !errors.As(err, &se) || se.Code != 501 {
		t.Fatalf("long sender: %v, want 501", err)
	}
}

// A message of exactly the advertised SIZE is delivered even though the
// inlet prepends trace headers: the MTA was told it fits, so a refusal
// would be a wrong bounce. (Growth from bare LF line ends is covered by
// mailstore's TestSizeLimits; go-smtp's client sends CRLF.)
func TestSizeLimitCountsWhatTheSenderSent(t *testing.T) {
	const max = 8 << 10
	env := startStore(t, max, nil, Options{})
	addUser(t, env.store, "ann", 0)
	sender := strings.Repeat("s", 900) + "@example.org"
	sized := func(n int) string {
		m := "Subject: at the limit\r\n\r\n"
		for len(m)+80 < n {
			m += strings.Repeat("y", 76) + "\r\n"
		}
		return m + strings.Repeat("z", n-len(m)-2) + "\r\n"
	}
	addUser(t, env.store, "bob", 0)
	// One recipient (streamed into the store) and two (spooled).
	for _, rcpts := range [][]string{{"ann@x"}, {"ann@x", "bob@x"}} {
		got := sendFrom(t, "unix", env.sock, sender, rcpts, sized(max))
		for _, r := range rcpts {
			if got[r] != 250 {
				t.Fatalf("message of exactly SIZE to %v: %s got %d, want 250", rcpts, r, got[r])
			}
		}
		got = sendFrom(t, "unix", env.sock, sender, rcpts, sized(max+1))
		for _, r := range rcpts {
			if got[r] != 552 {
				t.Fatalf("message over SIZE to %v: %s got %d, want 552", rcpts, r, got[r])
			}
		}
	}
	if n := inboxCount(t, env.store, "ann"); n != 2 {
		t.Fatalf("ann has %d messages, want 2", n)
	}
}

// lyingStore claims a larger limit than the store has: the inlet accepts
// sizes the store then refuses.
type lyingStore struct{ *mailstore.Store }

func (l lyingStore) MaxMessageSize() int64 { return 4 * l.Store.MaxMessageSize() }

// If the store refuses a size the inlet accepted, that is a configuration
// bug, not the sender's fault: 451 (retry), never a 5xx bounce.
func TestStoreRefusingAcceptedSizeIsTemporary(t *testing.T) {
	env := startStore(t, 4<<10, func(st *mailstore.Store) Store { return lyingStore{st} }, Options{})
	addUser(t, env.store, "ann", 0)
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("z", 70)+"\r\n", 150)
	if got := send(t, "tcp", env.addr, []string{"ann@x"}, big); got["ann@x"] != 451 {
		t.Fatalf("reply %d, want 451", got["ann@x"])
	}
}

// Postfix-style recipient_delimiter: a set of characters, split at the
// first one found.
func TestRecipientDelimiterSet(t *testing.T) {
	env := start(t, Options{RecipientDelimiter: "+-"})
	addUser(t, env.store, "ann", 0)
	addUser(t, env.store, "bob", 0)
	tests := []struct {
		rcpt string
		want int
	}{
		{"ann@x", 250},
		{"ann+lists@x", 250},
		{"ann-lists@x", 250},
		{"ann-a+b@x", 250},
		{"bob+x-y@x", 250},
		{"ann_x@x", 550},
	}
	for _, tc := range tests {
		if got := send(t, "unix", env.sock, []string{tc.rcpt}, body); got[tc.rcpt] != tc.want {
			t.Errorf("%s: %d, want %d", tc.rcpt, got[tc.rcpt], tc.want)
		}
	}
	if n := inboxCount(t, env.store, "ann"); n != 4 {
		t.Fatalf("ann has %d messages, want 4", n)
	}
}

// DeliverOne (the client of `sealpost deliver`) stops at the server's
// SIZE and reports a permanent 552 rather than a broken connection, even
// for one line longer than the whole limit; a long line within the limit
// is delivered.
func TestDeliverOneSizeGuard(t *testing.T) {
	env := startStore(t, 32<<10, nil, Options{})
	addUser(t, env.store, "ann", 0)
	ctx := context.Background()
	ok := "Subject: fits\r\n\r\n" + strings.Repeat("w", 30<<10) + "\r\n"
	if err := DeliverOne(ctx, "unix", env.sock, "s@x", "ann", strings.NewReader(ok)); err != nil {
		t.Fatalf("message within the limit: %v", err)
	}
	for _, big := range []string{
		"Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("v", 70)+"\r\n", 2000),
		"Subject: one long line\r\n\r\n" + strings.Repeat("u", 1<<20) + "\r\n",
	} {
		err := DeliverOne(ctx, "unix", env.sock, "s@x", "ann", strings.NewReader(big))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 552 {
			t.Fatalf("too big (%d bytes): %v, want a 552", len(big), err)
		}
	}
	got := inboxBodies(t, env.store, "ann")
	if len(got) != 1 || got[0] != traceHeader("s@x", "ann@localhost")+ok {
		t.Fatalf("stored %d messages, want exactly the one that fits", len(got))
	}
}

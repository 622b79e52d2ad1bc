package lmtp

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealpost/mailstore"
)

// rawConn is an LMTP connection driven by hand, to send DATA exactly as
// given (dots, bare LF) and to see each reply.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	rc.expect("220")
	rc.cmd("LHLO test", "250")
	return rc
}

// expect reads one reply and fails unless it starts with prefix.
func (rc *rawConn) expect(prefix string) string {
	rc.t.Helper()
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("reading reply (want %s): %v", prefix, err)
		}
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			rc.t.Fatalf("reply %q, want %s", line, prefix)
		}
		return line
	}
}

func (rc *rawConn) cmd(line, want string) string {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, line+"\r\n"); err != nil {
		rc.t.Fatal(err)
	}
	return rc.expect(want)
}

// transaction sends wire (DATA as on the wire, without the final dot
// line) to rcpt and returns the reply to the end of DATA.
func (rc *rawConn) transaction(rcpt, wire, want string) string {
	rc.t.Helper()
	rc.cmd("MAIL FROM:<from@example.org>", "250")
	rc.cmd("RCPT TO:<"+rcpt+">", "250")
	rc.cmd("DATA", "354")
	if _, err := io.WriteString(rc.c, wire+".\r\n"); err != nil {
		rc.t.Fatal(err)
	}
	return rc.expect(want)
}

// blobFiles counts the message files under dir.
func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(p))) == "blobs" {
			n++
		}
		return nil
	})
	return n
}

// A message to one recipient goes from the connection into the store
// without a spool: dot-stuffing is undone, bare LF becomes CRLF, and
// large bodies arrive byte for byte.
func TestStreamedMessages(t *testing.T) {
	env := start(t, Options{})
	addUser(t, env.store, "ann", 0)
	rng := rand.New(rand.NewPCG(1, 2))
	var big strings.Builder
	big.WriteString("Subject: big\r\n\r\n")
	for big.Len() < 3<<20 {
		// Lines of every length up to 2000, some starting with dots.
		n := rng.IntN(2000)
		line := make([]byte, n)
		for i := range line {
			line[i] = byte(' ' + rng.IntN(95))
		}
		if n > 0 && rng.IntN(10) == 0 {
			line[0] = '.'
		}
		big.Write(line)
		big.WriteString("\r\n")
	}
	stuff := func(m string) string {
		m = strings.ReplaceAll("\n"+m, "\n.", "\n..")
		return m[1:]
	}
	for _, tc := range []struct{ name, wire, stored string }{
		{"dots", "Subject: dots\r\n\r\n..\r\n...\r\n..hidden\r\nx.\r\n", "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nx.\r\n"},
		// Only CRLF ends a line for dot-stuffing (go-smtp, RFC 5321
		// §4.5.2), so DATA ends with one; the store normalises bare LF.
		{"bare LF", "Subject: lf\n\nline\nmore\r\n..dot\nend\r\n", "Subject: lf\r\n\r\nline\r\nmore\r\n.dot\r\nend\r\n"},
		{"empty", "", ""},
		{"3 MB", stuff(big.String()), big.String()},
	} {
		rc := dialRaw(t, env.addr)
		rc.transaction("ann@x", tc.wire, "250")
		rc.cmd("QUIT", "221")
		got := inboxBodies(t, env.store, "ann")
		want := traceHeader("from@example.org", "ann@x") + tc.stored
		if last := got[len(got)-1]; last != want {
			t.Errorf("%s: stored %d bytes %.80q, want %d bytes %.80q", tc.name, len(last), last, len(want), want)
		}
	}
}

// When the store refuses a message to one recipient before reading it
// (here: over quota), the reply still comes after the whole DATA, and the
// connection goes on; a message cut off by a lost connection, or over the
// size limit, leaves nothing behind, not even a file.
func TestStreamedRefusals(t *testing.T) {
	const max = 256 << 10
	env := startStore(t, max, nil, Options{})
	addUser(t, env.store, "ann", 0)
	// full's first message fills its quota exactly; from then on the
	// store refuses at once, before reading the body.
	small := "Subject: fills the quota\r\n\r\n"
	addUser(t, env.store, "full", int64(len(traceHeader("from@example.org", "full@x")+small)))
	body := "Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("q", 78)+"\r\n", (max-100)/80)

	rc := dialRaw(t, env.addr)
	rc.transaction("full@x", small, "250")
	rc.cmd("MAIL FROM:<from@example.org>", "250")
	rc.cmd("RCPT TO:<full@x>", "250")
	rc.cmd("DATA", "354")
	io.WriteString(rc.c, body[:len(body)/2])
	rc.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if line, err := rc.br.ReadString('\n'); err == nil {
		t.Fatalf("reply %q in the middle of DATA", line)
	}
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(rc.c, body[len(body)/2:]+".\r\n")
	if r := rc.expect("452"); !strings.Contains(r, "4.2.2") {
		t.Errorf("over quota: %q", r)
	}
	rc.transaction("ann@x", body, "250")
	over := body + strings.Repeat("o", 200) + "\r\n"
	rc.transaction("ann@x", over, "552")
	rc.transaction("ann@x", body, "250")

	// Cut off in the middle of the message.
	rc2 := dialRaw(t, env.addr)
	rc2.cmd("MAIL FROM:<from@example.org>", "250")
	rc2.cmd("RCPT TO:<ann@x>", "250")
	rc2.cmd("DATA", "354")
	io.WriteString(rc2.c, body[:len(body)/2])
	rc2.c.Close()

	// Once the server is done with the cut-off message, ann has her two
	// messages (files: too big for mail.db) and full its one (small: in
	// mail.db), and no other file is left.
	deadline := time.Now().Add(10 * time.Second)
	for blobFiles(t, filepath.Dir(env.sock)) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := blobFiles(t, filepath.Dir(env.sock)); n != 2 {
		t.Errorf("%d message files, want 2", n)
	}
	if n := inboxCount(t, env.store, "ann"); n != 2 {
		t.Errorf("ann has %d messages, want 2", n)
	}
	if n := inboxCount(t, env.store, "full"); n != 1 {
		t.Errorf("full has %d messages, want 1", n)
	}
}

// A sender that stalls in the middle of a message to one recipient holds
// that account open (the message is being written into it). Shutdown, once
// its time is up, closes such sessions, so the store can close too, and
// nothing of the message is kept.
func TestShutdownEndsStalledMessage(t *testing.T) {
	dir := t.TempDir()
	st, err := mailstore.Open(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, st, "ann", 0)
	srv, err := New(Options{Store: st, SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	idle := dialRaw(t, l.Addr().String()) // an MTA's cached connection
	rc := dialRaw(t, l.Addr().String())
	rc.cmd("MAIL FROM:<from@example.org>", "250")
	rc.cmd("RCPT TO:<ann@x>", "250")
	rc.cmd("DATA", "354")
	io.WriteString(rc.c, "Subject: stalled\r\n\r\n"+strings.Repeat("s", 100<<10))
	time.Sleep(100 * time.Millisecond) // let the store start on it

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	srv.Shutdown(ctx)
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the store did not close after Shutdown")
	}
	for _, c := range []*rawConn{idle, rc} {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c.br); err != nil {
			t.Errorf("connection not closed by the server: %v", err)
		}
	}
	st2, err := mailstore.Open(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if n := inboxCount(t, st2, "ann"); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if n := blobFiles(t, dir); n != 0 {
		t.Errorf("%d message files left", n)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"sealpost/certs/certstest"
	"sealpost/mailstore"
	"sealpost/pop3d"
)

// POP3 QUIT whose deletion cannot commit (disk full) answers
// -ERR [SYS/TEMP] and deletes nothing; the next session, with space back,
// deletes normally. Through the real pop3d, adapter and store.
func TestPOP3QuitOnFullDisk(t *testing.T) {
	faults := &mailstore.Faults{}
	auth, acct := newPOP3StoreOpts(t, mailstore.Options{Faults: faults})
	for _, b := range []string{"Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n"} {
		appendMsg(t, acct, b)
	}
	serverTLS, clientTLS := certstest.New(t)
	srv, err := pop3d.New(pop3d.Options{Auth: auth, TLSConfig: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(l)
	t.Cleanup(func() { srv.Close() })

	session := func(lines ...string) []string {
		t.Helper()
		c, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		var replies []string
		for _, line := range append([]string{""}, lines...) {
			if line != "" {
				io.WriteString(c, line+"\r\n")
			}
			r, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			replies = append(replies, strings.TrimSuffix(r, "\r\n"))
		}
		return replies
	}
	inbox := func() uint32 {
		info, err := acct.Mailbox(context.Background(), mailstore.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		return info.Messages
	}

	faults.FailCommits(&fs.PathError{Op: "write", Path: "/data/mail.db", Err: syscall.ENOSPC})
	r := session("USER ann", "PASS ann-password", "DELE 1", "DELE 2", "QUIT")
	if q := r[len(r)-1]; !strings.HasPrefix(q, "-ERR [SYS/TEMP]") {
		t.Fatalf("QUIT with failing commits: %q", q)
	}
	if n := inbox(); n != 2 {
		t.Fatalf("%d messages left after the failed QUIT, want 2", n)
	}
	faults.FailCommits(nil)
	r = session("USER ann", "PASS ann-password", "STAT", "DELE 1", "QUIT")
	if !strings.HasPrefix(r[3], "+OK 2 ") {
		t.Fatalf("STAT after the failed QUIT: %q", r[3])
	}
	if q := r[len(r)-1]; !strings.HasPrefix(q, "+OK") {
		t.Fatalf("QUIT with space back: %q", q)
	}
	if n := inbox(); n != 1 {
		t.Fatalf("%d messages left, want 1", n)
	}
}

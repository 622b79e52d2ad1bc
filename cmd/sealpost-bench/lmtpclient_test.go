package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore"
	"sealpost/mailstore/lmtp"
)

func TestDotStuff(t *testing.T) {
	// want is without the final ".\r\n" that dotStuff adds.
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a\r\n", "a\r\n"},
		{".\r\n", "..\r\n"},
		{"a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n"},
		{"a\n.b\n", "a\r\n..b\r\n"},              // bare LF
		{"a\r.b\r\n", "a\r.b\r\n"},               // a lone CR is data, no line start
		{"no end", "no end\r\n"},                 // last line gets its CRLF
		{"cr end\r", "cr end\r\n"},               // not CR CR LF
		{"\n\n.", "\r\n\r\n..\r\n"},              // empty lines, dot at the end
		{"x\r\n.\r\n.\r\n", "x\r\n..\r\n..\r\n"}, // "." lines never end DATA early
	} {
		got := string(dotStuff([]byte(tc.in)))
		if got != tc.want+".\r\n" {
			t.Errorf("dotStuff(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// net/textproto's DotWriter, which go-smtp's client uses, sends
		// the same bytes (for an empty message it adds an empty line).
		if tc.in == "" {
			continue
		}
		var b bytes.Buffer
		w := textproto.NewWriter(bufio.NewWriter(&b))
		dw := w.DotWriter()
		io.WriteString(dw, tc.in)
		dw.Close()
		if want := b.String(); got != want {
			t.Errorf("dotStuff(%q) = %q, DotWriter sends %q", tc.in, got, want)
		}
	}
}

// The bench client against the real Sealpost inlet: what it sends is
// stored byte for byte (dots, bare LF, a 2 MB body), a refused recipient
// is an *lmtpError after which the connection still delivers, and a
// message counts only after the recipient's 250.
func TestLMTPClient(t *testing.T) {
	dir := t.TempDir()
	st, err := mailstore.Open(dir, mailstore.Options{MaxMessageSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if _, err := st.ImportUser(context.Background(), "ann", string(h), 0); err != nil {
		t.Fatal(err)
	}
	srv, err := lmtp.New(lmtp.Options{Store: st, SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	c, err := dialLMTP(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	msgs := []string{
		"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nend\r\n",
		"Subject: bare LF\n\nline\n.dot\n",
		"Subject: big\r\n\r\n" + strings.Repeat(".x"+strings.Repeat("y", 74)+"\r\n", 2<<20/78),
	}
	for _, m := range msgs {
		if err := lmtpSend(c, "ann@localhost", dotStuff([]byte(m))); err != nil {
			t.Fatalf("send %.20q: %v", m, err)
		}
	}
	err = lmtpSend(c, "nobody@localhost", dotStuff([]byte(msgs[0])))
	var le *lmtpError
	if !errors.As(err, &le) || le.cmd != "RCPT" || le.code != 550 {
		t.Fatalf("unknown recipient: %v, want RCPT 550", err)
	}
	if err := c.reset(); err != nil {
		t.Fatal(err)
	}
	if err := lmtpSend(c, "ann@localhost", dotStuff([]byte(msgs[0]))); err != nil {
		t.Fatalf("after RSET: %v", err)
	}
	c.quit()
	msgs = append(msgs, msgs[0])

	a, err := st.Account(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = a.Fetch(context.Background(), info.ID, nil, mailstore.FetchWant{}, func(m *mailstore.MessageMeta) error {
		f, err := a.Open(m.Message)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		got = append(got, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages stored, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		want := "Return-Path: <bench@example.org>\r\nDelivered-To: ann@localhost\r\n" + strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n")
		if got[i] != want {
			t.Errorf("message %d: stored %d bytes %.60q, want %d bytes %.60q", i, len(got[i]), got[i], len(want), want)
		}
	}
}

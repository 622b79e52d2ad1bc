package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"sealpost/mailstore/lmtp"
)

// LoginIMAPS logs in over implicit TLS.
func (s *Server) LoginIMAPS(t testing.TB, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(s.IMAPS, &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Bodies fetches every message of a mailbox: UID → full body.
func Bodies(t testing.TB, c *imapclient.Client, mailbox string) map[imap.UID]string {
	t.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	sec := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[imap.UID]string{}
	for _, m := range msgs {
		out[m.UID] = string(m.FindBodySection(sec))
	}
	return out
}

// lmtpSend delivers one message to several recipients over LMTP and
// returns each recipient's reply code (250 or the error code).
func lmtpSend(t testing.TB, network, addr, from string, rcpts []string, body string) map[string]int {
	t.Helper()
	refused, accepted, err := lmtpTransaction(t, network, addr, from, rcpts, body)
	codes := map[string]int{}
	for r, e := range refused {
		codes[r] = smtpCode(e)
	}
	for _, r := range accepted {
		codes[r] = 250
	}
	if le, ok := err.(smtp.LMTPDataError); ok {
		for r, e := range le {
			codes[r] = e.Code
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return codes
}

// lmtpTransaction runs one LMTP transaction: it returns the recipients
// refused at RCPT with their errors, those accepted, and the error of
// the reply to DATA (smtp.LMTPDataError: per recipient; no DATA when none
// was accepted). Any other failure fails the test.
func lmtpTransaction(t testing.TB, network, addr, from string, rcpts []string, body string) (refused map[string]error, accepted []string, dataErr error) {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
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
	refused = map[string]error{}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			refused[r] = err
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return refused, nil, nil
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	_, err = w.CloseWithLMTPResponse()
	return refused, accepted, err
}

func smtpCode(err error) int {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code
	}
	return -1
}

// deliver uses the product's own LMTP client path (as `sealpost deliver` does).
func deliverTCP(ctx context.Context, addr, rcpt, body string) error {
	return lmtp.DeliverOne(ctx, "tcp", addr, "sender@example.org", rcpt, strings.NewReader(body))
}

func testMessage(subject, body string) string {
	return fmt.Sprintf("From: Sender <sender@example.org>\r\nTo: ann@example.com\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s\r\n",
		subject, time.Now().Format(time.RFC1123Z), strings.ReplaceAll(subject, " ", "."), body)
}

func swaks(t testing.TB, args ...string) (string, int) {
	t.Helper()
	needTool(t, "swaks")
	cmd := exec.Command("swaks", args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

package integration

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// This file holds what the IMAP integration tests share: imapclient dialing
// over both TLS modes, a raw transcript client for the bytes imapclient
// hides (LSUB, CHECK, literals, response order), LMTP delivery and the
// test messages.

// tlsMode is how a client reaches TLS: STARTTLS on the plain port or
// implicit TLS on the IMAPS port.
type tlsMode int

const (
	modeStartTLS tlsMode = iota
	modeImplicitTLS
)

func (m tlsMode) String() string {
	if m == modeStartTLS {
		return "starttls"
	}
	return "implicit-tls"
}

// dialIMAP connects imapclient with TLS in the given mode, not logged in.
func (s *Server) dialIMAP(t testing.TB, mode tlsMode, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	o := imapclient.Options{}
	if opts != nil {
		o = *opts
	}
	o.TLSConfig = s.TLSConfig()
	var (
		c   *imapclient.Client
		err error
	)
	if mode == modeStartTLS {
		c, err = imapclient.DialStartTLS(s.IMAP, &o)
	} else {
		c, err = imapclient.DialTLS(s.IMAPS, &o)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", mode, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loginIMAP dials in the given mode and logs in with LOGIN.
func (s *Server) loginIMAP(t testing.TB, mode tlsMode, user, pass string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := s.dialIMAP(t, mode, opts)
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login %s over %s: %v", user, mode, err)
	}
	return c
}

// deliver sends msg to rcpt over the LMTP unix socket and fails the test
// unless the server accepted it with 250.
func deliver(t testing.TB, s *Server, rcpt, msg string) {
	t.Helper()
	if code := lmtpSend(t, "unix", s.Socket, "sender@example.org", []string{rcpt}, msg)[rcpt]; code != 250 {
		t.Fatalf("LMTP delivery to %s: %d", rcpt, code)
	}
}

// delivered is msg as the store keeps it after an LMTP delivery from
// sender@example.org: the trace headers come first.
func delivered(rcpt, msg string) string {
	return "Return-Path: <sender@example.org>\r\nDelivered-To: " + rcpt + "\r\n" + msg
}

// imapCode returns the response code of an IMAP error, "" if none.
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// wantIMAPError fails unless err is an IMAP reply of the given type and
// code (code "" accepts any code).
func wantIMAPError(t testing.TB, what string, err error, typ imap.StatusResponseType, code imap.ResponseCode) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Errorf("%s: got %v, want %s [%s]", what, err, typ, code)
		return
	}
	if ie.Type != typ || code != "" && ie.Code != code {
		t.Errorf("%s: got %s [%s] %q, want %s [%s]", what, ie.Type, ie.Code, ie.Text, typ, code)
	}
}

// Test messages. Header dates are fixed so SENTBEFORE/SENTSINCE have
// something to bite on; sizes differ so LARGER/SMALLER do.

const msgPlain = "From: Alice Example <alice@example.org>\r\n" +
	"To: Ann <ann@example.com>\r\n" +
	"Subject: plain hello\r\n" +
	"Date: Mon, 15 Jan 2024 10:00:00 +0000\r\n" +
	"Message-ID: <plain-1@example.org>\r\n" +
	"\r\n" +
	"Hello world, this is the plain message.\r\n"

// msgMultipart has a quoted-printable UTF-8 text part and a base64 part
// holding the bytes 0..255, so BINARY has something to decode.
var msgMultipart = "From: Bob Sender <bob@example.net>\r\n" +
	"To: Ann <ann@example.com>, Carol <carol@example.com>\r\n" +
	"Cc: Dave <dave@example.com>\r\n" +
	"Subject: multipart report\r\n" +
	"Date: Thu, 15 Feb 2024 09:30:00 +0100\r\n" +
	"Message-ID: <multi-2@example.net>\r\n" +
	"In-Reply-To: <plain-1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XyZ\r\n" +
	multipartPart1MIME +
	multipartPart1Body +
	"\r\n--XyZ\r\n" +
	multipartPart2MIME +
	multipartPart2Body +
	"\r\n--XyZ--\r\n"

const (
	multipartPart1MIME = "Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n"
	multipartPart1Body = "Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, the quarterly numbers are attached."
	multipartPart1Text = "Grüße aus München, the quarterly numbers are attached."
	multipartPart2MIME = "Content-Type: application/octet-stream; name=\"bytes.bin\"\r\n" +
		"Content-Disposition: attachment; filename=\"bytes.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n"
)

var multipartPart2Body = base64Lines(allBytes())

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// msgHTML is over 4 KB.
var msgHTML = "From: Newsletter <news@example.com>\r\n" +
	"To: ann@example.com\r\n" +
	"Subject: big newsletter\r\n" +
	"Date: Fri, 01 Mar 2024 08:00:00 -0500\r\n" +
	"Message-ID: <html-3@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/html; charset=us-ascii\r\n" +
	"\r\n" +
	"<html><body>\r\n" + strings.Repeat("<p>newsletter paragraph with filler text</p>\r\n", 100) + "</body></html>\r\n"

func base64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	return out.String()
}

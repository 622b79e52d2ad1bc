package lmtp

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// DeliverOne hands one message for one recipient to an LMTP server at
// network/addr ("unix" and a socket path, or "tcp" and host:port) and
// returns nil once the server answered 250 for it. Errors from the server
// are *smtp.SMTPError; connection failures are anything else.
func DeliverOne(ctx context.Context, network, addr, from, rcpt string, body io.Reader) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	// SMTP paths need a domain; the server always accepts "localhost" as
	// its own, so a bare user name ("ann") works whatever domains it serves.
	if !strings.Contains(rcpt, "@") {
		rcpt += "@localhost"
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	// A per-recipient refusal comes back as smtp.LMTPDataError, whose
	// Unwrap lets callers errors.As it to *smtp.SMTPError.
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		return err
	}
	c.Quit()
	return nil
}

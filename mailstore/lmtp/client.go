package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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
	// Never send more than the server's SIZE: it would refuse the message
	// anyway, and past its limits it may hang up mid-message, which looks
	// like a temporary failure. Returning without closing w abandons the
	// transaction (the deferred Close drops the connection), so nothing
	// truncated is delivered.
	if ok, v := c.Extension("SIZE"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			body = &sizeGuard{r: body, limit: n, left: n}
		}
	}
	if _, err := io.Copy(w, body); err != nil {
		var big *smtp.SMTPError
		if errors.As(err, &big) {
			return big
		}
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

// sizeGuard fails with a 552 once more than left bytes were read.
type sizeGuard struct {
	r     io.Reader
	limit int64
	left  int64
}

func (g *sizeGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if g.left -= int64(n); g.left < 0 {
		return 0, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Message larger than the server's limit of %d bytes", g.limit)}
	}
	return n, err
}

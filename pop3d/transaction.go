package pop3d

import (
	"errors"
	"fmt"
	"strconv"
)

// This file holds the TRANSACTION and UPDATE states (RFC 1939 §5-6). The
// message list is the snapshot taken at login; numbers never shift, deleted
// messages are only marked until QUIT.

// lookup returns message n (1-based) unless it does not exist or is marked.
func (c *conn) lookup(n int) (*message, error) {
	if n < 1 || n > len(c.msgs) {
		return nil, errNoSuchMsg
	}
	m := &c.msgs[n-1]
	if m.deleted {
		return nil, errDeleted
	}
	return m, nil
}

// wireSize is the octet count LIST, STAT and RETR's "+OK n octets" report:
// the message as RETR sends it before dot-stuffing (RFC 1939 §11), so an
// unterminated last line counts the CRLF the dot writer adds.
func wireSize(m Message) int64 {
	if m.Unterminated && m.Size > 0 {
		return m.Size + 2
	}
	return m.Size
}

// totals counts the messages not marked as deleted.
func (c *conn) totals() (n int, size int64) {
	for _, m := range c.msgs {
		if !m.deleted {
			n++
			size += wireSize(m.Message)
		}
	}
	return n, size
}

func (c *conn) cmdStat() error {
	n, size := c.totals()
	c.ok("%d %d", n, size)
	return nil
}

// cmdList serves LIST and UIDL (RFC 1939 §5 and §7), which differ only in
// the value printed after the message number.
func (c *conn) cmdList(cmd command) error {
	value := func(m *message) string {
		if cmd.kind == cmdUIDL {
			return m.UIDL
		}
		return strconv.FormatInt(wireSize(m.Message), 10)
	}
	if cmd.msg != 0 {
		m, err := c.lookup(cmd.msg)
		if err != nil {
			return err
		}
		c.ok("%d %s", cmd.msg, value(m))
		return nil
	}
	var lines []string
	for i := range c.msgs {
		if m := &c.msgs[i]; !m.deleted {
			lines = append(lines, strconv.Itoa(i+1)+" "+value(m))
		}
	}
	first := "unique-id listing follows"
	if cmd.kind == cmdLIST {
		n, size := c.totals()
		first = fmt.Sprintf("%d messages (%d octets)", n, size)
	}
	return c.multiline(first, lines)
}

// cmdRetr serves RETR (limit < 0) and TOP (limit body lines). The body is
// streamed from the store; if it was expunged meanwhile (say over IMAP) the
// reply is -ERR and the session goes on.
func (c *conn) cmdRetr(n, limit int) error {
	m, err := c.lookup(n)
	if err != nil {
		return err
	}
	body, err := c.drop.Open(c.ctx, m.Message)
	if err != nil {
		if errors.Is(err, ErrGone) {
			c.log.Info("message gone", "uid", m.UID)
		}
		return err
	}
	defer body.Close()
	if limit < 0 {
		c.ok("%d octets", wireSize(m.Message))
	} else {
		c.ok("top of message follows")
	}
	// After +OK a failure cannot be reported in-band: end the connection.
	sent, err := c.streamBody(body, limit)
	if err != nil {
		return fatalError{err}
	}
	if limit < 0 && sent != wireSize(m.Message) {
		// The Maildrop broke its contract (Size or Unterminated wrong);
		// clients that check the count may drop the message.
		c.log.Error("RETR size differs from LIST", "uid", m.UID, "listed", wireSize(m.Message), "sent", sent)
	}
	return nil
}

func (c *conn) cmdDele(n int) error {
	m, err := c.lookup(n)
	if err != nil {
		return err
	}
	m.deleted = true
	c.ok("message %d deleted", n)
	return nil
}

func (c *conn) cmdRset() error {
	for i := range c.msgs {
		c.msgs[i].deleted = false
	}
	n, size := c.totals()
	c.ok("maildrop has %d messages (%d octets)", n, size)
	return nil
}

// cmdQuit ends the session. From TRANSACTION it enters UPDATE (RFC 1939 §6):
// the marked messages are deleted in one atomic store call, the lock is
// released, and only then does the client get its reply, so an immediate
// reconnect finds the maildrop free.
func (c *conn) cmdQuit() error {
	if c.state == stateAuthorization {
		c.ok("Sealpost POP3 server signing off")
		return errQuit
	}
	c.state = stateUpdate
	var marked []Message
	for _, m := range c.msgs {
		if m.deleted {
			marked = append(marked, m.Message)
		}
	}
	left, _ := c.totals()
	if len(marked) > 0 {
		if err := c.drop.Delete(c.ctx, marked); err != nil {
			c.log.Error("delete at QUIT failed", "err", err, "count", len(marked))
			c.releaseDrop()
			c.fail(errDeleteFail)
			return errQuit
		}
		c.log.Info("messages deleted", "count", len(marked))
	}
	c.releaseDrop()
	c.ok("Sealpost POP3 server signing off (%d messages left)", left)
	return errQuit
}

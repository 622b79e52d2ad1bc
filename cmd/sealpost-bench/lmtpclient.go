// lmtpclient.go: the bench's own LMTP client. go-smtp's client sends DATA
// through net/textproto's DotWriter, one WriteByte per byte: at 1 MB that
// cost the bench about as much CPU per message as the server under test,
// so on a 2-core machine the client, not the server, set the pace of the
// 1 MB passes. This one sends a message dot-stuffed once in advance
// (wireMessage) in a single write, and otherwise speaks plain RFC 2033 in
// lock step, like go-smtp's: LHLO once, then MAIL, RCPT, DATA, each
// waiting for its reply. Both servers get the very same client.

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// lmtpClient is one LMTP connection.
type lmtpClient struct {
	conn net.Conn
	r    *textproto.Reader
	w    *bufio.Writer
	mail string // the MAIL command
}

// lmtpError is a reply the server gave instead of the expected one. Any
// other error from the client is a transport failure: the connection is
// unusable.
type lmtpError struct {
	cmd  string
	code int
	msg  string
}

func (e *lmtpError) Error() string { return fmt.Sprintf("%s: %d %s", e.cmd, e.code, e.msg) }

func dialLMTP(ctx context.Context, addr string) (*lmtpClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &lmtpClient{conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), w: bufio.NewWriterSize(conn, 4096)}
	c.deadline()
	if _, err := c.reply("greeting", 220); err != nil {
		conn.Close()
		return nil, err
	}
	ext, err := c.cmd("LHLO", 250, "LHLO sealpost-bench.localhost")
	if err != nil {
		conn.Close()
		return nil, err
	}
	// The generated messages are 8bit; say so where the server can take
	// it, as go-smtp's client does.
	c.mail = "MAIL FROM:<bench@example.org>"
	for _, l := range strings.Split(ext, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), "8BITMIME") {
			c.mail += " BODY=8BITMIME"
		}
	}
	return c, nil
}

func (c *lmtpClient) deadline() { c.conn.SetDeadline(time.Now().Add(lmtpTimeout)) }

// reply reads one (possibly multi-line) reply, checks its code and
// returns its text (lines joined by "\n").
func (c *lmtpClient) reply(cmd string, want int) (string, error) {
	code, msg, err := c.r.ReadResponse(0)
	if err != nil {
		if _, ok := err.(textproto.ProtocolError); ok {
			err = fmt.Errorf("%s: %w", cmd, err)
		}
		return "", err
	}
	if code != want {
		return "", &lmtpError{cmd: cmd, code: code, msg: msg}
	}
	return msg, nil
}

func (c *lmtpClient) cmd(name string, want int, line string) (string, error) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	return c.reply(name, want)
}

// lmtpSend delivers one message to one recipient and returns nil only
// once the server's reply for that recipient, after the end of DATA, is
// 250 (for Sealpost: the message is durable).
func lmtpSend(c *lmtpClient, rcpt string, msg wireMessage) error {
	c.deadline()
	if _, err := c.cmd("MAIL", 250, c.mail); err != nil {
		return err
	}
	if _, err := c.cmd("RCPT", 250, "RCPT TO:<"+rcpt+">"); err != nil {
		return err
	}
	if _, err := c.cmd("DATA", 354, "DATA"); err != nil {
		return err
	}
	// One write, in as few segments as the kernel likes: the bufio buffer
	// is empty here, so a message larger than it goes out without a copy.
	if _, err := c.w.Write(msg); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	// RFC 2033 §4.2: one reply per accepted recipient; here one.
	_, err := c.reply("end of DATA", 250)
	return err
}

// reset ends a failed transaction so the connection can be reused.
func (c *lmtpClient) reset() error {
	c.deadline()
	_, err := c.cmd("RSET", 250, "RSET")
	return err
}

func (c *lmtpClient) quit() { c.deadline(); c.cmd("QUIT", 221, "QUIT") }

func (c *lmtpClient) close() error { return c.conn.Close() }

// wireMessage is a message as DATA carries it (RFC 5321 §4.5.2): every
// line ending in CRLF, a dot at the start of a line doubled, and the
// final "." line.
type wireMessage []byte

// size is the length of the message itself.
func (m wireMessage) size() int { return len(m) - len(".\r\n") }

// dotStuff returns msg in wire form. Lines end at LF; a bare LF gets its
// CR and a last line without a line end gets a CRLF, as net/textproto's
// DotWriter (go-smtp's client) sends them. A lone CR is data, as there.
func dotStuff(msg []byte) wireMessage {
	out := make([]byte, 0, len(msg)+len(msg)/64+5)
	bol := true
	for len(msg) > 0 {
		if bol && msg[0] == '.' {
			out = append(out, '.')
		}
		j := bytes.IndexByte(msg, '\n')
		if j < 0 {
			out = append(out, msg...)
			bol = false
			break
		}
		out = append(out, msg[:j]...)
		if j == 0 || msg[j-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
		msg = msg[j+1:]
		bol = true
	}
	if !bol {
		if out[len(out)-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
	}
	return append(out, ".\r\n"...)
}

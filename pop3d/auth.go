package pop3d

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/emersion/go-sasl"
)

// This file holds the AUTHORIZATION state (RFC 1939 §4): STLS, USER/PASS,
// APOP and AUTH. Every path that takes a credential checks tlsActive first;
// without TLS the Authenticator is never called (RFC 2595 §2.2, our promise).

// errAuthzMismatch: a SASL PLAIN authorization identity other than the user.
var errAuthzMismatch = errors.New("authorization identity differs from username")

// cmdStls upgrades to TLS (RFC 2595 §4). The reader is recreated on the
// *tls.Conn, so commands pipelined after STLS in plaintext are dropped.
func (c *conn) cmdStls() error {
	if tlsActive(c.nc) {
		return errTLSActive
	}
	c.ok("Begin TLS negotiation")
	if err := c.bw.Flush(); err != nil {
		return fatalError{err}
	}
	if err := c.handshake(); err != nil {
		return fatalError{err}
	}
	c.metrics.startTLS()
	c.log.Debug("STLS done")
	return nil
}

func (c *conn) cmdUser(cmd command) error {
	if !tlsActive(c.nc) {
		return errTLSRequired
	}
	// The reply is the same for every name: no user enumeration.
	c.user = cmd.arg
	c.ok("send PASS")
	return nil
}

func (c *conn) cmdPass(cmd command) error {
	if !tlsActive(c.nc) {
		return errTLSRequired
	}
	if c.userPrev == "" {
		return errPassOrder
	}
	drop, err := c.authenticate(c.userPrev, cmd.arg)
	if err != nil {
		return err
	}
	return c.enterTransaction(c.userPrev, drop)
}

// cmdApop always refuses: APOP needs the plaintext secret on the server,
// and we keep none (RFC 1939 §7 makes APOP optional).
func (c *conn) cmdApop() error {
	if !tlsActive(c.nc) {
		return errTLSRequired
	}
	return errNoAPOP
}

// cmdAuth runs RFC 5034 AUTH with SASL PLAIN (RFC 4616), with or without an
// initial response. Without a mechanism it lists the mechanisms.
func (c *conn) cmdAuth(cmd command) error {
	if !tlsActive(c.nc) {
		return errTLSRequired
	}
	if cmd.arg == "" {
		return c.multiline("SASL mechanisms follow", []string{sasl.Plain})
	}
	if cmd.arg != sasl.Plain {
		return errMechanism
	}
	var (
		user    string
		drop    Maildrop
		called  bool
		authErr error
	)
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		called = true
		if identity != "" && identity != username {
			c.log.Info("authentication refused", "user", username, "err", errAuthzMismatch)
			authErr = ErrAuthFailed
			return authErr
		}
		user = username
		drop, authErr = c.authenticate(username, password)
		return authErr
	})
	var resp []byte
	if cmd.hasArg2 {
		resp = []byte{} // "=" is an empty initial response (RFC 5034 §4)
		if cmd.arg2 != "=" {
			var err error
			if resp, err = base64.StdEncoding.DecodeString(cmd.arg2); err != nil {
				return errSASLSyntax
			}
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if called {
			err = authErr
		}
		if err != nil {
			if !called {
				return errSASLSyntax // go-sasl's own parse errors
			}
			return err
		}
		if done {
			break
		}
		c.bw.WriteString("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
		if err := c.bw.Flush(); err != nil {
			return fatalError{err}
		}
		line, err := c.readIdle(maxSASLLine)
		if errors.Is(err, errLineTooLong) {
			return errLineLong
		} else if err != nil {
			return fatalError{err}
		}
		if string(line) == "*" {
			return errAuthCancel
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return errSASLSyntax
		}
	}
	if drop == nil {
		return errAuthFail
	}
	return c.enterTransaction(user, drop)
}

// authenticate calls the Authenticator. It is the only caller, and it
// refuses to run without TLS even if a command handler forgot to check.
func (c *conn) authenticate(user, pass string) (Maildrop, error) {
	if !tlsActive(c.nc) {
		return nil, errTLSRequired
	}
	// The attempt may wait out throttle delays, but not past LoginTimeout;
	// Shutdown may end the wait too (inAuth).
	ctx, cancel := context.WithDeadline(c.ctx, c.loginBy)
	defer cancel()
	c.setInAuth(true)
	drop, err := c.srv.opts.Auth.Authenticate(ctx, c.remote, user, pass)
	c.setInAuth(false)
	if err == nil && drop == nil {
		err = errors.New("authenticator returned no maildrop")
	}
	if err != nil {
		if drop != nil {
			drop.Close()
		}
		c.log.Info("authentication failed", "user", user, "err", err)
		return nil, err
	}
	return drop, nil
}

func (c *conn) setInAuth(v bool) {
	c.mu.Lock()
	c.inAuth = v
	c.mu.Unlock()
}

// enterTransaction takes the maildrop lock and the snapshot (RFC 1939 §4:
// "the POP3 server then acquires an exclusive-access lock on the maildrop").
// On failure the session stays in AUTHORIZATION.
func (c *conn) enterTransaction(user string, drop Maildrop) error {
	msgs, err := drop.Lock(c.ctx)
	if err != nil {
		drop.Close()
		if errors.Is(err, ErrInUse) {
			c.log.Info("maildrop in use", "user", user)
		}
		return err
	}
	c.drop, c.state = drop, stateTransaction
	c.msgs = make([]message, len(msgs))
	for i, m := range msgs {
		c.msgs[i] = message{Message: m}
	}
	c.log = c.log.With("user", user)
	n, size := c.totals()
	c.log.Info("logged in", "messages", n)
	c.ok("maildrop has %d messages (%d octets)", n, size)
	return nil
}

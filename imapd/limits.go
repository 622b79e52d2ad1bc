package imapd

import (
	"net/netip"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Connection limits beyond the per-server and per-address caps that admit
// applies at accept: logged-in connections per user and address, and the
// time a connection may take to log in.

const (
	defaultMaxConnsPerUserIP = 20
	defaultLoginTimeout      = time.Minute
	defaultHandshakeTimeout  = 15 * time.Second
)

// userIPKey counts one user's logged-in connections from one address.
type userIPKey struct {
	user string
	ip   netip.Addr
}

var errUserIPLimit = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeLimit,
	Text: "Too many connections for this user from your address",
}

// admitUser counts c as one of user's connections from c's address, unless
// that would exceed MaxConnsPerUserIP. The count is released with c.
func (s *Server) admitUser(c *conn, user string) bool {
	k := userIPKey{user: user, ip: c.remote}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.userIP != nil {
		return true
	}
	if s.perUserIP[k] >= s.opts.MaxConnsPerUserIP {
		return false
	}
	s.perUserIP[k]++
	c.userIP = &k
	return true
}

// releaseUserLocked gives back c's per-user count; s.mu is held.
func (s *Server) releaseUserLocked(c *conn) {
	if c.userIP == nil {
		return
	}
	if s.perUserIP[*c.userIP]--; s.perUserIP[*c.userIP] <= 0 {
		delete(s.perUserIP, *c.userIP)
	}
	c.userIP = nil
}

// watchLogin closes c when LoginTimeout runs out before it has logged in:
// imapserver's 30 s deadline is per command, so a client sending NOOP (or
// one byte of a command) every 29 s would otherwise stay forever. It
// returns the function that stops the watch.
func (c *conn) watchLogin() (stop func()) {
	t := time.AfterFunc(time.Until(c.loginBy), func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.sess != nil && c.sess.loggedIn() {
			return
		}
		c.log.Debug("login timeout, closing connection")
		c.raw.Close()
		if c.sess != nil {
			c.sess.cancel()
		}
	})
	return func() { t.Stop() }
}

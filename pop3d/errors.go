package pop3d

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel errors shared with the Authenticator and Maildrop implementations.
// pop3d tests them with errors.Is, so implementations may wrap them.
var (
	// ErrAuthFailed: bad credentials. Sent as "-ERR [AUTH] Authentication failed".
	ErrAuthFailed = errors.New("pop3d: authentication failed")
	// ErrThrottled: the Authenticator refuses to check credentials now
	// (too many failures). Sent as "-ERR [AUTH] Too many failures, try later".
	ErrThrottled = errors.New("pop3d: too many authentication failures")
	// ErrInUse: Maildrop.Lock found another POP3 session holding the maildrop.
	// Sent as "-ERR [IN-USE] ..." (RFC 2449 §8.1.1).
	ErrInUse = errors.New("pop3d: maildrop in use")
	// ErrGone: Maildrop.Open of a message that was expunged meanwhile (for
	// example over IMAP). The session goes on; RETR and TOP answer -ERR.
	ErrGone = errors.New("pop3d: message no longer exists")
	// ErrServerClosed is returned by Serve and ServeTLS after Shutdown or
	// Close. It wraps net.ErrClosed, so callers that treat a closed
	// listener as a normal end need no POP3-specific case.
	ErrServerClosed = fmt.Errorf("pop3d: server closed: %w", net.ErrClosed)
)

// respError is a -ERR reply. Handlers return it; the connection loop writes
// it. code is an RFC 2449/3206 response code without brackets.
type respError struct {
	code string
	text string
	// bad counts the reply toward Options.MaxErrors: protocol misuse,
	// not a request that merely found nothing (RETR of a removed message).
	bad bool
}

func (e *respError) Error() string {
	if e.code == "" {
		return e.text
	}
	return "[" + e.code + "] " + e.text
}

// Replies. Texts are for humans; clients act on the codes.
var (
	// RFC 2595 §4 and RFC 3206 §4 ([AUTH] covers "an attempt to
	// authenticate in violation of policy"): no credential without TLS.
	// Not counted as bad: the client may go on with STLS, and the login
	// deadline bounds a client that never does.
	errTLSRequired = &respError{"AUTH", "TLS required, use STLS first", false}
	errAuthFail    = &respError{"AUTH", "Authentication failed", true}
	errThrottle    = &respError{"AUTH", "Too many failures, try later", true}
	errNoAPOP      = &respError{"AUTH", "APOP not supported", true}
	// Not counted as bad: the client did nothing wrong and may retry.
	errInUse      = &respError{"IN-USE", "Maildrop already locked by another session", false}
	errInternal   = &respError{"SYS/TEMP", "Internal server error, try again later", false}
	errUnknown    = &respError{"", "Unknown command", true}
	errState      = &respError{"", "Command not valid in this state", true}
	errLineLong   = &respError{"", "Line too long", true}
	errPassOrder  = &respError{"", "PASS must directly follow USER", true}
	errTLSActive  = &respError{"", "TLS already active", true}
	errMechanism  = &respError{"", "Unsupported SASL mechanism", true}
	errAuthCancel = &respError{"", "Authentication cancelled", true}
	errSASLSyntax = &respError{"", "Invalid SASL response", true}
	errNoSuchMsg  = &respError{"", "No such message", false}
	errDeleted    = &respError{"", "Message already deleted", false}
	errGone       = &respError{"", "Message was removed by another client", false}
	errDeleteFail = &respError{"SYS/TEMP", "Some deleted messages not removed, try again later", false}
	// Sent after the reply that spent the error budget, right before the
	// connection is closed (as Dovecot does).
	errTooMany = &respError{"", "Too many bad commands, closing connection", false}
	// Sent when the login time limit runs out; the connection is closed.
	errLoginTime = &respError{"", "Login time limit exceeded, closing connection", false}
)

// toResp is the one place where errors become wire replies. Anything not
// recognised is logged by the caller and sent as errInternal.
func toResp(err error) (resp *respError, known bool) {
	var re *respError
	var se syntaxError
	switch {
	case errors.As(err, &re):
		return re, true
	case errors.Is(err, errUnknownCommand):
		return errUnknown, true
	case errors.As(err, &se):
		return &respError{text: "Syntax error: " + se.Error(), bad: true}, true
	case errors.Is(err, ErrThrottled):
		return errThrottle, true
	case errors.Is(err, ErrAuthFailed):
		return errAuthFail, true
	case errors.Is(err, ErrInUse):
		return errInUse, true
	case errors.Is(err, ErrGone):
		return errGone, true
	}
	return errInternal, false
}

// fatalError ends the connection without a reply: the stream is no longer
// in a state where a -ERR would be understood (a body failed mid-RETR) or the
// socket failed.
type fatalError struct{ err error }

func (e fatalError) Error() string { return fmt.Sprintf("connection ended: %v", e.err) }
func (e fatalError) Unwrap() error { return e.err }

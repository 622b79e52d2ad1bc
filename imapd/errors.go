package imapd

import (
	"context"
	"errors"
	"log/slog"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore"
	"sealpost/mailstore/login"
)

// Replies that do not come from a store error.
var (
	errReadOnly = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: "READ-ONLY", // RFC 9051 §7.1 resp-text-code
		Text: "Mailbox is open read-only (EXAMINE)",
	}
	errPrivacyRequired = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodePrivacyRequired,
		Text: "TLS is required to authenticate",
	}
	errThrottled = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeUnavailable,
		Text: "Too many failed logins, try again later",
	}
	errLoginUnavailable = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeUnavailable,
		Text: "Login temporarily unavailable, try again later",
	}
	errNoSelection = &imap.Error{
		Type: imap.StatusResponseTypeBad,
		Code: imap.ResponseCodeClientBug,
		Text: "No mailbox selected",
	}
	errInternal = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeServerBug,
		Text: "Internal server error, the incident was logged",
	}
	errShuttingDown = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeUnavailable,
		Text: "Server is shutting down",
	}
)

// target says whether a missing mailbox is the operand of the command
// (NONEXISTENT) or a destination the client may create (TRYCREATE, RFC 9051
// §7.1: APPEND, COPY and MOVE).
type target bool

const (
	operand     target = false
	destination target = true
)

// toIMAP is the one mapping from store errors to IMAP replies. It returns
// nil for nil, the *imap.Error for a known sentinel and errInternal for
// anything else; known reports whether err was expected (callers log the
// unexpected ones before answering).
func toIMAP(err error, t target) (reply error, known bool) {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	var ie *imap.Error
	switch {
	case err == nil:
		return nil, true
	case errors.As(err, &ie):
		return ie, true
	case errors.Is(err, mailstore.ErrNoSuchMailbox) && t == destination:
		return no(imap.ResponseCodeTryCreate, "No such mailbox"), true
	case errors.Is(err, mailstore.ErrNoSuchMailbox):
		return no(imap.ResponseCodeNonExistent, "No such mailbox"), true
	case errors.Is(err, mailstore.ErrMailboxExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists"), true
	case errors.Is(err, mailstore.ErrOverQuota):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded"), true
	case errors.Is(err, mailstore.ErrNoSpace):
		// RFC 5530 has no code for a full disk. OVERQUOTA, as Dovecot
		// answers, makes clients tell the user that storage is full, and
		// expunging does free space; the text says it is the server's.
		// Not "known": the admin must hear of it, so it is logged as an error.
		return no(imap.ResponseCodeOverQuota, "Not enough disk space on the server, try again later"), false
	case errors.Is(err, mailstore.ErrTooBig):
		return no(imap.ResponseCodeTooBig, "Message too big"), true
	case errors.Is(err, mailstore.ErrBadName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name"), true
	case errors.Is(err, mailstore.ErrHasChildren):
		// RFC 5530 HASCHILDREN is the precise code; the store cannot keep a
		// \Noselect parent, so children must be deleted first.
		return no(imap.ResponseCodeHasChildren, "Mailbox has children, delete them first"), true
	case errors.Is(err, mailstore.ErrInboxNotAllowed):
		return no(imap.ResponseCodeCannot, "Not allowed on INBOX"), true
	case errors.Is(err, mailstore.ErrBadSpecialUse):
		return no(codeUseAttr, "Unsupported special-use attribute"), true
	case errors.Is(err, mailstore.ErrGone):
		return no(imap.ResponseCodeNonExistent, "Message no longer exists"), true
	case errors.Is(err, mailstore.ErrClosed), errors.Is(err, context.Canceled):
		return errShuttingDown, true
	}
	return errInternal, false
}

// loginReply maps an Authenticator error: wrong credentials are
// AUTHENTICATIONFAILED, throttling and anything else UNAVAILABLE.
func loginReply(err error) (reply error, known bool) {
	switch {
	case errors.Is(err, mailstore.ErrAuthFailed):
		return imapserver.ErrAuthFailed, true
	case errors.Is(err, login.ErrThrottled):
		return errThrottled, true
	case errors.Is(err, context.Canceled), errors.Is(err, mailstore.ErrClosed):
		return errShuttingDown, true
	}
	return errLoginUnavailable, false
}

// fail logs err if it is unexpected and returns the reply for it.
func (s *session) fail(op string, err error, t target, attrs ...any) error {
	reply, known := toIMAP(err, t)
	if !known {
		s.log.Error(op+" failed", append(attrs, "err", err)...)
	} else if s.log.Enabled(s.ctx, slog.LevelDebug) {
		s.log.Debug(op+" refused", append(attrs, "err", err)...)
	}
	return reply
}

// codeUseAttr is RFC 6154's USEATTR, which go-imap does not define.
const codeUseAttr imap.ResponseCode = "USEATTR"

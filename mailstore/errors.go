package mailstore

import "errors"

// Sentinel errors. Callers test them with errors.Is; the frontends map each to
// a protocol reply in one place.
var (
	// ErrNoSuchUser: the user does not exist.
	ErrNoSuchUser = errors.New("mailstore: no such user")
	// ErrUserExists: CreateUser with a taken name.
	ErrUserExists = errors.New("mailstore: user already exists")
	// ErrBadName: a user or mailbox name that is not allowed.
	ErrBadName = errors.New("mailstore: invalid name")
	// ErrNoSuchMailbox: the mailbox does not exist (or was deleted meanwhile).
	ErrNoSuchMailbox = errors.New("mailstore: no such mailbox")
	// ErrMailboxExists: create or rename onto an existing mailbox.
	ErrMailboxExists = errors.New("mailstore: mailbox already exists")
	// ErrHasChildren: delete of a mailbox that has sub-mailboxes.
	ErrHasChildren = errors.New("mailstore: mailbox has children")
	// ErrInboxNotAllowed: INBOX cannot be deleted, and nothing can be renamed to it.
	ErrInboxNotAllowed = errors.New("mailstore: operation not allowed on INBOX")
	// ErrOverQuota: the write would take the user over quota.
	ErrOverQuota = errors.New("mailstore: over quota")
	// ErrTooBig: the message is larger than the store accepts.
	ErrTooBig = errors.New("mailstore: message too big")
	// ErrGone: the message was expunged.
	ErrGone = errors.New("mailstore: message no longer exists")
	// ErrBadSpecialUse: an unknown or unsupported special-use attribute.
	ErrBadSpecialUse = errors.New("mailstore: unsupported special-use attribute")
	// ErrPOP3Locked: another POP3 session holds the maildrop.
	ErrPOP3Locked = errors.New("mailstore: maildrop in use")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("mailstore: closed")
)

package auth

import "errors"

// Sentinel errors returned (wrapped) by Verify and Hash.
var (
	// ErrUnknownScheme: the stored hash is in a scheme this package cannot
	// check (for example Dovecot's {PLAIN} or {SSHA512}).
	ErrUnknownScheme = errors.New("auth: unknown password scheme")
	// ErrMalformed: the hash names a known scheme but cannot be parsed.
	ErrMalformed = errors.New("auth: malformed password hash")
	// ErrTooExpensive: the hash parameters ask for more work or memory than
	// one login may cost (see limits.go).
	ErrTooExpensive = errors.New("auth: password hash parameters exceed limits")
	// ErrPasswordTooLong: Hash refuses passwords longer than MaxPasswordLen.
	ErrPasswordTooLong = errors.New("auth: password too long")
)

// Package auth hashes and verifies passwords and throttles failed logins.
//
// New passwords are hashed with argon2id (RFC 9106) in PHC string form.
// Verify also accepts hashes imported from Dovecot: bcrypt ("$2a$", "$2b$",
// "$2y$"), SHA512-CRYPT ("$6$", glibc crypt(3)) and argon2id, each with or
// without the Dovecot "{SCHEME}" prefix, so an old hash can be checked once
// and upgraded (NeedsRehash) at the next successful login.
//
// Hash checks are deliberately slow, which makes them a denial-of-service
// lever. The package therefore bounds the work one check may cost (hash
// parameters above the limits in limits.go are refused with ErrTooExpensive)
// and runs at most a few argon2id computations at once, so a burst of logins
// queues instead of allocating 19 MiB per connection.
//
// Cache remembers successful logins for a while (like Dovecot's
// auth_cache), so that repeated logins with the right password skip the
// slow check; failures are never cached.
//
// Throttle slows down, then refuses, repeated failed logins per source
// address and per account without letting an attacker lock a user out.
//
// The package never logs, stores or transmits passwords; it imports nothing
// from Sealpost.
package auth

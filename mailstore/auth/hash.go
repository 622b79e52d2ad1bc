package auth

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// scheme identifies a hash format.
type scheme int

const (
	schemeArgon2id scheme = iota + 1
	schemeBcrypt
	schemeSHA512Crypt
)

// dovecotSchemes maps Dovecot's "{SCHEME}" prefixes (doveadm pw -s) to the
// format that must follow them. Dovecot treats scheme names
// case-insensitively, and so do we.
var dovecotSchemes = map[string]scheme{
	"ARGON2ID":     schemeArgon2id,
	"BLF-CRYPT":    schemeBcrypt,
	"SHA512-CRYPT": schemeSHA512Crypt,
}

// Hash returns a new argon2id hash of password in PHC string form:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with a random 16-byte salt and a 32-byte key, both base64 without padding.
// It fails only for passwords longer than MaxPasswordLen.
func Hash(password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	return hashArgon2id(password), nil
}

// Verify reports whether password matches the stored hash, comparing in
// constant time. It accepts argon2id PHC strings (any parameters within the
// limits), bcrypt ("$2a$", "$2b$", "$2y$"), SHA512-CRYPT ("$6$", optionally
// with "rounds=N$", as made by glibc crypt(3) and doveadm pw -s SHA512-CRYPT),
// each optionally prefixed with Dovecot's "{ARGON2ID}", "{BLF-CRYPT}" or
// "{SHA512-CRYPT}".
//
// A mismatch is (false, nil). A hash in another scheme is (false,
// ErrUnknownScheme); a hash that cannot be parsed is (false, ErrMalformed);
// parameters beyond the package limits are (false, ErrTooExpensive).
// Passwords longer than MaxPasswordLen never match. Errors never contain the
// hash or the password.
func Verify(hash, password string) (bool, error) {
	s, h, err := detect(hash)
	if err != nil {
		return false, err
	}
	switch s {
	case schemeArgon2id:
		return verifyArgon2id(h, password)
	case schemeBcrypt:
		return verifyBcrypt(h, password)
	default:
		return verifySHA512Crypt(h, password)
	}
}

// NeedsRehash reports whether hash is anything but an argon2id hash with the
// current production parameters, so a successful login should replace it
// with Hash(password). A Dovecot "{ARGON2ID}" prefix alone does not call for
// a rehash.
func NeedsRehash(hash string) bool {
	s, h, err := detect(hash)
	return err != nil || s != schemeArgon2id || !argonIsCurrent(h)
}

// DummyVerify takes as long as Verify of a current argon2id hash and
// discards the result. Call it when the user does not exist so the response
// time does not reveal which users exist.
func DummyVerify(password string) {
	_, _ = Verify(dummyHash, password)
}

// slowChecks counts the slow hash computations run (see SlowChecks).
var slowChecks atomic.Int64

// SlowChecks returns how many slow hash computations (argon2id, bcrypt,
// SHA512-CRYPT; by Hash, Verify and DummyVerify) this process has run. It
// lets callers and tests tell a check that did the full work from one
// answered from a cache.
func SlowChecks() int64 { return slowChecks.Load() }

// detect strips an optional Dovecot scheme prefix and identifies the format.
func detect(hash string) (scheme, string, error) {
	var want scheme
	if rest, ok := strings.CutPrefix(hash, "{"); ok {
		name, h, ok := strings.Cut(rest, "}")
		if !ok {
			return 0, "", fmt.Errorf("%w: unterminated {scheme}", ErrMalformed)
		}
		if want = dovecotSchemes[strings.ToUpper(name)]; want == 0 {
			return 0, "", fmt.Errorf("%w: {%.32s}", ErrUnknownScheme, name)
		}
		hash = h
	}
	var got scheme
	switch {
	case strings.HasPrefix(hash, argonPrefix):
		got = schemeArgon2id
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		got = schemeBcrypt
	case strings.HasPrefix(hash, sha512Prefix):
		got = schemeSHA512Crypt
	case want != 0:
		return 0, "", fmt.Errorf("%w: hash does not match its {scheme} prefix", ErrMalformed)
	default:
		return 0, "", ErrUnknownScheme
	}
	if want != 0 && want != got {
		return 0, "", fmt.Errorf("%w: hash does not match its {scheme} prefix", ErrMalformed)
	}
	return got, hash, nil
}

// bcryptB64 is bcrypt's base64 alphabet.
const bcryptB64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// verifyBcrypt checks a "$2?$NN$<22 salt><31 hash>" string. Like the C
// implementations, bcrypt uses only the first 72 bytes of the password.
func verifyBcrypt(hash, password string) (bool, error) {
	if len(hash) != 60 || hash[6] != '$' || strings.Trim(hash[7:], bcryptB64) != "" {
		return false, fmt.Errorf("%w: bcrypt", ErrMalformed)
	}
	c, err := parseDecimal(hash[4:6], 8)
	cost := int(c)
	if err != nil || cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return false, fmt.Errorf("%w: bcrypt cost", ErrMalformed)
	}
	if cost > limits.bcryptCost {
		return false, fmt.Errorf("%w: bcrypt cost %d", ErrTooExpensive, cost)
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	slowChecks.Add(1)
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
}

// CostClass names what verifying hash costs: its scheme and cost
// parameters without salt or key, e.g. "$argon2id$v=19$m=19456,t=2,p=1",
// "$2b$10" or "$6$rounds=5000". Hashes of one class take equally long to
// verify. Hashes that do not parse are "".
func CostClass(hash string) string {
	s, h, err := detect(hash)
	if err != nil {
		return ""
	}
	f := strings.Split(h, "$")
	switch s {
	case schemeArgon2id: // "", argon2id, v=19, m=..., salt, key
		if len(f) == 6 {
			return strings.Join(f[:4], "$")
		}
	case schemeBcrypt: // "", 2b, NN, salt+key
		if len(f) == 4 {
			return strings.Join(f[:3], "$")
		}
	default: // "", 6, [rounds=N,] salt, key
		if len(f) == 5 && strings.HasPrefix(f[2], "rounds=") {
			return "$6$" + f[2]
		}
		return "$6$"
	}
	return ""
}

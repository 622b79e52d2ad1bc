package auth

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
)

// SHA512-CRYPT as specified in Ulrich Drepper's "Unix crypt using SHA-256
// and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt) and
// implemented by glibc and libxcrypt crypt(3). golang.org/x/crypto has no
// implementation. Step numbers below refer to that specification.

const (
	sha512Prefix        = "$6$"
	sha512RoundsPrefix  = "rounds="
	sha512RoundsDefault = 5000
	sha512RoundsMin     = 1000
	sha512RoundsMax     = 999999999
	sha512SaltMax       = 16 // characters; longer salts are truncated
	sha512SumLen        = 86 // encoded characters of the 64-byte digest
)

// cryptB64 is the crypt(3) base64 alphabet.
const cryptB64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// sha512Setting is the parsed part of a "$6$[rounds=N$]salt[$sum]" string.
type sha512Setting struct {
	rounds int    // clamped to [sha512RoundsMin, sha512RoundsMax]
	custom bool   // "rounds=" was given, so the output repeats it
	salt   string // at most sha512SaltMax bytes, never contains '$'
	rest   string // whatever followed the salt's terminating '$'
	hasSum bool   // the salt was terminated by '$'
}

// parseSHA512Setting follows glibc: "rounds=" counts only when digits and a
// '$' follow (otherwise it is part of the salt), rounds are clamped to the
// allowed range, and the salt ends at the first '$' or after 16 bytes.
func parseSHA512Setting(s string) (sha512Setting, error) {
	rest, ok := strings.CutPrefix(s, sha512Prefix)
	if !ok {
		return sha512Setting{}, fmt.Errorf("%w: not SHA512-CRYPT", ErrMalformed)
	}
	st := sha512Setting{rounds: sha512RoundsDefault}
	if r, ok := strings.CutPrefix(rest, sha512RoundsPrefix); ok {
		num, after, found := strings.Cut(r, "$")
		if found && num != "" && strings.Trim(num, "0123456789") == "" {
			n, err := strconv.ParseUint(num, 10, 64)
			if err != nil { // overflow: glibc's strtoul saturates, then clamps
				n = sha512RoundsMax
			}
			st.rounds = int(min(max(n, sha512RoundsMin), sha512RoundsMax))
			st.custom = true
			rest = after
		}
	}
	end := strings.IndexByte(rest, '$')
	if end < 0 {
		end = len(rest)
	} else {
		st.hasSum = true
		st.rest = rest[end+1:]
	}
	st.salt = rest[:min(end, sha512SaltMax)]
	if st.hasSum && end > sha512SaltMax {
		return sha512Setting{}, fmt.Errorf("%w: SHA512-CRYPT salt longer than %d", ErrMalformed, sha512SaltMax)
	}
	return st, nil
}

// prefix returns the "$6$[rounds=N$]salt$" that crypt(3) outputs.
func (st sha512Setting) prefix() string {
	if st.custom {
		return sha512Prefix + sha512RoundsPrefix + strconv.Itoa(st.rounds) + "$" + st.salt + "$"
	}
	return sha512Prefix + st.salt + "$"
}

// sha512Crypt returns what glibc crypt(password, setting) returns for a
// "$6$" setting (a full hash works as its own setting).
func sha512Crypt(password, setting string) (string, error) {
	st, err := parseSHA512Setting(setting)
	if err != nil {
		return "", err
	}
	return st.prefix() + string(sha512CryptSum([]byte(password), []byte(st.salt), st.rounds)), nil
}

func verifySHA512Crypt(hash, password string) (bool, error) {
	st, err := parseSHA512Setting(hash)
	if err != nil {
		return false, err
	}
	if !st.hasSum || len(st.rest) != sha512SumLen || strings.Trim(st.rest, cryptB64) != "" {
		return false, fmt.Errorf("%w: SHA512-CRYPT hash", ErrMalformed)
	}
	if st.rounds > limits.sha512Rounds {
		return false, fmt.Errorf("%w: SHA512-CRYPT rounds=%d", ErrTooExpensive, st.rounds)
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	slowChecks.Add(1)
	sum := sha512CryptSum([]byte(password), []byte(st.salt), st.rounds)
	return subtle.ConstantTimeCompare(sum, []byte(st.rest)) == 1, nil
}

// sha512CryptSum computes the 86-character encoded digest (steps 1-22).
func sha512CryptSum(pw, salt []byte, rounds int) []byte {
	// Steps 4-8: digest B = SHA512(password, salt, password).
	h := sha512.New()
	h.Write(pw)
	h.Write(salt)
	h.Write(pw)
	b := h.Sum(nil)

	// Steps 1-3, 9-12: digest A.
	h.Reset()
	h.Write(pw)
	h.Write(salt)
	for n := len(pw); n > 0; n -= sha512.Size { // step 9-10
		h.Write(b[:min(n, sha512.Size)])
	}
	for n := len(pw); n > 0; n >>= 1 { // step 11: bits of len(pw), low first
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	// Steps 13-16: byte sequence P from digest DP = SHA512(password × len).
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	p := repeatTo(h.Sum(nil), len(pw))

	// Steps 17-20: byte sequence S from digest DS = SHA512(salt × (16+A[0])).
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	// Step 21: the rounds.
	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return encodeSHA512Sum(c)
}

// repeatTo returns n bytes made of copies of d (steps 16 and 20).
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += len(d) {
		copy(out[i:], d)
	}
	return out
}

// encodeSHA512Sum is step 22: the digest bytes are taken in groups of three,
// (i, i+21, i+42) rotated left by i mod 3, for i = 0..20, then the last byte
// alone; each group is emitted as 4 (last: 2) base64 characters, low 6 bits
// first.
func encodeSHA512Sum(d []byte) []byte {
	out := make([]byte, 0, sha512SumLen)
	emit := func(b2, b1, b0 byte, n int) {
		w := uint32(b2)<<16 | uint32(b1)<<8 | uint32(b0)
		for range n {
			out = append(out, cryptB64[w&0x3f])
			w >>= 6
		}
	}
	for i := range 21 {
		g := [3]byte{d[i], d[i+21], d[i+42]}
		r := i % 3
		emit(g[r], g[(r+1)%3], g[(r+2)%3], 4)
	}
	emit(0, 0, d[63], 2)
	return out
}

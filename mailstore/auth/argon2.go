package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argonParams are the argon2id cost parameters of RFC 9106 §3.1.
type argonParams struct {
	memory  uint32 // m, KiB
	time    uint32 // t, passes
	threads uint8  // p, lanes
}

// The one production setting: OWASP's first argon2id recommendation
// (Password Storage Cheat Sheet, 2024: m=19 MiB, t=2, p=1, "equivalent" to
// m=46 MiB, t=1). One Verify took 26-35 ms on a loaded 2-core test machine
// (BenchmarkVerify), against 140-250 ms for the earlier m=64 MiB, t=2, p=2,
// and costs 19 MiB while it runs. One lane: on a few cores a second lane
// only lets one login take two of them. Hashes with other parameters still
// verify (the parameters are in the PHC string); NeedsRehash reports them,
// and a successful login rehashes them (mailstore.Store.Authenticate).
var current = argonParams{memory: 19 << 10, time: 2, threads: 1}

const (
	argonSaltLen = 16 // bytes; RFC 9106 recommends 16
	argonKeyLen  = 32 // bytes
	argonPrefix  = "$argon2id$"
)

// phcB64 is the PHC string format's base64: standard alphabet, no padding.
var phcB64 = base64.RawStdEncoding.Strict()

// dummyHash has the production parameters and a fixed salt; DummyVerify
// checks passwords against it so an unknown user costs what a known one does.
var dummyHash = encodePHC(current, []byte("sealpost-dummy-s"), make([]byte, argonKeyLen))

func hashArgon2id(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt) // never fails (crypto/rand, Go ≥ 1.24)
	return encodePHC(current, salt, argonKey(password, salt, current, argonKeyLen))
}

func encodePHC(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argonPrefix, argon2.Version,
		p.memory, p.time, p.threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// argonKey runs argon2id, waiting for a free slot first (see argonSlots).
func argonKey(password string, salt []byte, p argonParams, keyLen int) []byte {
	slowChecks.Add(1)
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(keyLen))
}

// phc is a parsed "$argon2id$v=19$m=M,t=T,p=P$salt$key" string.
type phc struct {
	params    argonParams
	salt, key []byte
}

// parsePHC parses and validates an argon2id PHC string. Parameters that the
// reference implementation would refuse are ErrMalformed; parameters above
// limits are ErrTooExpensive.
func parsePHC(s string) (phc, error) {
	rest, ok := strings.CutPrefix(s, argonPrefix)
	if !ok {
		return phc{}, fmt.Errorf("%w: not argon2id", ErrMalformed)
	}
	f := strings.Split(rest, "$")
	if len(f) != 4 {
		// Version 0x10 hashes omit "v=" and are not implemented by x/crypto.
		return phc{}, fmt.Errorf("%w: argon2id: want v=, parameters, salt and hash", ErrMalformed)
	}
	v, ok := strings.CutPrefix(f[0], "v=")
	if !ok {
		return phc{}, fmt.Errorf("%w: argon2id: missing version", ErrMalformed)
	}
	if n, err := parseDecimal(v, 32); err != nil || n != argon2.Version {
		return phc{}, fmt.Errorf("%w: argon2id version %q", ErrUnknownScheme, v)
	}
	var h phc
	ps := strings.Split(f[1], ",")
	if len(ps) != 3 {
		return phc{}, fmt.Errorf("%w: argon2id: want m=,t=,p=", ErrMalformed)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		d, ok := strings.CutPrefix(ps[i], name)
		n, err := parseDecimal(d, 32)
		if !ok || err != nil {
			return phc{}, fmt.Errorf("%w: argon2id parameter %d", ErrMalformed, i+1)
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	// RFC 9106 §3.1: 1 ≤ p < 2^24, m ≥ 8p, t ≥ 1. x/crypto takes p as a uint8.
	if t < 1 || p < 1 || p > 255 || m < 8*p {
		return phc{}, fmt.Errorf("%w: argon2id parameters out of range", ErrMalformed)
	}
	if m > uint64(limits.argonMemoryKiB) || t > uint64(limits.argonTime) {
		return phc{}, fmt.Errorf("%w: argon2id m=%d,t=%d", ErrTooExpensive, m, t)
	}
	h.params = argonParams{memory: uint32(m), time: uint32(t), threads: uint8(p)}
	var err error
	if h.salt, err = phcB64.DecodeString(f[2]); err != nil || len(h.salt) < 8 || len(h.salt) > 1024 {
		return phc{}, fmt.Errorf("%w: argon2id salt", ErrMalformed)
	}
	if h.key, err = phcB64.DecodeString(f[3]); err != nil || len(h.key) < 4 || len(h.key) > 1024 {
		return phc{}, fmt.Errorf("%w: argon2id hash", ErrMalformed)
	}
	return h, nil
}

// parseDecimal parses an unsigned decimal without sign or spaces.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, bits)
}

func verifyArgon2id(hash, password string) (bool, error) {
	h, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	got := argonKey(password, h.salt, h.params, len(h.key))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// argonIsCurrent reports whether hash is an argon2id hash with exactly the
// production parameters, salt and key lengths.
func argonIsCurrent(hash string) bool {
	h, err := parsePHC(hash)
	return err == nil && h.params == current && len(h.salt) == argonSaltLen && len(h.key) == argonKeyLen
}

package auth

import (
	"strings"
	"testing"
)

// FuzzVerify: no hash, however broken, may panic Verify or NeedsRehash, and
// an error always comes with false. Work limits are lowered so the fuzzer
// spends its time on parsing, not on hashing.
func FuzzVerify(f *testing.F) {
	saved := limits
	limits = workLimits{argonMemoryKiB: 256, argonTime: 2, bcryptCost: 5, sha512Rounds: 5000}
	f.Cleanup(func() { limits = saved })

	small := argonParams{memory: 64, time: 1, threads: 2}
	salt := []byte("0123456789abcdef")
	smallArgon := encodePHC(small, salt, argonKey("pw", salt, small, argonKeyLen))
	for _, h := range []string{
		smallArgon, "{ARGON2ID}" + smallArgon, "{argon2id}" + smallArgon,
		dovecotArgon2id, dovecotBcrypt, dovecotSHA512, bcrypt2a, bcrypt2b, bcrypt2y,
		specSHA512, sha512SpecVectors[6].want, "$6$rounds=1000$$" + specSHA512[len(specSHA512)-86:],
		"$6$rounds=$x$", "$6$", "$2y$", "$argon2id$", "$argon2id$v=19$m=8,t=1,p=1$$",
		"{", "{}", "{SHA512-CRYPT}", "{PLAIN}pw", "", "$", "\x00", strings.Repeat("$", 100),
	} {
		f.Add(h, "pw")
		f.Add(h, "")
	}
	f.Add(specSHA512, "Hello world!")
	f.Fuzz(func(t *testing.T, hash, password string) {
		ok, err := Verify(hash, password)
		if err != nil && ok {
			t.Fatalf("Verify = true with error %v", err)
		}
		if err != nil && len(password) >= 8 && !strings.Contains(hash, password) &&
			strings.Contains(err.Error(), password) {
			t.Fatalf("error %q reveals the password", err)
		}
		if !NeedsRehash(hash) && err != nil {
			t.Fatalf("NeedsRehash = false for a hash Verify rejects: %v", err)
		}
	})
}

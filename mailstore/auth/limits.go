package auth

import "runtime"

// MaxPasswordLen is the longest password, in bytes, that Hash accepts and
// Verify checks (longer ones never match). SHA512-CRYPT costs time quadratic
// in the password length, so without a cap a single login with a megabyte
// "password" would burn minutes of CPU.
const MaxPasswordLen = 1024

// workLimits bounds the work a stored hash may demand in one Verify. Hashes
// are written by administrators, not attackers, but a corrupt or careless
// import must not turn every login attempt against that user into a
// multi-second (or multi-gigabyte) job that an attacker can trigger at will.
type workLimits struct {
	argonMemoryKiB uint32 // argon2id m
	argonTime      uint32 // argon2id t
	bcryptCost     int    // bcrypt log2 rounds
	sha512Rounds   int    // SHA512-CRYPT rounds after clamping
}

// limits is a variable only so the fuzz test can make it cheap.
var limits = workLimits{
	argonMemoryKiB: 256 << 10,  // 256 MiB, libsodium's "moderate" preset
	argonTime:      32,         // with 64 MiB, about a second here
	bcryptCost:     17,         // about 10 s; Dovecot's default is 5, usual 10-12
	sha512Rounds:   10_000_000, // about 10 s; the default is 5000
}

// argonSlots bounds how many argon2id computations run at once. Each one
// takes m KiB of memory and p threads; beyond a few concurrent ones the CPU
// is saturated anyway, so further logins wait here instead of allocating.
var argonSlots = make(chan struct{}, argonConcurrency())

func argonConcurrency() int {
	return min(max(runtime.GOMAXPROCS(0)/2, 2), 8)
}

package auth

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hashes made by other software, all of the password "correct horse" unless
// the test says otherwise.
const (
	// doveadm pw -s ARGON2ID (Dovecot 2.3, libsodium)
	dovecotArgon2id = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74"
	// doveadm pw -s BLF-CRYPT -r 4
	dovecotBcrypt = "{BLF-CRYPT}$2y$04$LrhXUXSx/UN76hiUO2bCauuICDsn4/kvZlGGWpCqavdVw8.tpnqeK"
	// doveadm pw -s SHA512-CRYPT
	dovecotSHA512 = "{SHA512-CRYPT}$6$3xndaDeI/zWv3Y5v$kIDb0/ASjC7YbPrhZg/tPNbBsmS.pI9HtMFagU2oGL37Qt42L3cQdHguWwQ2v6bb807MsiTfE2z3AUbT1syyM1"
	// libxcrypt crypt(3), one salt in the three bcrypt variants
	bcrypt2b = "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"
	bcrypt2y = "$2y$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"
	bcrypt2a = "$2a$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"
	// libxcrypt: bcrypt of 72 "x", and of ""
	bcrypt72x   = "$2b$04$abcdefghijklmnopqrstuubzadhGtS2zEF.gu0yd0opP6cVzb.e0i"
	bcryptEmpty = "$2b$04$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq"
	// doveadm pw -s ARGON2ID -p ''
	dovecotArgon2idEmpty = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$vM3Rddp7fRKObOgMjhAYRQ$Wh5W6sEZ1PpnHDtS0eE80+hu9Kr0JsZeJDgmLcScI68"
	// doveadm pw -s SHA512-CRYPT -p 'pässwörd €'
	dovecotSHA512Unicode = "{SHA512-CRYPT}$6$sZc6FK//XVfn034p$IJjddOruZFrfiKoFxneUV5/a79gnQkvIExECYZR73wTnlodlANi3dYqnss4fVrrKpVtzaL5BI8jU9LOfMWDw4."
	// Drepper's spec, "Hello world!"
	specSHA512 = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
)

func TestVerify(t *testing.T) {
	const pw = "correct horse"
	strip := func(s string) string { _, h, _ := strings.Cut(s, "}"); return h }
	tests := []struct {
		name, hash, password string
		want                 bool
		wantErr              error
	}{
		{"dovecot argon2id", dovecotArgon2id, pw, true, nil},
		{"dovecot argon2id wrong", dovecotArgon2id, "correct horsf", false, nil},
		{"argon2id without prefix", strip(dovecotArgon2id), pw, true, nil},
		{"argon2id empty password", dovecotArgon2idEmpty, "", true, nil},
		{"argon2id empty password wrong", dovecotArgon2idEmpty, " ", false, nil},
		{"dovecot bcrypt", dovecotBcrypt, pw, true, nil},
		{"dovecot bcrypt wrong", dovecotBcrypt, "Correct horse", false, nil},
		{"bcrypt 2b", bcrypt2b, pw, true, nil},
		{"bcrypt 2y", bcrypt2y, pw, true, nil},
		{"bcrypt 2a", bcrypt2a, pw, true, nil},
		{"bcrypt 2y wrong", bcrypt2y, "", false, nil},
		{"bcrypt uses 72 bytes", bcrypt72x, strings.Repeat("x", 80), true, nil},
		{"bcrypt empty", bcryptEmpty, "", true, nil},
		{"dovecot sha512-crypt", dovecotSHA512, pw, true, nil},
		{"dovecot sha512-crypt wrong", dovecotSHA512, pw + " ", false, nil},
		{"sha512-crypt unicode", dovecotSHA512Unicode, "pässwörd €", true, nil},
		{"sha512-crypt spec", specSHA512, "Hello world!", true, nil},
		{"sha512-crypt spec wrong", specSHA512, "Hello world", false, nil},
		{"lower-case prefix", "{sha512-crypt}" + specSHA512, "Hello world!", true, nil},
		{"too long password", specSHA512, strings.Repeat("a", MaxPasswordLen+1), false, nil},

		{"empty hash", "", pw, false, ErrUnknownScheme},
		{"plain", "{PLAIN}" + pw, pw, false, ErrUnknownScheme},
		{"ssha512", "{SSHA512}aGVsbG8=", pw, false, ErrUnknownScheme},
		{"crypt prefix", "{CRYPT}" + specSHA512, pw, false, ErrUnknownScheme},
		{"md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", pw, false, ErrUnknownScheme},
		{"sha256-crypt", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF9Ec.xR8", pw, false, ErrUnknownScheme},
		{"bcrypt 2x", "$2x$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e", pw, false, ErrUnknownScheme},
		{"argon2i", "$argon2i$v=19$m=32768,t=4,p=1$m/FsBsfZDhugcF6AC7IRAA$l+276xPJGGfAURBUeXV9nSbgiehjhKZhzJfeimHlbv4", pw, false, ErrUnknownScheme},
		{"argon2id v=16", "$argon2id$v=16$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrUnknownScheme},
		{"plain text password", pw, pw, false, ErrUnknownScheme},

		{"unterminated prefix", "{SHA512-CRYPT" + specSHA512, pw, false, ErrMalformed},
		{"prefix mismatch", "{BLF-CRYPT}" + specSHA512, pw, false, ErrMalformed},
		{"prefix with unknown hash", "{ARGON2ID}secret", pw, false, ErrMalformed},
		{"argon2id no version", "$argon2id$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id missing hash", "$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg", pw, false, ErrMalformed},
		{"argon2id extra field", strip(dovecotArgon2id) + "$", pw, false, ErrMalformed},
		{"argon2id t=0", "$argon2id$v=19$m=65536,t=0,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id p=0", "$argon2id$v=19$m=65536,t=3,p=0$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id p=256", "$argon2id$v=19$m=65536,t=3,p=256$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id m<8p", "$argon2id$v=19$m=15,t=3,p=2$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id signed m", "$argon2id$v=19$m=+65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id m overflow", "$argon2id$v=19$m=4294967296,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id params reordered", "$argon2id$v=19$t=3,m=65536,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id short salt", "$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2C$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id padded b64", "$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg==$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrMalformed},
		{"argon2id short key", "$argon2id$v=19$m=65536,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVU", pw, false, ErrMalformed},
		{"bcrypt truncated", bcrypt2b[:59], pw, false, ErrMalformed},
		{"bcrypt too long", bcrypt2b + "x", pw, false, ErrMalformed},
		{"bcrypt bad alphabet", strings.Replace(bcrypt2b, "jyd", "j+d", 1), pw, false, ErrMalformed},
		{"bcrypt cost 03", strings.Replace(bcrypt2b, "$04$", "$03$", 1), pw, false, ErrMalformed},
		{"bcrypt cost 32", strings.Replace(bcrypt2b, "$04$", "$32$", 1), pw, false, ErrMalformed},
		{"bcrypt cost not digits", strings.Replace(bcrypt2b, "$04$", "$-4$", 1), pw, false, ErrMalformed},
		{"sha512-crypt no hash", "$6$saltstring", pw, false, ErrMalformed},
		{"sha512-crypt short hash", specSHA512[:len(specSHA512)-1], pw, false, ErrMalformed},
		{"sha512-crypt bad alphabet", strings.Replace(specSHA512, "svn8", "svn+", 1), pw, false, ErrMalformed},
		{"sha512-crypt salt > 16", "$6$saltstringsaltstring$" + specSHA512[len(specSHA512)-86:], pw, false, ErrMalformed},

		{"argon2id m too big", "$argon2id$v=19$m=1048576,t=3,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrTooExpensive},
		{"argon2id t too big", "$argon2id$v=19$m=65536,t=1000,p=1$AJ7skL2CwOWHrbdtBkvCwg$sVUbNwwZjHHZOTmd5FOXuOvROH7Wr+aQ9ReEcj0sK74", pw, false, ErrTooExpensive},
		{"bcrypt cost 31", strings.Replace(bcrypt2b, "$04$", "$31$", 1), pw, false, ErrTooExpensive},
		{"sha512-crypt max rounds", "$6$rounds=999999999$saltstring$" + specSHA512[len(specSHA512)-86:], pw, false, ErrTooExpensive},
		{"sha512-crypt rounds overflow", "$6$rounds=99999999999999999999999$saltstring$" + specSHA512[len(specSHA512)-86:], pw, false, ErrTooExpensive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.hash, tt.password)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), tt.password) && tt.password != "") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHash(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("pässwörd €", MaxPasswordLen/14)} {
		h, err := Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !phcRE.MatchString(h) {
			t.Fatalf("Hash = %q, not the expected PHC form", h)
		}
		if ok, err := Verify(h, pw); !ok || err != nil {
			t.Errorf("Verify(Hash(%.10q)) = %v, %v", pw, ok, err)
		}
		if ok, err := Verify(h, pw+"x"); ok || err != nil {
			t.Errorf("Verify(Hash(%.10q), wrong) = %v, %v", pw, ok, err)
		}
		if ok, err := Verify("{ARGON2ID}"+h, pw); !ok || err != nil {
			t.Errorf("Verify({ARGON2ID}Hash(%.10q)) = %v, %v", pw, ok, err)
		}
		if NeedsRehash(h) {
			t.Errorf("NeedsRehash(Hash(%.10q)) = true", pw)
		}
	}
	if _, err := Hash(strings.Repeat("x", MaxPasswordLen+1)); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Hash(too long) error = %v, want ErrPasswordTooLong", err)
	}
}

// Hashes made with the earlier production setting (m=64 MiB, t=2, p=2)
// keep working and are reported for a rehash.
func TestEarlierParameters(t *testing.T) {
	old := argonParams{memory: 64 << 10, time: 2, threads: 2}
	salt := []byte("0123456789abcdef")
	h := encodePHC(old, salt, argonKey("pw", salt, old, argonKeyLen))
	if !strings.Contains(h, "$m=65536,t=2,p=2$") {
		t.Fatalf("unexpected form %s", h)
	}
	if ok, err := Verify(h, "pw"); !ok || err != nil {
		t.Errorf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, "pW"); ok || err != nil {
		t.Errorf("Verify(wrong) = %v, %v", ok, err)
	}
	if !NeedsRehash(h) {
		t.Error("NeedsRehash = false for the earlier parameters")
	}
}

func TestHashSalted(t *testing.T) {
	a, _ := Hash("same")
	b, _ := Hash("same")
	if a == b {
		t.Fatalf("two hashes of one password are equal: %s", a)
	}
}

func TestNeedsRehash(t *testing.T) {
	cur := encodePHC(current, []byte("0123456789abcdef"), make([]byte, argonKeyLen))
	tests := []struct {
		name, hash string
		want       bool
	}{
		{"current", cur, false},
		{"current with dovecot prefix", "{ARGON2ID}" + cur, false},
		{"other parameters", strings.TrimPrefix(dovecotArgon2id, "{ARGON2ID}"), true},
		{"more memory", strings.Replace(cur, "m=19456", "m=65536", 1), true},
		{"other time", strings.Replace(cur, "t=2", "t=3", 1), true},
		{"other lanes", strings.Replace(cur, "p=1", "p=2", 1), true},
		{"short salt", encodePHC(current, []byte("01234567"), make([]byte, argonKeyLen)), true},
		{"long key", encodePHC(current, []byte("0123456789abcdef"), make([]byte, 64)), true},
		{"bcrypt", bcrypt2y, true},
		{"sha512-crypt", specSHA512, true},
		{"unknown", "{PLAIN}x", true},
		{"malformed", "$argon2id$v=19$", true},
	}
	for _, tt := range tests {
		if got := NeedsRehash(tt.hash); got != tt.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDummyVerify checks that DummyVerify does the work of a current Verify:
// same parameters by construction, and roughly the same time.
func TestDummyVerify(t *testing.T) {
	if !argonIsCurrent(dummyHash) {
		t.Fatalf("dummyHash %q does not have the current parameters", dummyHash)
	}
	h, _ := Hash("pw")
	fastest := func(f func()) time.Duration {
		best := time.Hour
		for range 2 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := fastest(func() { Verify(h, "pw") })
	dummy := fastest(func() { DummyVerify("pw") })
	t.Logf("Verify %v, DummyVerify %v", real, dummy)
	if dummy < real/4 || dummy > real*4 {
		t.Errorf("DummyVerify takes %v, Verify %v", dummy, real)
	}
}

// TestVerifyConcurrent runs more argon2id checks than there are slots.
func TestVerifyConcurrent(t *testing.T) {
	small := argonParams{memory: 64, time: 1, threads: 1}
	salt := []byte("0123456789abcdef")
	h := encodePHC(small, salt, argonKey("pw", salt, small, argonKeyLen))
	var wg sync.WaitGroup
	for i := range 4 * cap(argonSlots) {
		wg.Go(func() {
			pw := "pw"
			if i%2 == 1 {
				pw = "wrong"
			}
			if ok, err := Verify(h, pw); ok != (i%2 == 0) || err != nil {
				t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
			}
		})
	}
	wg.Wait()
	if n := len(argonSlots); n != 0 {
		t.Errorf("%d argon2 slots still held", n)
	}
}

// BenchmarkVerify measures one login with the production setting (the
// target is well under 100 ms on a 2-core machine; 26-35 ms measured).
func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("correct horse")
	for b.Loop() {
		Verify(h, "correct horse")
	}
}

func TestCostClass(t *testing.T) {
	h, _ := Hash("pw")
	for _, c := range []struct{ hash, want string }{
		{h, "$argon2id$v=19$m=19456,t=2,p=1"},
		{"{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0$a2V5", "$argon2id$v=19$m=65536,t=2,p=2"},
		{"$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "$2b$12"},
		{"{SHA512-CRYPT}$6$rounds=10000$salt$hash", "$6$rounds=10000"},
		{"$6$salt$hash", "$6$"},
		{"{PLAIN}secret", ""},
		{"", ""},
	} {
		if got := CostClass(c.hash); got != c.want {
			t.Errorf("CostClass(%.20q) = %q, want %q", c.hash, got, c.want)
		}
	}
}

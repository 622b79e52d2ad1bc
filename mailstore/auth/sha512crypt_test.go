package auth

import (
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"
)

// The test vectors of Drepper's "Unix crypt using SHA-256 and SHA-512".
var sha512SpecVectors = []struct{ setting, password, want string }{
	{"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
}

func TestSHA512CryptSpec(t *testing.T) {
	for _, v := range sha512SpecVectors {
		got, err := sha512Crypt(v.password, v.setting)
		if err != nil || got != v.want {
			t.Errorf("crypt(%q, %q)\n got %q, %v\nwant %q", v.password, v.setting, got, err, v.want)
			continue
		}
		if ok, err := Verify(v.want, v.password); !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", v.want, ok, err)
		}
		if ok, err := Verify("{SHA512-CRYPT}"+v.want, v.password+"!"); ok || err != nil {
			t.Errorf("Verify(%q, wrong) = %v, %v", v.want, ok, err)
		}
	}
}

func TestSHA512CryptSetting(t *testing.T) {
	tests := []struct {
		setting    string
		wantPrefix string
	}{
		{"$6$", "$6$$"},
		{"$6$$", "$6$$"},
		{"$6$salt$anything", "$6$salt$"},
		{"$6$rounds=1000$salt", "$6$rounds=1000$salt$"},
		{"$6$rounds=5000$salt", "$6$rounds=5000$salt$"},
		{"$6$rounds=0001000$salt", "$6$rounds=1000$salt$"},
		{"$6$rounds=1000000000$s", "$6$rounds=999999999$s$"},
		// glibc: without digits and '$', "rounds=" is part of the salt.
		{"$6$rounds=abc$salt", "$6$rounds=abc$"},
		{"$6$rounds=12", "$6$rounds=12$"},
		{"$6$0123456789abcdefXYZ", "$6$0123456789abcdef$"},
	}
	for _, tt := range tests {
		st, err := parseSHA512Setting(tt.setting)
		if err != nil {
			t.Errorf("parse %q: %v", tt.setting, err)
			continue
		}
		if got := st.prefix(); got != tt.wantPrefix {
			t.Errorf("parse %q: prefix %q, want %q", tt.setting, got, tt.wantPrefix)
		}
	}
}

// randomPassword returns printable passwords of varied lengths, some with
// non-ASCII bytes, none with characters a shell or argv would mangle.
func randomPassword(i int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#%&()*+,-./:;<=>?@[]^_{|}~"
	n := []int{1, 7, 16, 63, 64, 65, 130, 200}[i%8]
	b := make([]byte, n)
	rand.Read(b)
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(chars[int(c)%len(chars)])
	}
	if i%3 == 0 {
		s.WriteString("ü€")
	}
	return s.String()
}

func randomSalt(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = cryptB64[int(b[i])%len(cryptB64)]
	}
	return string(b)
}

// TestSHA512CryptPython cross-checks against the system crypt(3) through
// Python's crypt module (removed in Python 3.13; skipped without it).
func TestSHA512CryptPython(t *testing.T) {
	const script = `import sys, warnings
warnings.simplefilter("ignore")
import crypt
lines = sys.stdin.read().split("\n")
for i in range(0, len(lines) - 1, 2):
    print(crypt.crypt(lines[i], lines[i+1]))
`
	if exec.Command("python3", "-c", "import warnings; warnings.simplefilter('ignore'); import crypt").Run() != nil {
		t.Skip("python3 with the crypt module not available")
	}
	var in strings.Builder
	var settings, passwords []string
	for i := range 24 {
		setting := "$6$" + randomSalt(1+i%16)
		if i%4 == 1 {
			setting = "$6$rounds=" + []string{"1000", "5000", "12345"}[i%3] + "$" + randomSalt(16)
		}
		pw := randomPassword(i)
		settings, passwords = append(settings, setting), append(passwords, pw)
		in.WriteString(pw + "\n" + setting + "\n")
	}
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(settings) {
		t.Fatalf("python3 printed %d lines, want %d", len(got), len(settings))
	}
	for i, want := range got {
		mine, err := sha512Crypt(passwords[i], settings[i])
		if err != nil || mine != want {
			t.Errorf("crypt(%q, %q)\n  libc %q\n  ours %q, %v", passwords[i], settings[i], want, mine, err)
		}
		if ok, err := Verify(want, passwords[i]); !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v", want, passwords[i], ok, err)
		}
	}
}

// TestSHA512CryptOpenSSL cross-checks against `openssl passwd -6`.
func TestSHA512CryptOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not available")
	}
	for i := range 6 {
		pw, salt := randomPassword(i), randomSalt(16)
		out, err := exec.Command("openssl", "passwd", "-6", "-salt", salt, pw).Output()
		if err != nil {
			t.Skipf("openssl passwd -6: %v", err) // LibreSSL and old OpenSSL lack -6
		}
		want := strings.TrimSpace(string(out))
		if ok, err := Verify(want, pw); !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v", want, pw, ok, err)
		}
		if ok, _ := Verify(want, pw+"x"); ok {
			t.Errorf("Verify(%q, wrong) = true", want)
		}
	}
}

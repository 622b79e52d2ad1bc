package auth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDoveadm checks hashes made by Dovecot's `doveadm pw`, the usual
// source of imported hashes (skipped without doveadm).
func TestDoveadm(t *testing.T) {
	if _, err := exec.LookPath("doveadm"); err != nil {
		t.Skip("doveadm not available")
	}
	tests := []struct{ scheme, rounds string }{
		{"SHA512-CRYPT", ""},
		{"SHA512-CRYPT", "7000"},
		{"BLF-CRYPT", "5"},
		{"ARGON2ID", ""},
	}
	for i, tt := range tests {
		pw := randomPassword(i + 1)
		args := []string{"pw", "-s", tt.scheme, "-p", pw}
		if tt.rounds != "" {
			args = append(args, "-r", tt.rounds)
		}
		out, err := exec.Command("doveadm", args...).Output()
		if err != nil {
			t.Skipf("doveadm pw -s %s: %v", tt.scheme, err)
		}
		h := strings.TrimSpace(string(out))
		if ok, err := Verify(h, pw); !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v", h, pw, ok, err)
		}
		if ok, err := Verify(h, pw[:len(pw)-1]); ok || err != nil {
			t.Errorf("Verify(%q, wrong) = %v, %v", h, ok, err)
		}
		if !NeedsRehash(h) {
			t.Errorf("NeedsRehash(%q) = false", h)
		}
	}
}

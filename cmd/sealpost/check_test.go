package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore"
)

// The check command's exit codes and report, on a real store.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	st, err := mailstore.Open(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if _, err := st.ImportUser(ctx, "ann", string(hash), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(ctx, "ann", strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	check := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"check", "--data", dir}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := check(); code != 3 || !strings.Contains(out, "in use by a running server") {
		t.Fatalf("store open: exit %d:\n%s", code, out)
	}
	st.Close()
	if code, out := check(); code != 0 || !strings.Contains(out, "checked 1 users, 6 mailboxes, 1 messages") || !strings.Contains(out, "no problems found") {
		t.Fatalf("clean store: exit %d:\n%s", code, out)
	}
	orphan := filepath.Join(dir, "users", "1", "blobs", "ab", "ab0123456789abcdef012345")
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := check(); code != 1 || !strings.Contains(out, "problem: ann: orphan-body: blobs/ab/ab0123456789abcdef012345: no record names it") ||
		!strings.Contains(out, "1 problems found, 1 can be repaired with --repair") {
		t.Fatalf("orphan: exit %d:\n%s", code, out)
	}
	if code, out := check("--repair"); code != 0 || !strings.Contains(out, "(repaired)") || !strings.Contains(out, "1 problems found, all repaired") {
		t.Fatalf("repair: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	if code, out := check("extra"); code != 2 {
		t.Fatalf("extra argument: exit %d:\n%s", code, out)
	}
	if code, out := check("--bogus"); code != 2 {
		t.Fatalf("bad flag: exit %d:\n%s", code, out)
	}
	if code, out := run([]string{"check", "--data", t.TempDir()}, nil, new(bytes.Buffer), new(bytes.Buffer)), ""; code != 3 {
		t.Fatalf("not a store: exit %d:\n%s", code, out)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sealpost/mailstore"
	"sealpost/mailstore/auth"
	"sealpost/mailstore/mailfmt"
)

const userImportUsage = `Usage: sealpost user import FILE [--dry-run] [--data DIR | --config FILE]

Adds the users of a Dovecot passwd-file
(user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields) with their
existing password hashes, so they keep their passwords:

  {ARGON2ID}, {BLF-CRYPT} (bcrypt $2a$/$2b$/$2y$), {SHA512-CRYPT} ($6$),
  and bare or {CRYPT} strings in those formats   kept as they are; upgraded
                                                 to argon2id at first login
  {PLAIN}, {CLEAR}, {CLEARTEXT}                  hashed with argon2id now
  anything else (MD5-CRYPT, SSHA, CRAM-MD5, ...) reported and skipped: set
                                                 a password with "user passwd"

"user@domain" becomes "user" (log-in names with a configured domain map
to it). A quota from a "userdb_quota_rule=*:storage=1G" (or quota_rule)
extra field is kept. Existing users are left alone. Each new user gets the
default mailboxes. --dry-run checks every line and changes nothing.
Works while "sealpost serve" runs and while it is stopped.

Exit status: 0 if every line was imported (or the user existed), 1 otherwise.

Examples:
  sealpost user import /etc/dovecot/users
  sealpost user import users.passwd --dry-run
`

func cmdUserImport(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("user import", userImportUsage, stderr)
	dry := f.Bool("dry-run", false, "check the file, change nothing")
	pos, code, ok := f.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	in, err := os.Open(pos[0])
	if err != nil {
		return fail(stderr, "user import", err)
	}
	defer in.Close()
	var admin storeAdmin
	if !*dry {
		dir, err := f.dataDir()
		if err != nil {
			return fail(stderr, "user import", err)
		}
		a, done, err := openStoreAdmin(dir)
		if err != nil {
			return fail(stderr, "user import", err)
		}
		defer done()
		admin = a
	}
	ctx := context.Background()
	var added, existed, failed int
	seen := map[string]int{}
	bad := func(line int, err error) {
		failed++
		fmt.Fprintf(stderr, "sealpost user import: %s:%d: %v\n", pos[0], line, err)
	}
	err = mailfmt.ReadPasswdFile(in, func(e mailfmt.PasswdEntry) error {
		name, hash, err := passwdUser(e)
		if err != nil {
			bad(e.Line, fmt.Errorf("%s: %w", e.User, err))
			return nil
		}
		if first, dup := seen[name]; dup {
			bad(e.Line, fmt.Errorf("%s: user %s already came from line %d", e.User, name, first))
			return nil
		}
		seen[name] = e.Line
		if *dry {
			added++
			return nil
		}
		_, err = admin.ImportUser(ctx, name, hash, e.Quota)
		switch {
		case errors.Is(err, mailstore.ErrUserExists):
			existed++
			fmt.Fprintf(stdout, "%s: exists, left alone\n", name)
		case err != nil:
			bad(e.Line, fmt.Errorf("%s: %w", e.User, err))
		default:
			added++
			fmt.Fprintf(stdout, "%s: added\n", name)
		}
		return nil
	}, bad)
	if err != nil {
		return fail(stderr, "user import", err)
	}
	verb := "added"
	if *dry {
		verb = "would add"
	}
	fmt.Fprintf(stdout, "%s %d users, %d existed, %d failed\n", verb, added, existed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// passwdUser turns a passwd-file entry into a store user name and a hash
// the store verifies, checking the hash parses (an unusable hash would
// lock the user out silently).
func passwdUser(e mailfmt.PasswdEntry) (name, hash string, err error) {
	local, _, _ := strings.Cut(e.User, "@")
	name, err = mailstore.NormalizeUser(local)
	if err != nil {
		return "", "", err
	}
	switch e.Scheme {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		if e.Hash == "" {
			return "", "", errors.New("empty password")
		}
		h, err := auth.Hash(e.Hash)
		return name, h, err
	case "ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT":
		hash = "{" + e.Scheme + "}" + e.Hash
	case "", "CRYPT":
		hash = e.Hash // a crypt(3) string: $6$, $2y$, $argon2id$ are understood
	default:
		return "", "", fmt.Errorf("password scheme {%s} cannot be verified by sealpost; set a new password with \"sealpost user passwd\"", e.Scheme)
	}
	if e.Hash == "" {
		return "", "", errors.New("empty password field")
	}
	if _, err := auth.Verify(hash, ""); err != nil {
		return "", "", fmt.Errorf("unusable password hash: %w", err)
	}
	return name, hash, nil
}

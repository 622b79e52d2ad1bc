package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sealpost/mailstore"
	"sealpost/mailstore/auth"
	"sealpost/mailstore/mailfmt"
)

func runCLI(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

// Every command and subcommand answers --help with its usage and examples,
// on stdout with status 0 (serve and deliver print flag defaults on stderr).
func TestHelpEverywhere(t *testing.T) {
	var cmds [][]string
	for _, c := range completionSpecs {
		if c.name == "help" {
			continue
		}
		cmds = append(cmds, []string{c.name, "--help"})
		if c.name == "user" || c.name == "mailbox" {
			for _, s := range c.subs {
				cmds = append(cmds, []string{c.name, s, "--help"})
			}
		}
		cmds = append(cmds, []string{"help", c.name})
	}
	for _, args := range cmds {
		out, errOut, code := runCLI(args...)
		if code != 0 {
			t.Errorf("%q: exit %d", args, code)
		}
		cmd := args[0]
		if cmd == "help" {
			cmd = args[1]
		}
		if !strings.Contains(out+errOut, "Examples:") || !strings.Contains(out+errOut, "sealpost "+cmd+" ") {
			t.Errorf("%q: no usage with examples:\n%s%s", args, out, errOut)
		}
	}
	if out, _, code := runCLI("--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("sealpost --help: %d %s", code, out)
	}
	if _, errOut, code := runCLI("import", "ann"); code != 2 || !strings.Contains(errOut, "expected 3 argument(s)") {
		t.Errorf("import with too few arguments: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI("export", "ann", "all", "/tmp/x"); code != 2 || !strings.Contains(errOut, "--format") {
		t.Errorf("export without --format: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI("import", "ann", "tar", "/x"); code != 1 || !strings.Contains(errOut, "want maildir or mbox") {
		t.Errorf("unknown import format: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI("restore", "/x"); code != 2 || !strings.Contains(errOut, "--data") {
		t.Errorf("restore without target: %d %s", code, errOut)
	}
}

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	p := newProgress(&buf, "import", 1000)
	p.nowFunc = func() time.Time { now = now.Add(time.Second); return now }
	p.start = now
	for i := 0; i < 100; i++ {
		p.add(1, 10)
	}
	p.done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 9 || !strings.HasPrefix(lines[0], "import: 10% 10 messages, 100 B of 1000 B") || !strings.HasPrefix(lines[8], "import: 90%") {
		t.Fatalf("progress lines:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("terminal control characters in plain output")
	}
	if humanBytes(1536) != "1.5 KiB" || humanBytes(3<<30) != "3.0 GiB" || humanBytes(12) != "12 B" {
		t.Error("humanBytes", humanBytes(1536), humanBytes(3<<30))
	}
}

// Dovecot passwd-file entries become users with hashes the store verifies;
// unusable ones are refused with a reason instead of locking users out.
func TestPasswdUser(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	argon, _ := auth.Hash("pw")
	// doveadm pw -s SHA512-CRYPT -p pw, and -s BLF-CRYPT, -s ARGON2ID (Dovecot 2.3.19)
	sha := "$6$CP/D8P.wQBxeoesY$mc/anbLgLmdAsdaz.rn9M12BI8CkE1zy6Gzg.CFTZ3uBfZesmZC3DYAGuE6lAolojHJOiCFQn5IkQ0Scdf7.G1"
	dovecotBcrypt := "$2y$05$XAhfGZtd2yDVBhUeU1HzweAx4dtRFS/knCJr3MzS2KXw1dGvRBIv2"
	dovecotArgon := "$argon2id$v=19$m=65536,t=3,p=1$XbQytsbQIsQLWb/MHo3lbw$5YSX3PhYkTHgIsUtBzceLtS98yKhu9FmIMms2iikfOE"
	cases := []struct {
		line     string
		name     string
		verifies bool
		err      string
	}{
		{line: "ann@example.com:{SHA512-CRYPT}" + sha + ":5000:5000::/home/ann::", name: "ann", verifies: true},
		{line: "Bob:{BLF-CRYPT}" + string(bc), name: "bob", verifies: true},
		{line: "carol:" + argon, name: "carol", verifies: true},
		{line: "dave:{CRYPT}" + sha, name: "dave", verifies: true},
		{line: "dora:{BLF-CRYPT}" + dovecotBcrypt, name: "dora", verifies: true},
		{line: "dina:{ARGON2ID}" + dovecotArgon + ":::::", name: "dina", verifies: true},
		{line: "erin:{PLAIN}pw", name: "erin", verifies: true},
		{line: "frank:{MD5-CRYPT}$1$abc$def", err: "cannot be verified"},
		{line: "gina:{SHA512-CRYPT}$6$broken", err: "unusable password hash"},
		{line: "hal:{PLAIN}", err: "empty password"},
		{line: "bad name!:{PLAIN}x", err: "invalid name"},
		{line: "ivan:$1$md5$crypt", err: "unusable password hash"},
	}
	for _, c := range cases {
		e, ok, err := mailfmt.ParsePasswdLine(c.line)
		if err != nil || !ok {
			t.Fatalf("%q: %v", c.line, err)
		}
		name, hash, err := passwdUser(e)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || name != c.name {
			t.Errorf("%q: %q %v", c.line, name, err)
			continue
		}
		if ok, err := auth.Verify(hash, "pw"); ok != c.verifies || err != nil {
			t.Errorf("%q: stored hash verifies %v, %v", c.line, ok, err)
		}
	}
}

func TestUserImportCommand(t *testing.T) {
	dir := t.TempDir()
	bc, _ := bcrypt.GenerateFromPassword([]byte("bob-pw"), bcrypt.MinCost)
	file := filepath.Join(t.TempDir(), "users")
	os.WriteFile(file, []byte("# Dovecot users\nann@example.com:{PLAIN}ann-pw:::::: userdb_quota_rule=*:storage=1G\nbob:{BLF-CRYPT}"+string(bc)+"\nann@example.org:{PLAIN}x\nzed:{SSHA}abc\n\n"), 0o600)
	if out, _, code := runCLI("user", "import", file, "--dry-run", "--data", dir); code != 1 || !strings.Contains(out, "would add 2 users, 0 existed, 2 failed") {
		t.Fatalf("dry run: %d %s", code, out)
	}
	out, errOut, code := runCLI("user", "import", file, "--data", dir)
	if code != 1 || !strings.Contains(out, "added 2 users, 0 existed, 2 failed") || !strings.Contains(errOut, ":4: ann@example.org: user ann already came from line 2") || !strings.Contains(errOut, ":5: zed: password scheme {SSHA}") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	if out, _, _ := runCLI("user", "import", file, "--data", dir); !strings.Contains(out, "ann: exists, left alone") {
		t.Errorf("second import: %s", out)
	}
	st, err := mailstore.Open(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Authenticate(bg, "bob", "bob-pw"); err != nil {
		t.Errorf("bob cannot log in with his old password: %v", err)
	}
	if u, err := st.Authenticate(bg, "ann", "ann-pw"); err != nil || u.Quota != 1<<30 {
		t.Errorf("ann: %+v %v", u, err)
	}
	if _, err := st.LookupUser(bg, "zed"); !errors.Is(err, mailstore.ErrNoSuchUser) {
		t.Errorf("zed imported: %v", err)
	}
}

func TestCheckConfigCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("data_dir = \"/var/lib/sealpost\"\n[imap]\nlisten = \"0.0.0.0:143\"\n"), 0o600)
	if out, _, code := runCLI("check-config", good); code != 0 || !strings.Contains(out, "good.toml: ok") || !strings.Contains(out, "0.0.0.0:143 (STARTTLS)") {
		t.Errorf("good config: %d %s", code, out)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("hostname = \"x\"\n\n[imap]\nlisten = \"0.0.0.0:143\"\nlistn = \"typo\"\n"), 0o600)
	if _, errOut, code := runCLI("check-config", bad); code != 1 || !strings.Contains(errOut, "line 5") || !strings.Contains(errOut, "imap.listn") {
		t.Errorf("unknown key: %d %s", code, errOut)
	}
	syntax := filepath.Join(dir, "syntax.toml")
	os.WriteFile(syntax, []byte("hostname = \"x\"\nlog_level = \n"), 0o600)
	if _, errOut, code := runCLI("check-config", syntax); code != 1 || !strings.Contains(errOut, "line 2") {
		t.Errorf("syntax error: %d %s", code, errOut)
	}
	tlsBad := filepath.Join(dir, "tls.toml")
	os.WriteFile(tlsBad, []byte("[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n"), 0o600)
	if _, errOut, code := runCLI("check-config", tlsBad); code != 1 || !strings.Contains(errOut, "tls.cert/tls.key") {
		t.Errorf("missing certificate: %d %s", code, errOut)
	}
	if _, _, code := runCLI("check-config", filepath.Join(dir, "missing.toml")); code != 1 {
		t.Errorf("missing file: %d", code)
	}
}

// The bash completion script runs in bash and completes commands,
// subcommands, flags and flag values.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, _, code := runCLI("completion", "bash")
	if code != 0 {
		t.Fatal(code)
	}
	cases := []struct {
		words string
		want  string
	}{
		{"sealpost im", "import"},
		{"sealpost user im", "import"},
		{"sealpost mailbox ", "list create delete"},
		{"sealpost export ann all --fo", "--format"},
		{"sealpost export ann all --format ", "maildir mbox"},
		{"sealpost import ann ", "maildir mbox"},
		{"sealpost completion ", "bash zsh fish"},
		{"sealpost stats --j", "--json"},
	}
	for _, c := range cases {
		sh := script + "\nCOMP_WORDS=(" + c.words + ")\n"
		if strings.HasSuffix(c.words, " ") {
			sh += "COMP_WORDS+=('')\n"
		}
		sh += "COMP_CWORD=$((${#COMP_WORDS[@]}-1))\n_sealpost\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "-c", sh).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%q: %q %v, want %q", c.words, out, err, c.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		s, _, code := runCLI("completion", shell)
		if code != 0 || !strings.Contains(s, "import") {
			t.Errorf("%s completion: %d", shell, code)
		}
		if _, err := exec.LookPath(shell); err == nil {
			if out, err := exec.Command(shell, "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("%s rejects its completion script: %v %s", shell, err, out)
			}
		}
	}
}

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Admin CLI behaviour that needs no mail: config checking, the systemd
// unit, progress output, shell completion.

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	good := write("good.toml", "data_dir = \"/var/lib/sealpost\"\ndomains = [\"example.com\"]\n\n[pop3]\nlisten = \"\"\n")
	if out, code := sealpost(t, "", "check-config", good); code != 0 || !strings.Contains(out, "good.toml: ok") || !strings.Contains(out, "pop3       off (STLS)") {
		t.Errorf("valid config: exit %d: %s", code, out)
	}
	for _, c := range []struct{ body, want string }{
		{"hostname = \"x\"\n\n[imap]\nlisten = \"0.0.0.0:143\"\nlistne = \"x\"\n", `line 5: imap.listne: unknown key`},
		{"log_level = \"loud\"\n", "log_level"},
		{"[imap]\nlisten = \"no port\"\n", "imap.listen"},
		{"data_dir = \n", "line 1"},
		{"[tls]\ncert = \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\n", "tls.cert/tls.key"},
	} {
		p := write("bad.toml", c.body)
		if out, code := sealpost(t, "", "check-config", p); code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%q: exit %d, want 1 and %q: %s", c.body, code, c.want, out)
		}
	}
	// The shipped example is valid apart from its certificate paths.
	example := filepath.Join("..", "cmd", "sealpost", "sealpost.example.toml")
	if out, code := sealpost(t, "", "check-config", example); code != 1 || !strings.Contains(out, "tls.cert/tls.key") {
		t.Errorf("example config: exit %d: %s", code, out)
	}
}

// systemd accepts the unit and rates its hardening "OK" or better.
func TestSystemdUnit(t *testing.T) {
	needTool(t, "systemd-analyze")
	b, err := os.ReadFile(filepath.Join("..", "cmd", "sealpost", "dist", "sealpost.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "sealpost.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sealpost", binary)), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", unit).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0: %v\n%s", err, out)
	}
	t.Log(lines[len(lines)-1])
}

// On a terminal, import draws a progress bar; into a pipe or a log it
// prints plain lines instead.
func TestProgressOutput(t *testing.T) {
	needTool(t, "script")
	s := Start(t, Config{})
	s.AddUser("ann", "ann-pw")
	dir := t.TempDir()
	var mbox strings.Builder
	for i := 0; i < 50; i++ {
		mbox.WriteString("From a Mon Jan  5 09:01:02 2026\nSubject: m\n\n" + strings.Repeat("some text\n", 500) + "\n")
	}
	p := filepath.Join(dir, "in.mbox")
	os.WriteFile(p, []byte(mbox.String()), 0o600)
	// script(1) runs the command on a pseudo-terminal.
	out, err := exec.Command("script", "-qec", binary+" import ann mbox "+p+" --data "+s.Data, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "\r\x1b[K") || !strings.Contains(string(out), "[=") || !strings.Contains(string(out), "100% 50 messages") {
		t.Errorf("no progress bar on a terminal:\n%q", out)
	}
	plain, code := sealpost(t, "", "import", "ann", "mbox", p, "--data", s.Data)
	if code != 0 || strings.Contains(plain, "\r") || !strings.Contains(plain, "import: 50% ") || !strings.Contains(plain, "imported 50 messages") {
		t.Errorf("plain progress:\n%s", plain)
	}
}

// The bash completion script works in a real bash.
func TestCompletionScript(t *testing.T) {
	needTool(t, "bash")
	script := mustSealpost(t, "completion", "bash")
	sh := script + "\nCOMP_WORDS=(sealpost backup --da); COMP_CWORD=2; _sealpost; echo \"${COMPREPLY[*]}\"\n"
	out, err := exec.Command("bash", "-c", sh).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "--data" {
		t.Errorf("completion of backup --da: %q %v", out, err)
	}
}

package pop3d

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// poplibScript drives the server with Python's poplib, a real client: STLS
// on the plain port, then implicit TLS, each with USER/PASS, STAT, RETR,
// UIDL and QUIT. The CA file verifies the server certificate.
const poplibScript = `
import poplib, ssl, sys
host, plain, implicit, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)

def session(p, label):
    p.user("ann")
    p.pass_("secret")
    count, size = p.stat()
    resp, lines, octets = p.retr(2)
    uidl = p.uidl()[1]
    p.quit()
    print(label, count, size, octets, b"|".join(lines).decode(), b",".join(uidl).decode())

p = poplib.POP3(host, plain, timeout=10)
caps = p.capa()
assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
try:
    p.user("ann")
    raise SystemExit("USER accepted without TLS")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.stls(context=ctx)
caps = p.capa()
assert "USER" in caps and "STLS" not in caps, caps
session(p, "stls")

session(poplib.POP3_SSL(host, implicit, context=ctx, timeout=10), "implicit")
`

func TestPythonPoplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required in CI (.ci/run installs it)")
		}
		t.Skip("python3 not installed")
	}
	e := startServer(t)
	script := writeTemp(t, "client.py", []byte(poplibScript))
	cafile := writeTemp(t, "ca.pem", e.pki.caPEM)
	_, plainPort, _ := strings.Cut(e.plain, ":")
	_, implicitPort, _ := strings.Cut(e.implicit, ":")
	out, err := exec.Command(py, script, "127.0.0.1", plainPort, implicitPort, cafile).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib client failed: %v\n%s", err, out)
	}
	// RETR 2 is dot-stuffed on the wire; poplib undoes it, and its octet
	// count (lines + CRLFs after un-stuffing) equals LIST's 50.
	body := "Subject: two||.leading dot|..two dots|.|end"
	uidl := "1 6553f10000000001,2 6553f10000000002,3 6553f10000000003"
	want := "stls 3 145 50 " + body + " " + uidl + "\nimplicit 3 145 50 " + body + " " + uidl + "\n"
	if string(out) != want {
		t.Fatalf("poplib output:\n%s\nwant:\n%s", out, want)
	}
}

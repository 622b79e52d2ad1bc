package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveExit runs `sealpost serve` with the given extra arguments on free
// ports in a fresh data dir and expects it to exit by itself: it returns
// the output and the exit code. A server that keeps running fails the
// test.
func serveExit(t *testing.T, data string, extra ...string) (string, int) {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	args := append([]string{"serve", "--data", data,
		"--imap", freePort(t), "--imaps", freePort(t), "--pop3", freePort(t), "--pop3s", freePort(t),
		"--lmtp", "", "--lmtp-socket", filepath.Join(data, "lmtp.sock")}, extra...)
	cmd := exec.Command(binary, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("sealpost serve kept running:\n%s", out.String())
		return "", 0
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSigned returns a PEM certificate for key and the PEM of key.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// serve refuses to start, with a clear message and a non-zero exit, when
// the configured certificate is unusable: it never falls back to serving
// without it (or with a generated one).
func TestServeRefusesUnusableCertificate(t *testing.T) {
	certA, keyA := selfSigned(t)
	_, keyB := selfSigned(t)
	tests := []struct {
		name       string
		cert, key  string // file contents; "" means the file does not exist
		wantInText string
	}{
		{"garbage PEM", "this is not a certificate\n", "neither is this a key\n", "certificate"},
		{"cert and key do not match", certA, keyB, "certificate"},
		{"key missing", certA, "", "key"},
		{"good pair", certA, keyA, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			cert, key := filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")
			if tc.cert != "" {
				writeFile(t, d, "cert.pem", tc.cert)
			}
			if tc.key != "" {
				writeFile(t, d, "key.pem", tc.key)
			}
			cfg := writeFile(t, d, "sealpost.toml", "[tls]\ncert = \""+cert+"\"\nkey = \""+key+"\"\n")
			if tc.wantInText == "" {
				// The control case: the same set-up with a good pair runs.
				s := Start(t, Config{Extra: []string{"--config", cfg}})
				s.AddUser("ann", "ann-password")
				return
			}
			out, code := serveExit(t, "", "--config", cfg)
			if code == 0 {
				t.Fatalf("exit 0 with an unusable certificate:\n%s", out)
			}
			if !strings.Contains(out, "sealpost serve: certificate:") || !strings.Contains(out, tc.wantInText) {
				t.Fatalf("exit %d, unclear message:\n%s", code, out)
			}
			if strings.Contains(out, "listening on") {
				t.Fatalf("listened before refusing:\n%s", out)
			}
		})
	}
}

// serve refuses to start when a listen address is taken, and when another
// server already uses the data directory.
func TestServeRefusesTakenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	out, code := serveExit(t, "", "--pop3s", taken)
	if code == 0 || !strings.Contains(out, "cannot listen on "+taken) || !strings.Contains(out, "address already in use") {
		t.Fatalf("taken address: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "sealpost ready") {
		t.Fatalf("reported ready before failing:\n%s", out)
	}

	s := Start(t, Config{})
	out, code = serveExit(t, s.Data)
	if code == 0 || !strings.Contains(out, "in use by another process") {
		t.Fatalf("second server on the same data dir: exit %d:\n%s", code, out)
	}
	// The running server is unharmed.
	s.AddUser("ann", "ann-password")
	s.LoginIMAPS(t, "ann", "ann-password")
}

// An unknown config key (also as a dotted key) stops serve with an error
// that names the key and its line.
func TestServeConfigErrors(t *testing.T) {
	tests := []struct {
		doc, want string
	}{
		{"hostname = \"localhost\"\n\n[tls]\nkye = \"x\"\n", "line 4: tls.kye: unknown key"},
		{"hostname = \"localhost\"\ntls.kye = \"x\"\n", "line 2: tls.kye: unknown key"},
		{"[limits]\nmax_message_size = \"lots\"\n", "line 2: limits.max_message_size: bad size"},
		{"\n[lmtp]\nrecipient_delimiter = \"@\"\n", "line 3: lmtp.recipient_delimiter:"},
	}
	for _, tc := range tests {
		cfg := writeFile(t, t.TempDir(), "sealpost.toml", tc.doc)
		out, code := serveExit(t, "", "--config", cfg)
		if code == 0 || !strings.Contains(out, "config "+cfg+": "+tc.want) {
			t.Errorf("exit %d, want an error naming %q:\n%s", code, tc.want, out)
		}
	}
	out, code := serveExit(t, "", "--imap", "no-port")
	if code == 0 || !strings.Contains(out, "--imap: bad address") {
		t.Errorf("bad --imap: exit %d:\n%s", code, out)
	}
}

// The control socket lets anyone who can connect administer users, so
// only the server's own user may: mode 0600.
func TestControlSocketMode(t *testing.T) {
	s := Start(t, Config{})
	fi, err := os.Lstat(filepath.Join(s.Data, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control.sock: mode %v, want a socket with 0600", fi.Mode())
	}
}

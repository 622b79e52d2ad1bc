package certs

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sealpost/certs/certstest"
)

func newManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// writeExpired writes a pair that expired yesterday.
func writeExpired(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	certPEM, keyPEM, err := selfSigned(wantedNames(""), now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, certPEM, keyPEM)
}

func writePEM(t *testing.T, dir string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestNewLoadsPair(t *testing.T) {
	certFile, keyFile, _ := certstest.WritePair(t, t.TempDir(), "mail.example.org", "192.0.2.1")
	m := newManager(t, Options{CertFile: certFile, KeyFile: keyFile})
	leaf := m.Leaf()
	if !slices.Equal(leaf.DNSNames, []string{"mail.example.org"}) || len(leaf.IPAddresses) != 1 {
		t.Errorf("leaf names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "mail.example.org"})
	if err != nil || c.Leaf != leaf {
		t.Errorf("GetCertificate = %v, %v", c, err)
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	goodCert, goodKey, _ := certstest.WritePair(t, mkdir(t, dir, "a"))
	_, otherKey, _ := certstest.WritePair(t, mkdir(t, dir, "b"))
	expCert, expKey := writeExpired(t, mkdir(t, dir, "expired"))
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name     string
		opts     Options
		wantIs   error
		wantText string // the error names this file
	}{
		{"missing certificate", Options{CertFile: missing, KeyFile: goodKey}, os.ErrNotExist, missing},
		{"missing key", Options{CertFile: goodCert, KeyFile: missing}, os.ErrNotExist, missing},
		{"mismatched key", Options{CertFile: goodCert, KeyFile: otherKey}, nil, goodCert},
		{"expired", Options{CertFile: expCert, KeyFile: expKey}, ErrExpired, expCert},
		{"garbage certificate", Options{CertFile: garbage, KeyFile: goodKey}, nil, garbage},
		{"key as certificate", Options{CertFile: goodKey, KeyFile: goodKey}, nil, goodKey},
		{"only CertFile", Options{CertFile: goodCert}, ErrConfig, ""},
		{"only KeyFile", Options{KeyFile: goodKey}, ErrConfig, ""},
		{"nothing to load or generate", Options{}, ErrConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.opts)
			if err == nil {
				t.Fatalf("New succeeded with leaf %v", m.Leaf().Subject)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %s", err, tt.wantText)
			}
		})
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	m := newManager(t, Options{GenerateDir: dir, Hostname: "Mail.Example.org."})
	leaf := m.Leaf()

	for name, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "key.pem"): 0o600} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "mail.example.org"}) {
		t.Errorf("DNS names %v", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1"}) {
		t.Errorf("IP addresses %v", ips)
	}
	if leaf.Subject.CommonName != "mail.example.org" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v", leaf.SerialNumber)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("key usage %v, ext %v", leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	now := time.Now()
	if leaf.NotBefore.After(now.Add(-59*time.Minute)) || leaf.NotAfter.Before(now.Add(364*24*time.Hour)) {
		t.Errorf("validity %v .. %v", leaf.NotBefore, leaf.NotAfter)
	}
	for _, host := range []string{"localhost", "mail.example.org", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%s): %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(leaf), DNSName: "localhost"}); err != nil {
		t.Errorf("self-signed leaf does not verify against itself: %v", err)
	}

	// The next start reuses the pair, also via Reload.
	m2 := newManager(t, Options{GenerateDir: dir, Hostname: "mail.example.org"})
	if !m2.Leaf().Equal(leaf) {
		t.Error("second New generated a new certificate instead of reusing")
	}
	if err := m2.Reload(); err != nil || !m2.Leaf().Equal(leaf) {
		t.Errorf("Reload: %v, reused %v", err, m2.Leaf().Equal(leaf))
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestGenerateRenews(t *testing.T) {
	near := func(t *testing.T, dir string) {
		now := time.Now()
		c, k, err := selfSigned(wantedNames(""), now.Add(-time.Hour), now.Add(10*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, dir, c, k)
	}
	tests := []struct {
		name     string
		prepare  func(t *testing.T, dir string)
		hostname string
		reuse    bool
	}{
		{"reuse", func(t *testing.T, dir string) { newManager(t, Options{GenerateDir: dir}) }, "", true},
		{"hostname added", func(t *testing.T, dir string) { newManager(t, Options{GenerateDir: dir}) }, "mx.example.org", false},
		{"hostname changed", func(t *testing.T, dir string) { newManager(t, Options{GenerateDir: dir, Hostname: "a.example"}) }, "b.example", false},
		{"IP hostname", func(t *testing.T, dir string) { newManager(t, Options{GenerateDir: dir}) }, "192.0.2.7", false},
		{"near expiry", near, "", false},
		{"expired", func(t *testing.T, dir string) { writeExpired(t, dir) }, "", false},
		{"corrupt", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("x"), 0o600) }, "", false},
		{"key missing", func(t *testing.T, dir string) {
			newManager(t, Options{GenerateDir: dir})
			os.Remove(filepath.Join(dir, "key.pem"))
		}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			before, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
			m := newManager(t, Options{GenerateDir: dir, Hostname: tt.hostname})
			after, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
			if reused := string(before) == string(after); reused != tt.reuse {
				t.Errorf("reused = %v, want %v", reused, tt.reuse)
			}
			if tt.hostname != "" {
				if err := m.Leaf().VerifyHostname(tt.hostname); err != nil {
					t.Error(err)
				}
			}
			if m.Leaf().NotAfter.Sub(time.Now()) < 300*24*time.Hour {
				t.Errorf("certificate in use expires %v", m.Leaf().NotAfter)
			}
		})
	}
}

// echoServer serves cfg on a loopback port, echoing lines.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// roundTrip checks that c still carries data both ways.
func roundTrip(t *testing.T, c *tls.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

func TestTLSConfig(t *testing.T) {
	certFile, keyFile, roots := certstest.WritePair(t, t.TempDir())
	m := newManager(t, Options{CertFile: certFile, KeyFile: keyFile})
	cfg := m.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	for _, id := range cfg.CipherSuites {
		s := tls.CipherSuiteName(id)
		if !strings.HasPrefix(s, "TLS_ECDHE_") || !(strings.Contains(s, "_GCM_") || strings.Contains(s, "CHACHA20")) {
			t.Errorf("weak suite %s", s)
		}
	}
	addr := echoServer(t, cfg)
	_, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name     string
		min, max uint16
		suites   []uint16
		server   string // ServerName; empty: verify the dialled IP
		ok       bool
	}{
		{"TLS 1.0 refused", tls.VersionTLS10, tls.VersionTLS10, nil, "localhost", false},
		{"TLS 1.1 refused", tls.VersionTLS10, tls.VersionTLS11, nil, "localhost", false},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, nil, "localhost", true},
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, "localhost", true},
		{"TLS 1.2 CBC only refused", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, "localhost", false},
		{"TLS 1.2 ChaCha20", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, "localhost", true},
		{"verifies by IP", tls.VersionTLS12, tls.VersionTLS13, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(t, net.JoinHostPort("127.0.0.1", port), &tls.Config{
				MinVersion: tt.min, MaxVersion: tt.max, CipherSuites: tt.suites,
				RootCAs: roots, ServerName: tt.server,
			})
			if (err == nil) != tt.ok {
				t.Fatalf("handshake error %v, want success %v", err, tt.ok)
			}
			if err != nil {
				return
			}
			st := c.ConnectionState()
			if st.Version != tt.max {
				t.Errorf("version %x, want %x", st.Version, tt.max)
			}
			if !slices.Contains(cipherSuites, st.CipherSuite) && st.Version == tls.VersionTLS12 {
				t.Errorf("suite %s", tls.CipherSuiteName(st.CipherSuite))
			}
			roundTrip(t, c)
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, roots1 := certstest.WritePair(t, dir)
	m := newManager(t, Options{CertFile: certFile, KeyFile: keyFile})
	addr := echoServer(t, m.TLSConfig())
	old, err := dial(t, addr, &tls.Config{RootCAs: roots1, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	serial1 := old.ConnectionState().PeerCertificates[0].SerialNumber

	_, _, roots2 := certstest.WritePair(t, dir)
	if err := m.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	serial2 := m.Leaf().SerialNumber
	if serial2.Cmp(serial1) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	c, err := dial(t, addr, &tls.Config{RootCAs: roots2, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("dial after reload: %v", err)
	}
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(serial2) != 0 {
		t.Errorf("new connection got serial %x, want %x", got, serial2)
	}
	roundTrip(t, c)
	roundTrip(t, old) // established before the reload, still working

	// Bad replacements: Reload fails, the last good pair keeps serving.
	goodCert, _ := os.ReadFile(certFile)
	goodKey, _ := os.ReadFile(keyFile)
	otherDir := t.TempDir()
	_, otherKey, _ := certstest.WritePair(t, otherDir)
	expCert, expKey := writeExpired(t, t.TempDir())
	bad := []struct {
		name      string
		cert, key string // files to copy over the pair; "" keeps the good one
		remove    bool
	}{
		{"mismatched key", "", otherKey, false},
		{"expired", expCert, expKey, false},
		{"garbage", "/dev/null", "", false},
		{"removed", "", "", true},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			writePEM(t, dir, goodCert, goodKey)
			if b.cert != "" {
				copyFile(t, b.cert, certFile)
			}
			if b.key != "" {
				copyFile(t, b.key, keyFile)
			}
			if b.remove {
				os.Remove(certFile)
			}
			if err := m.Reload(); err == nil {
				t.Fatal("Reload accepted a bad pair")
			}
			if m.Leaf().SerialNumber.Cmp(serial2) != 0 {
				t.Fatal("bad reload replaced the certificate")
			}
			c, err := dial(t, addr, &tls.Config{RootCAs: roots2, ServerName: "localhost"})
			if err != nil {
				t.Fatalf("dial after failed reload: %v", err)
			}
			roundTrip(t, c)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWantedNames(t *testing.T) {
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
	tests := []struct {
		hostname string
		dns      []string
		ips      []netip.Addr
	}{
		{"", []string{"localhost"}, lo},
		{"localhost", []string{"localhost"}, lo},
		{"MX.Example.ORG.", []string{"localhost", "mx.example.org"}, lo},
		{"192.0.2.7", []string{"localhost"}, append(slices.Clone(lo[:1]), netip.MustParseAddr("192.0.2.7"), lo[1])},
		{"[2001:db8::1]", []string{"localhost"}, append(slices.Clone(lo), netip.MustParseAddr("2001:db8::1"))},
		{"127.0.0.1", []string{"localhost"}, lo},
	}
	for _, tt := range tests {
		n := wantedNames(tt.hostname)
		if !slices.Equal(n.dns, tt.dns) || !slices.Equal(n.ips, tt.ips) {
			t.Errorf("wantedNames(%q) = %v %v, want %v %v", tt.hostname, n.dns, n.ips, tt.dns, tt.ips)
		}
	}
}

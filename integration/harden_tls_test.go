package integration

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// testCert is a self-signed certificate for localhost and 127.0.0.1.
type testCert struct {
	certPEM, keyPEM []byte
	der             []byte
}

func (c testCert) fingerprint() string { return fingerprint(c.der) }

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

func genCert(t *testing.T, rsaKey bool, cn string) testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
		der:     der,
	}
}

// tlsEndpoint is a way to reach TLS on the server.
type tlsEndpoint struct {
	name     string
	addr     func(s *Server) string
	starttls string // "" (implicit TLS), "imap" or "pop3": the plaintext upgrade first
}

var tlsEndpoints = []tlsEndpoint{
	{"imaps", func(s *Server) string { return s.IMAPS }, ""},
	{"pop3s", func(s *Server) string { return s.POP3S }, ""},
	{"imap STARTTLS", func(s *Server) string { return s.IMAP }, "imap"},
	{"pop3 STLS", func(s *Server) string { return s.POP3 }, "pop3"},
}

// handshake connects to e and runs the TLS handshake with conf.
func (e tlsEndpoint) handshake(s *Server, conf *tls.Config) (tls.ConnectionState, error) {
	nc, err := net.DialTimeout("tcp", e.addr(s), 5*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	switch e.starttls {
	case "imap":
		r := newWireIMAP(nil, nc)
		if _, err := r.readLineWithin(5 * time.Second); err != nil {
			return tls.ConnectionState{}, err
		}
		if _, st, err := r.do("STARTTLS"); err != nil || !strings.HasPrefix(st, "OK") {
			return tls.ConnectionState{}, fmt.Errorf("STARTTLS: %q %v", st, err)
		}
	case "pop3":
		p := newWirePOP(nil, nc)
		if _, err := p.readLine(5 * time.Second); err != nil {
			return tls.ConnectionState{}, err
		}
		if st, err := p.do("STLS"); err != nil || !strings.HasPrefix(st, "+OK") {
			return tls.ConnectionState{}, fmt.Errorf("STLS: %q %v", st, err)
		}
	}
	tc := tls.Client(nc, conf)
	err = tc.Handshake()
	return tc.ConnectionState(), err
}

// controlServer is a deliberately permissive local TLS server: a client
// configuration that fails against sealpost must succeed here, or the
// check proves nothing.
func controlServer(t *testing.T, cert testCert, suites []uint16, minV uint16) (addr string) {
	t.Helper()
	kp, err := tls.X509KeyPair(cert.certPEM, cert.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}, CipherSuites: suites, MinVersion: minV})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

func controlHandshake(addr string, conf *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err == nil {
		c.Close()
	}
	return err
}

// TLS 1.2 and 1.3 only, AEAD suites with ECDHE only, on all four TLS entry
// points, checked with Go clients (each also checked against a permissive
// control server, so a refusal is the server's) and with openssl.
func TestHardenTLSVersionsAndSuites(t *testing.T) {
	rsaCert := genCert(t, true, "rsa.localhost")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, rsaCert.certPEM, 0o644)
	os.WriteFile(keyFile, rsaCert.keyPEM, 0o600)
	// An RSA certificate, so that RSA key exchange and ECDHE_RSA CBC
	// suites would be possible if the server allowed them.
	s := startConfig(t, fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n", certFile, keyFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rsaCert.certPEM)
	base := func() *tls.Config { return &tls.Config{RootCAs: pool, ServerName: "localhost"} }

	weak := []struct {
		name   string
		suites []uint16
		maxV   uint16
	}{
		{"TLS 1.0", nil, tls.VersionTLS10},
		{"TLS 1.1", nil, tls.VersionTLS11},
		{"TLS 1.2 CBC-SHA (ECDHE)", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}, tls.VersionTLS12},
		{"TLS 1.2 CBC-SHA256 (ECDHE)", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}, tls.VersionTLS12},
		{"TLS 1.2 RSA key exchange, GCM", []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}, tls.VersionTLS12},
		{"TLS 1.2 RSA key exchange, CBC", []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256}, tls.VersionTLS12},
		{"TLS 1.2 3DES", []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}, tls.VersionTLS12},
		{"TLS 1.2 RC4", []uint16{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA}, tls.VersionTLS12},
	}
	refused := 0
	for _, w := range weak {
		conf := base()
		conf.MinVersion, conf.MaxVersion, conf.CipherSuites = tls.VersionTLS10, w.maxV, w.suites
		ctl := controlServer(t, rsaCert, w.suites, tls.VersionTLS10)
		if err := controlHandshake(ctl, conf.Clone()); err != nil {
			t.Logf("%-32s not testable with Go's client (control server: %v)", w.name, err)
			continue
		}
		for _, e := range tlsEndpoints {
			st, err := e.handshake(s, conf.Clone())
			if err == nil {
				t.Errorf("%s: %s accepted (%s, %s)", e.name, w.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				continue
			}
			refused++
		}
		t.Logf("%-32s refused on all 4 entry points (the control server accepts it)", w.name)
	}

	// What is accepted: every allowed suite alone, and the defaults.
	good := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	accepted := 0
	for _, e := range tlsEndpoints {
		var got []string
		for _, cs := range good {
			conf := base()
			conf.MaxVersion, conf.CipherSuites = tls.VersionTLS12, []uint16{cs}
			st, err := e.handshake(s, conf)
			if err != nil || st.CipherSuite != cs {
				t.Errorf("%s: TLS 1.2 %s refused: %v", e.name, tls.CipherSuiteName(cs), err)
				continue
			}
			accepted++
			got = append(got, tls.CipherSuiteName(cs))
		}
		for _, maxV := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			conf := base()
			conf.MaxVersion = maxV
			st, err := e.handshake(s, conf)
			if err != nil || st.Version != maxV {
				t.Errorf("%s: default client up to %s: %v (got %s)", e.name, tls.VersionName(maxV), err, tls.VersionName(st.Version))
				continue
			}
			accepted++
			got = append(got, fmt.Sprintf("default %s: %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
		}
		t.Logf("%-14s negotiates %s", e.name, strings.Join(got, "; "))
	}

	// openssl: -tls1 and -tls1_1 refused, -tls1_2 and -tls1_3 accepted,
	// on every entry point.
	if _, err := exec.LookPath("openssl"); err != nil {
		needTool(t, "openssl")
		return
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, rsaCert.certPEM, 0o644)
	sslClient := func(addr, flag, starttls string) (bool, string) {
		args := []string{"s_client", "-connect", addr, flag, "-CAfile", ca, "-verify_return_error",
			"-servername", "localhost", "-cipher", "ALL:@SECLEVEL=0"}
		if starttls != "" {
			args = append(args, "-starttls", starttls)
		}
		cmd := exec.Command("openssl", args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return err == nil && bytes.Contains(out, []byte("Verify return code: 0 (ok)")) && !bytes.Contains(out, []byte("Cipher is (NONE)")), string(out)
	}
	// Control: this openssl can speak TLS 1.0 and 1.1 at all.
	ctl := controlServer(t, rsaCert, nil, tls.VersionTLS10)
	for _, flag := range []string{"-tls1", "-tls1_1"} {
		if ok, out := sslClient(ctl, flag, ""); !ok {
			t.Fatalf("openssl %s fails against the permissive control server, so it cannot test the refusal:\n%s", flag, lastLines(out, 8))
		}
	}
	for _, e := range tlsEndpoints {
		var res []string
		for _, v := range []struct {
			flag string
			ok   bool
		}{{"-tls1", false}, {"-tls1_1", false}, {"-tls1_2", true}, {"-tls1_3", true}} {
			ok, out := sslClient(e.addr(s), v.flag, e.starttls)
			if ok != v.ok {
				t.Errorf("%s: openssl s_client %s: handshake ok=%v, want %v:\n%s", e.name, v.flag, ok, v.ok, lastLines(out, 8))
			}
			cipher := "refused"
			if ok {
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, ", Cipher is ") {
						cipher = strings.TrimSpace(l)
					}
				}
				accepted++
			} else {
				refused++
			}
			res = append(res, v.flag+": "+cipher)
		}
		t.Logf("%-14s openssl %s", e.name, strings.Join(res, "; "))
	}
	t.Logf("TLS quality: %d weak handshakes refused, %d good ones accepted", refused, accepted)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// writeAtomic replaces path with data through a rename, as certbot does.
func writeAtomic(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writeInPlace overwrites path with data padded to its current size and
// gives it back its modification time, so the server's file watcher
// (identity, size, mtime) cannot see the change: only SIGHUP can.
func writeInPlace(t *testing.T, path string, data []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) > fi.Size() {
		t.Fatalf("%s: new content (%d bytes) larger than the old (%d)", path, len(data), fi.Size())
	}
	data = append(data, bytes.Repeat([]byte("\n"), int(fi.Size())-len(data))...)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// certOf returns the fingerprint of the certificate e presents now.
func certOf(s *Server, e tlsEndpoint, pool *x509.CertPool) (string, error) {
	st, err := e.handshake(s, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		return "", err
	}
	return fingerprint(st.PeerCertificates[0].Raw), nil
}

// waitCert polls until every endpoint presents want, or fails after d.
func waitCert(t *testing.T, s *Server, pool *x509.CertPool, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, e := range tlsEndpoints {
		for {
			got, err := certOf(s, e, pool)
			if err == nil && got == want {
				break
			}
			if time.Since(start) > d {
				t.Fatalf("%s still presents %s (%v) after %s, want %s", e.name, got, err, d, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// The certificate is reloaded on SIGHUP and when its files change, under
// live connections, which keep working; a bad new certificate is refused
// with a log line and the current one stays.
func TestHardenTLSReload(t *testing.T) {
	certs := map[string]testCert{}
	pool := x509.NewCertPool()
	for _, n := range []string{"A", "B", "C"} {
		certs[n] = genCert(t, false, "cert-"+n)
		pool.AppendCertsFromPEM(certs[n].certPEM)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Padded, so that B fits in A's files for the in-place rewrite.
	pad := func(b []byte, n int) []byte { return append(b, bytes.Repeat([]byte("\n"), n-len(b))...) }
	os.WriteFile(certFile, pad(certs["A"].certPEM, 2048), 0o644)
	os.WriteFile(keyFile, pad(certs["A"].keyPEM, 1024), 0o600)
	s := startConfig(t, fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n", certFile, keyFile))
	s.AddUser("ann", "ann-pw")
	if codes := lmtpSend(t, "tcp", s.LMTP, "x@example.org", []string{"ann@localhost"}, testMessage("reload", "reload-body")); codes["ann@localhost"] != 250 {
		t.Fatal(codes)
	}
	waitCert(t, s, pool, certs["A"].fingerprint(), time.Second)

	// Live connections, opened under A.
	c, err := imapclient.DialTLS(s.IMAPS, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann", "ann-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	p, err := dialPOP3(userIP, s.POP3S, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if st, _ := p.do("USER ann"); !strings.HasPrefix(st, "+OK") {
		t.Fatal(st)
	}
	if st, _ := p.do("PASS ann-pw"); !strings.HasPrefix(st, "+OK") {
		t.Fatal(st)
	}
	stillWorking := func(when string) {
		t.Helper()
		if err := c.Noop().Wait(); err != nil {
			t.Errorf("%s: IMAP NOOP on the old connection: %v", when, err)
		}
		sec := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
		if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].FindBodySection(sec)), "reload-body") {
			t.Errorf("%s: IMAP FETCH on the old connection: %v", when, err)
		}
		if st, err := p.do("STAT"); err != nil || !strings.HasPrefix(st, "+OK 1 ") {
			t.Errorf("%s: POP3 STAT on the old connection: %q %v", when, st, err)
		}
	}

	// 1. SIGHUP alone: B is written in place, invisible to the watcher.
	writeInPlace(t, keyFile, certs["B"].keyPEM)
	writeInPlace(t, certFile, certs["B"].certPEM)
	if got, _ := certOf(s, tlsEndpoints[0], pool); got != certs["A"].fingerprint() {
		t.Fatalf("certificate changed without SIGHUP: %s", got)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	d := waitCert(t, s, pool, certs["B"].fingerprint(), 3*time.Second)
	// B was loaded because of the signal, not by the watcher.
	log := s.Log()
	hup := strings.Index(log, `msg="SIGHUP: reloading certificate"`)
	loadB := strings.Index(log, "serial="+certSerial(t, certs["B"]))
	if hup < 0 || loadB < hup {
		t.Errorf("B was not loaded after the SIGHUP log line (SIGHUP at %d, load at %d)", hup, loadB)
	}
	t.Logf("SIGHUP: new connections on all 4 entry points present B after %s", d.Round(time.Millisecond))
	stillWorking("after SIGHUP")

	// 2. Files replaced (rename), no signal: the watcher reloads.
	writeAtomic(t, keyFile, certs["C"].keyPEM, 0o600)
	writeAtomic(t, certFile, certs["C"].certPEM, 0o644)
	d = waitCert(t, s, pool, certs["C"].fingerprint(), 8*time.Second)
	t.Logf("file replace: new connections present C after %s", d.Round(time.Millisecond))
	stillWorking("after file replace")

	// 3. Bad new certificates, then SIGHUP: garbage PEM, and A's
	// certificate with C's key. C stays, and the log says why.
	for i, bad := range []struct {
		name string
		cert []byte
	}{
		{"garbage PEM", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")},
		{"certificate not matching the key", certs["A"].certPEM},
	} {
		writeAtomic(t, certFile, bad.cert, 0o644)
		s.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(8 * time.Second)
		for countLog(s.Log(), "certificate reload failed, keeping the current one") < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no log line about the failed reload", bad.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, e := range tlsEndpoints {
			if got, err := certOf(s, e, pool); err != nil || got != certs["C"].fingerprint() {
				t.Errorf("%s: after %s, new connections get %s (%v), want C", e.name, bad.name, got, err)
			}
		}
		stillWorking("after " + bad.name)
	}
	for _, l := range strings.Split(s.Log(), "\n") {
		if _, e, ok := strings.Cut(l, "certificate reload failed, keeping the current one"); ok {
			_, e, _ = strings.Cut(e, " err=")
			t.Logf("server log: reload failed, kept C: %s", e)
		}
	}
}

// certSerial is the serial as the server logs it (hex).
func certSerial(t *testing.T, c testCert) string {
	x, err := x509.ParseCertificate(c.der)
	if err != nil {
		t.Fatal(err)
	}
	return x.SerialNumber.Text(16)
}

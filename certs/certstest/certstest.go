package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// defaultHosts are the names of every certificate unless WritePair is given
// others.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// New generates a throwaway self-signed certificate for localhost, 127.0.0.1
// and ::1 and returns a server configuration that presents it (TLS 1.2 or
// newer) and a client configuration that trusts it. The client's ServerName
// is "localhost", so it verifies whichever loopback address it dials, and
// tls.Client (STARTTLS) works without further setup.
func New(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	certPEM, keyPEM := generate(t, defaultHosts)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool(t, certPEM), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return server, client
}

// WritePair generates a fresh self-signed pair for hosts (DNS names or IP
// addresses; none: localhost, 127.0.0.1, ::1) and writes it to dir/cert.pem
// and dir/key.pem (key mode 0600). Each file is replaced atomically, so a
// second call on the same dir simulates a certificate renewal. It returns the
// file names and a pool that trusts the new certificate.
func WritePair(t testing.TB, dir string, hosts ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	certPEM, keyPEM := generate(t, hosts)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Key first, like a renewal tool; a reader in between sees a mismatch.
	writeAtomic(t, keyFile, keyPEM, 0o600)
	writeAtomic(t, certFile, certPEM, 0o644)
	return certFile, keyFile, pool(t, certPEM)
}

func generate(t testing.TB, hosts []string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Sealpost test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func pool(t testing.TB, certPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(certPEM) {
		t.Fatal("certstest: cannot add certificate to pool")
	}
	return p
}

func writeAtomic(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	if err := os.Chmod(tmp, perm); err != nil { // WriteFile's perm is masked by umask
		t.Fatalf("certstest: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("certstest: %v", err)
	}
}

package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// validity of a generated certificate; it is renewed renewBefore expiry.
const validity = 365 * 24 * time.Hour

// names are the subject alternative names of a generated certificate.
type names struct {
	dns []string     // sorted
	ips []netip.Addr // sorted
}

// wantedNames: localhost, 127.0.0.1, ::1 and hostname (as DNS name or IP).
func wantedNames(hostname string) names {
	n := names{dns: []string{"localhost"}, ips: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}}
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(hostname), "."))
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		n.ips = append(n.ips, ip.Unmap().WithZone(""))
	} else if h != "" {
		n.dns = append(n.dns, h)
	}
	slices.Sort(n.dns)
	n.dns = slices.Compact(n.dns)
	slices.SortFunc(n.ips, netip.Addr.Compare)
	n.ips = slices.Compact(n.ips)
	return n
}

// namesOf returns a certificate's SANs in the same normal form.
func namesOf(c *x509.Certificate) names {
	var n names
	for _, d := range c.DNSNames {
		n.dns = append(n.dns, strings.ToLower(d))
	}
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			n.ips = append(n.ips, a.Unmap())
		}
	}
	slices.Sort(n.dns)
	slices.SortFunc(n.ips, netip.Addr.Compare)
	return n
}

func (n names) equal(o names) bool {
	return slices.Equal(n.dns, o.dns) && slices.Equal(n.ips, o.ips)
}

// loadOrGenerate reuses the pair in GenerateDir if it loads, has more than
// renewBefore left and carries the wanted names; otherwise it writes a new one.
func (m *Manager) loadOrGenerate(now time.Time) (*tls.Certificate, error) {
	c, err := loadPair(m.certFile, m.keyFile, now)
	switch {
	case err == nil && c.Leaf.NotAfter.Sub(now) <= renewBefore:
		m.log.Info("self-signed certificate near expiry, generating a new one", "not_after", c.Leaf.NotAfter)
	case err == nil && !namesOf(c.Leaf).equal(m.names):
		m.log.Info("host names changed, generating a new self-signed certificate")
	case err == nil:
		return c, nil
	case errors.Is(err, fs.ErrNotExist): // os.IsNotExist does not see through loadPair's wrapping
		m.log.Info("no certificate configured, generating a self-signed one", "dir", m.opts.GenerateDir)
	default:
		m.log.Warn("stored self-signed certificate unusable, generating a new one", "err", err)
	}
	if err := os.MkdirAll(m.opts.GenerateDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	certPEM, keyPEM, err := selfSigned(m.names, now.Add(-time.Hour), now.Add(validity))
	if err != nil {
		return nil, err
	}
	// Key first: a crash in between leaves a mismatched pair, which the next
	// start regenerates, never a new certificate with a stale key.
	if err := writeFileAtomic(m.keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(m.certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	return loadPair(m.certFile, m.keyFile, now)
}

// selfSigned makes a self-signed ECDSA P-256 server certificate for n, after
// crypto/tls/generate_cert.go: 128-bit random serial, ServerAuth, digital
// signature only.
func selfSigned(n names, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: serial: %w", err)
	}
	cn := "localhost"
	if len(n.dns) > 1 { // a Hostname was given
		cn = slices.DeleteFunc(slices.Clone(n.dns), func(s string) bool { return s == "localhost" })[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Sealpost self-signed"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              n.dns,
	}
	for _, ip := range n.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFileAtomic writes data to a temporary file in path's directory with
// mode perm, syncs it and renames it over path, so readers see the old or
// the new content, never a mix, and the key is never world-readable.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // created 0600
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("certs: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // persist the rename; best effort
		d.Sync()
		d.Close()
	}
	return nil
}

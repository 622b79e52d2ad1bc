package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors returned (wrapped, with the file name) by New and Reload.
var (
	// ErrExpired: the certificate's NotAfter has passed.
	ErrExpired = errors.New("certs: certificate expired")
	// ErrConfig: the Options are inconsistent.
	ErrConfig = errors.New("certs: invalid options")
)

// Options configure a Manager.
type Options struct {
	// CertFile and KeyFile name a PEM certificate (chain, leaf first) and its
	// private key. Both empty: use or generate a self-signed pair in
	// GenerateDir. Only one set is an error.
	CertFile, KeyFile string
	// GenerateDir keeps the generated self-signed cert.pem and key.pem
	// (directory created 0700, key 0600). The pair is reused on the next
	// start while it has more than 30 days left and its names still match.
	// Required when CertFile and KeyFile are empty.
	GenerateDir string
	// Hostname is added to the names of a generated certificate, besides
	// localhost, 127.0.0.1 and ::1 (as an IP address if it is one).
	Hostname string
	// Logger receives load, reload and failure messages; nil: discard.
	Logger *slog.Logger
	// PollInterval is how often Watch checks the files for changes; zero:
	// 5s; negative: never (SIGHUP only).
	PollInterval time.Duration
}

// renewBefore is how much validity a generated certificate must have left
// to be reused; with less, it is regenerated.
const renewBefore = 30 * 24 * time.Hour

// Manager holds the current certificate. It is safe for concurrent use.
type Manager struct {
	opts              Options
	log               *slog.Logger
	certFile, keyFile string // the files in use, configured or generated
	generated         bool
	names             names // of a generated certificate

	cur atomic.Pointer[tls.Certificate] // Leaf always set

	mu    sync.Mutex // serialises loads; guards stamp
	stamp pairStamp  // the files as last loaded (or tried)

	hup chan os.Signal // SIGHUP, registered by New
}

// New loads the configured pair, or reuses or generates the self-signed one.
// It fails if the configured pair is unusable (missing, unreadable, key not
// matching, expired), naming the file.
//
// From New on, SIGHUP no longer terminates the process: it is queued for
// Watch, which reloads. Registering here rather than in Watch leaves no
// window at startup in which a SIGHUP kills the server.
func New(opts Options) (*Manager, error) {
	m := &Manager{opts: opts, log: opts.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.opts.PollInterval == 0 {
		m.opts.PollInterval = 5 * time.Second
	}
	switch {
	case (opts.CertFile == "") != (opts.KeyFile == ""):
		return nil, fmt.Errorf("%w: CertFile and KeyFile must be set together", ErrConfig)
	case opts.CertFile != "":
		m.certFile, m.keyFile = opts.CertFile, opts.KeyFile
	case opts.GenerateDir == "":
		return nil, fmt.Errorf("%w: no CertFile/KeyFile and no GenerateDir", ErrConfig)
	default:
		m.generated = true
		m.certFile = filepath.Join(opts.GenerateDir, "cert.pem")
		m.keyFile = filepath.Join(opts.GenerateDir, "key.pem")
		m.names = wantedNames(opts.Hostname)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return nil, err
	}
	m.hup = make(chan os.Signal, 1)
	signal.Notify(m.hup, syscall.SIGHUP)
	return m, nil
}

// GetCertificate returns the current certificate; it is the
// tls.Config.GetCertificate of TLSConfig.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cur.Load(), nil
}

// Leaf returns the current leaf certificate.
func (m *Manager) Leaf() *x509.Certificate {
	return m.cur.Load().Leaf
}

// Reload re-reads the files (for a generated pair: reuses it, or generates a
// new one when it is near expiry or its names changed). On failure the
// current certificate stays in use; the error is logged and returned.
func (m *Manager) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		m.log.Error("certificate reload failed, keeping the current one",
			"cert", m.certFile, "serial", serialHex(m.Leaf()), "err", err)
		return err
	}
	return nil
}

// loadLocked loads (or generates) the pair and makes it current.
func (m *Manager) loadLocked() error {
	now := time.Now()
	// Stat before reading: a change while we read then shows up as a change
	// at the next poll instead of being missed.
	stamp := statPair(m.certFile, m.keyFile)
	var c *tls.Certificate
	var err error
	if m.generated {
		c, err = m.loadOrGenerate(now)
		stamp = statPair(m.certFile, m.keyFile) // we may have just written them
	} else {
		c, err = loadPair(m.certFile, m.keyFile, now)
	}
	m.stamp = stamp
	if err != nil {
		return err
	}
	if !m.generated {
		m.checkKeyMode()
		if left := c.Leaf.NotAfter.Sub(now); left < 14*24*time.Hour {
			m.log.Warn("certificate expires soon", "cert", m.certFile, "not_after", c.Leaf.NotAfter)
		}
	}
	m.cur.Store(c)
	m.log.Info("certificate loaded", "cert", m.certFile, "subject", c.Leaf.Subject.String(),
		"dns", c.Leaf.DNSNames, "ip", c.Leaf.IPAddresses, "serial", serialHex(c.Leaf),
		"not_after", c.Leaf.NotAfter, "self_signed", m.generated)
	return nil
}

// loadPair reads and checks a PEM certificate and key.
func loadPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: key: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s with key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil { // set by X509KeyPair since Go 1.23, unless x509keypairleaf=0
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: %s: %w", certFile, err)
		}
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("%w: %s (not after %s)", ErrExpired, certFile, c.Leaf.NotAfter.Format(time.RFC3339))
	}
	if now.Before(c.Leaf.NotBefore) {
		return nil, fmt.Errorf("certs: %s is not valid before %s", certFile, c.Leaf.NotBefore.Format(time.RFC3339))
	}
	return &c, nil
}

// checkKeyMode warns about a private key readable by other users.
func (m *Manager) checkKeyMode() {
	if fi, err := os.Stat(m.keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		m.log.Warn("private key is readable by other users", "key", m.keyFile, "mode", fi.Mode().Perm().String())
	}
}

func serialHex(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return c.SerialNumber.Text(16)
}

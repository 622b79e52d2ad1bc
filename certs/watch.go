package certs

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Watch reloads the certificate on SIGHUP and when the certificate or key
// file changes (checked every PollInterval by identity, size and mtime, so
// both in-place writes and rename-replacement are seen). A generated
// certificate is also renewed when it comes within 30 days of expiry. Reload
// failures are logged and the current certificate stays. Watch returns when
// ctx is done; SIGHUP then regains its default action (terminate) unless
// something else in the process handles it.
func (m *Manager) Watch(ctx context.Context) {
	signal.Notify(m.hup, syscall.SIGHUP) // again, in case an earlier Watch stopped it
	defer signal.Stop(m.hup)
	var tick <-chan time.Time
	if m.opts.PollInterval > 0 {
		t := time.NewTicker(m.opts.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.hup:
			m.log.Info("SIGHUP: reloading certificate")
			m.Reload()
		case <-tick:
			if m.changed(time.Now()) {
				m.Reload()
			}
		}
	}
}

// changed reports whether the files differ from when they were last loaded,
// or a generated certificate needs renewal.
func (m *Manager) changed(now time.Time) bool {
	cur := statPair(m.certFile, m.keyFile)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !cur.equal(m.stamp) {
		return true
	}
	return m.generated && m.Leaf().NotAfter.Sub(now) <= renewBefore
}

// pairStamp identifies the certificate and key files' contents without
// reading them.
type pairStamp [2]os.FileInfo // nil where stat failed

func statPair(certFile, keyFile string) pairStamp {
	var s pairStamp
	for i, name := range []string{certFile, keyFile} {
		if fi, err := os.Stat(name); err == nil {
			s[i] = fi
		}
	}
	return s
}

func (s pairStamp) equal(o pairStamp) bool {
	for i := range s {
		a, b := s[i], o[i]
		if a == nil || b == nil {
			if a != b {
				return false
			}
			continue
		}
		if !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			return false
		}
	}
	return true
}

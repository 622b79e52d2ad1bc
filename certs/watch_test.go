package certs

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sealpost/certs/certstest"
)

// startWatch runs m.Watch until the test ends.
func startWatch(t *testing.T, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Watch(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})
}

// waitSerial waits until m serves a certificate with serial want.
func waitSerial(t *testing.T, m *Manager, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.Leaf().SerialNumber.Cmp(want) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("serial still %x, want %x", m.Leaf().SerialNumber, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serialOf(t *testing.T, certFile string) *big.Int {
	t.Helper()
	c, err := loadPair(certFile, filepath.Join(filepath.Dir(certFile), "key.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber
}

func TestWatchPolls(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := certstest.WritePair(t, dir)
	m := newManager(t, Options{CertFile: certFile, KeyFile: keyFile, PollInterval: 10 * time.Millisecond})
	startWatch(t, m)

	certstest.WritePair(t, dir) // replaced by rename
	waitSerial(t, m, serialOf(t, certFile))

	// Rewritten in place (same inode): still noticed.
	fresh := t.TempDir()
	c2, k2, _ := certstest.WritePair(t, fresh)
	for _, f := range [][2]string{{k2, keyFile}, {c2, certFile}} {
		b, _ := os.ReadFile(f[0])
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := serialOf(t, certFile)
	waitSerial(t, m, want)

	// A broken replacement is logged and ignored; the pair keeps serving.
	os.WriteFile(certFile, []byte("broken"), 0o600)
	time.Sleep(100 * time.Millisecond)
	if m.Leaf().SerialNumber.Cmp(want) != 0 {
		t.Fatal("broken file replaced the certificate")
	}
}

func TestWatchSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := certstest.WritePair(t, dir)
	// No polling: only the signal can trigger the reload. New has already
	// registered for SIGHUP, so the signal cannot kill the test even if it
	// arrives before Watch runs.
	m := newManager(t, Options{CertFile: certFile, KeyFile: keyFile, PollInterval: -1})
	certstest.WritePair(t, dir)
	want := serialOf(t, certFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	startWatch(t, m)
	waitSerial(t, m, want)

	// Again, with Watch already running.
	certstest.WritePair(t, dir)
	want = serialOf(t, certFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, m, want)
}

func TestWatchRenewsGenerated(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Options{GenerateDir: dir, PollInterval: 10 * time.Millisecond})
	// As if the server had been running for eleven months: the pair in use
	// (and on disk) has 10 days left, and the files have not changed since.
	now := time.Now()
	certPEM, keyPEM, err := selfSigned(wantedNames(""), now.Add(-time.Hour), now.Add(10*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEM(t, dir, certPEM, keyPEM)
	m.mu.Lock()
	old, err := loadPair(certFile, keyFile, now)
	if err != nil {
		t.Fatal(err)
	}
	m.cur.Store(old)
	m.stamp = statPair(certFile, keyFile)
	m.mu.Unlock()
	first := old.Leaf.SerialNumber
	startWatch(t, m)
	deadline := time.Now().Add(10 * time.Second)
	for m.Leaf().SerialNumber.Cmp(first) == 0 || m.Leaf().NotAfter.Before(time.Now().Add(300*24*time.Hour)) {
		if time.Now().After(deadline) {
			t.Fatal("near-expiry certificate not renewed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

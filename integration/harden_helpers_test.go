package integration

// Helpers for the hardening tests. They speak IMAP and POP3 with the wire
// clients (wire_imap_test.go, wire_pop3_test.go) from chosen loopback
// source addresses, to play attacker and victim.

import (
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Source addresses. The server sees 127.0.0.1 for ordinary clients.
const (
	userIP     = "127.0.0.1"
	attackerIP = "127.0.0.2"
)

// startConfig starts the server with a config file holding toml (the
// harness flags still choose data dir and listeners).
func startConfig(t testing.TB, toml string, extra ...string) *Server {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sealpost.toml")
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Start(t, Config{Extra: append([]string{"--config", p}, extra...)})
}

// raiseNOFILE lifts the soft open-file limit to the hard one; the server,
// a child process, inherits it. (Go raises its own soft limit at start
// but restores the original for children unless the program sets it.)
func raiseNOFILE(t testing.TB, want uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < want {
		t.Skipf("RLIMIT_NOFILE hard limit %d < %d", rl.Max, want)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
}

func saslPlain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// waitClosed reports how long the server took to close nc (read EOF or
// reset), or false if it was still open after max.
func waitClosed(nc net.Conn, max time.Duration) (time.Duration, bool) {
	start := time.Now()
	nc.SetReadDeadline(start.Add(max))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return time.Since(start), false
		}
		return time.Since(start), true
	}
}

// percentile returns the p-th percentile (0-100) of ds, sorted in place.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds) - 1) * p / 100
	return ds[i]
}

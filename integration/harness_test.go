// Package integration drives the real sealpost binary from outside with
// real clients: go-imap's client, go-smtp's LMTP client, swaks, curl and
// Python's imaplib/poplib.
package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sealpost-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sealpost")
	cmd := exec.Command("go", "build", "-race", "-o", binary, "sealpost/cmd/sealpost")
	if os.Getenv("SEALPOST_NORACE") != "" {
		cmd = exec.Command("go", "build", "-o", binary, "sealpost/cmd/sealpost")
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sealpost:", err)
		os.Exit(1)
	}
	// A -race binary sleeps 1 s at exit by default (ThreadSanitizer's
	// atexit_sleep_ms): every Stop and CLI call would pay it.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a running `sealpost serve` on free loopback ports.
type Server struct {
	t                        testing.TB
	Data                     string
	IMAP, IMAPS, POP3, POP3S string // host:port
	LMTP                     string // TCP host:port
	Socket                   string // LMTP unix socket
	extra                    []string
	cmd                      *exec.Cmd
	log                      *syncBuffer
	exited                   chan struct{}
}

// Config selects what Start runs. The zero value runs everything.
type Config struct {
	Data  string   // reuse a data dir (restart); empty: a new temp dir
	Extra []string // more flags for serve
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs the server and waits until every listener accepts.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{t: t, Data: cfg.Data, extra: cfg.Extra}
	if s.Data == "" {
		s.Data = t.TempDir()
	}
	s.Socket = filepath.Join(s.Data, "lmtp.sock")
	// freePort releases the port before the server binds it, so another
	// process can take it in between: pick new ports and try again.
	for try := 0; ; try++ {
		s.IMAP, s.IMAPS, s.POP3, s.POP3S, s.LMTP = freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
		if err := s.tryStart(); err == nil {
			break
		} else if try == 4 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) tryStart() error {
	args := append([]string{"serve", "--data", s.Data,
		"--imap", s.IMAP, "--imaps", s.IMAPS, "--pop3", s.POP3, "--pop3s", s.POP3S,
		"--lmtp", s.LMTP, "--lmtp-socket", s.Socket, "--log-level", "debug"}, s.extra...)
	s.log = &syncBuffer{}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	// until polls ok until it holds, the server dies or the deadline passes.
	until := func(what string, ok func() bool) error {
		for !ok() {
			select {
			case <-s.exited:
				return fmt.Errorf("sealpost serve exited:\n%s", s.log.String())
			default:
			}
			if time.Now().After(deadline) {
				s.cmd.Process.Kill()
				<-s.exited
				return fmt.Errorf("sealpost did not %s:\n%s", what, s.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	for _, a := range []string{s.LMTP, s.IMAP, s.IMAPS, s.POP3, s.POP3S} {
		err := until("listen on "+a, func() bool {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	// The control socket comes after the mail ports; "ready" after it.
	return until("get ready", func() bool { return strings.Contains(s.log.String(), "sealpost ready") })
}

// Stop ends the server gracefully (SIGTERM); it is safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("sealpost did not stop on SIGTERM")
	}
	if s.t.Failed() {
		s.t.Logf("server log:\n%s", s.log.String())
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts the server again on the same ports and data.
func (s *Server) Restart() {
	s.Stop()
	s.start()
}

// Log returns everything the server printed so far.
func (s *Server) Log() string { return s.log.String() }

// Sealpost runs a sealpost subcommand against this server's data dir.
func (s *Server) Sealpost(stdin string, args ...string) (string, int) {
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return string(out), code
}

// AddUser creates a user through the CLI.
func (s *Server) AddUser(name, password string) {
	s.t.Helper()
	out, code := s.Sealpost(password+"\n", "user", "add", name, "--password-stdin", "--data", s.Data)
	if code != 0 {
		s.t.Fatalf("user add %s: exit %d: %s", name, code, out)
	}
}

// TLSConfig trusts the server's generated self-signed certificate.
func (s *Server) TLSConfig() *tls.Config {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.Data, "tls", "cert.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("bad generated certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// CAFile returns the path of the server's certificate, for curl and Python.
func (s *Server) CAFile() string { return filepath.Join(s.Data, "tls", "cert.pem") }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (install it in .ci/run)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

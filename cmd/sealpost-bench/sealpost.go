// sealpost.go: building and running the Sealpost under test: a fresh
// temporary data directory, free loopback ports, users created with
// `sealpost user add --password-stdin`, stopped with SIGTERM at the end.

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sealpostServer is a `sealpost serve` child process.
type sealpostServer struct {
	bin, dir           string
	ownDir             bool
	imaps, pop3s, lmtp string
	pass               string
	cmd                *exec.Cmd
	logFile            *os.File
	exited             chan struct{}
	version            string
	maxConns           int // [limits] max_connections it runs with
}

// connsPerIPLimit is Sealpost's max_connections_per_ip in the bench: above
// the connsPerSource connections the bench opens from each address, and
// the many clients that all come from 127.0.0.1.
const connsPerIPLimit = 1000

// buildSealpost compiles ./cmd/sealpost of the module the bench is run
// from into dir.
func buildSealpost(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sealpost")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "sealpost/cmd/sealpost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build sealpost/cmd/sealpost (run from the Sealpost module, or pass -sealpost): %v\n%s", err, out)
	}
	return bin, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startSealpost runs bin on a fresh data dir (under parent, or a new temp
// dir) with IMAPS, POP3S and TCP LMTP on free ports, and creates users.
// Its connection caps are raised so that maxConns connections (the conns
// workload) fit: the defaults (2,000, and 100 per address) protect a real
// server, not a benchmark.
func startSealpost(ctx context.Context, bin, parent string, users []string, maxConns int, logf func(string, ...any)) (*sealpostServer, error) {
	s := &sealpostServer{bin: bin, exited: make(chan struct{})}
	var err error
	if parent == "" {
		s.dir, err = os.MkdirTemp("", "sealpost-bench-")
		s.ownDir = true
	} else {
		s.dir = filepath.Join(parent, "sealpost")
		err = os.MkdirAll(s.dir, 0o700)
	}
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 12)
	rand.Read(pw)
	s.pass = hex.EncodeToString(pw)
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		s.version = strings.TrimSpace(string(out))
	}
	for _, p := range []*string{&s.imaps, &s.pop3s, &s.lmtp} {
		if *p, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	s.logFile, err = os.Create(filepath.Join(s.dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	cfg := filepath.Join(s.dir, "sealpost.toml")
	s.maxConns = max(2000, maxConns+1000) // room for the warm-up and the other workloads' clients
	doc := fmt.Sprintf("# written by sealpost-bench\n[limits]\nmax_connections = %d\nmax_connections_per_ip = %d\n", s.maxConns, connsPerIPLimit)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		return nil, err
	}
	// RLIMIT_NOFILE was raised in this process with syscall.Setrlimit;
	// the child inherits it (Go only restores the original soft limit for
	// children when the program never called Setrlimit itself).
	s.cmd = exec.Command(bin, "serve", "--config", cfg, "--data", data,
		"--imap", "", "--imaps", s.imaps, "--pop3", "", "--pop3s", s.pop3s,
		"--lmtp", s.lmtp, "--lmtp-socket", "", "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	logf("sealpost: pid %d, data %s, IMAPS %s POP3S %s LMTP %s", s.cmd.Process.Pid, data, s.imaps, s.pop3s, s.lmtp)
	if err := s.addUsers(ctx, data, users); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *sealpostServer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range []string{s.lmtp, s.imaps, s.pop3s} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exited:
				return fmt.Errorf("sealpost serve exited: %s", s.logTail())
			case <-ctx.Done():
				return ctx.Err()
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("sealpost did not listen on %s within 30s: %s", a, s.logTail())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// addUsers runs `sealpost user add NAME --password-stdin` for each user,
// a few at a time (through the running server's control socket; each one
// hashes the password with argon2id).
func (s *sealpostServer) addUsers(ctx context.Context, data string, users []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 4)
	)
	for _, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, s.bin, "user", "add", u, "--password-stdin", "--data", data)
			cmd.Stdin = strings.NewReader(s.pass + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("sealpost user add %s: %v: %s", u, err, bytes.TrimSpace(out))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (s *sealpostServer) logTail() string {
	b, _ := os.ReadFile(s.logFile.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop sends SIGTERM (SIGKILL after 15 s) and removes the data dir it
// created unless keep is set.
func (s *sealpostServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(15 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
}

// Remove deletes the data directory (after Stop).
func (s *sealpostServer) Remove() {
	if s.ownDir {
		os.RemoveAll(s.dir)
	} else {
		os.RemoveAll(filepath.Join(s.dir, "data"))
	}
}

// Alive reports an error if the server exited.
func (s *sealpostServer) Alive() error {
	select {
	case <-s.exited:
		return errors.New("sealpost exited: " + s.logTail())
	default:
		return nil
	}
}

func (s *sealpostServer) target() (*target, error) {
	pem, err := os.ReadFile(filepath.Join(s.dir, "data", "tls", "cert.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("sealpost: unusable generated certificate")
	}
	pid := s.cmd.Process.Pid
	return &target{
		name: nameSealpost, imaps: s.imaps, pop3s: s.pop3s, lmtp: s.lmtp, pass: s.pass,
		tls:        &tls.Config{RootCAs: pool, ServerName: "localhost"},
		pids:       func() []int { return []int{pid} },
		pidsTTL:    time.Hour,
		hwmPID:     pid,
		rcptDomain: "localhost",
		describe: fmt.Sprintf("%s, %s, pid %d, fsync on every commit (always), max_connections %d (%d per address)",
			s.version, s.bin, pid, s.maxConns, connsPerIPLimit),
	}, nil
}

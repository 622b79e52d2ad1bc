package lmtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliver measures LMTP delivery: 4 KB messages over 1 and 16
// concurrent connections (each connection reuses its session, as Postfix's
// LMTP client does), and a 20 MB message, spread over 50 users. Every 250
// is durable (fsync on). The client sends each message dot-stuffed in
// advance in one write and waits for every reply (go-smtp's client
// dot-stuffs byte by byte, slower than the server at 20 MB).
//
// By default it runs against an in-process Sealpost inlet. To measure
// another server with the very same client code, e.g. the Dovecot peer
// from ../shared/peers (users user1..user50):
//
//	BENCH_LMTP_ADDR=127.0.0.1:20024 BENCH_LMTP_RCPT='user%d@localhost' go test -run '^$' -bench Deliver ./mailstore/lmtp/
func BenchmarkDeliver(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
		conc int
	}{
		{"4KB/c1", 4 << 10, 1},
		{"4KB/c16", 4 << 10, 16},
		{"20MB/c1", 20 << 20, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			network, addr, pattern := benchTarget(b)
			msg := benchMessage(bc.size)
			wire := []byte(strings.ReplaceAll(string(msg), "\r\n.", "\r\n..") + ".\r\n")
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < bc.conc; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, err := net.Dial(network, addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer conn.Close()
					c := &benchClient{w: conn, r: textproto.NewReader(bufio.NewReader(conn))}
					if err := c.cmd("", 220); err != nil {
						b.Error(err)
						return
					}
					if err := c.cmd("LHLO bench\r\n", 250); err != nil {
						b.Error(err)
						return
					}
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						rcpt := fmt.Sprintf(pattern, 1+i%50)
						if err := c.deliver(rcpt, wire); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// benchClient speaks LMTP in lock step, one command and its reply at a
// time.
type benchClient struct {
	w io.Writer
	r *textproto.Reader
}

func (c *benchClient) cmd(line string, want int) error {
	if line != "" {
		if _, err := io.WriteString(c.w, line); err != nil {
			return err
		}
	}
	_, _, err := c.r.ReadResponse(want)
	return err
}

// deliver sends one message (wire: dot-stuffed, with the final dot line)
// and returns once the recipient's reply is 250.
func (c *benchClient) deliver(rcpt string, wire []byte) error {
	if err := c.cmd("MAIL FROM:<bench@example.org>\r\n", 250); err != nil {
		return err
	}
	if err := c.cmd("RCPT TO:<"+rcpt+">\r\n", 250); err != nil {
		return err
	}
	if err := c.cmd("DATA\r\n", 354); err != nil {
		return err
	}
	if _, err := c.w.Write(wire); err != nil {
		return err
	}
	return c.cmd("", 250)
}

func benchMessage(size int) []byte {
	var sb strings.Builder
	sb.WriteString("From: Bench <bench@example.org>\r\nTo: user@localhost\r\nSubject: benchmark message\r\n" +
		"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@example.org>\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 4)[:62] + "\r\n"
	for sb.Len() < size {
		sb.WriteString(line)
	}
	return []byte(sb.String()[:size-2] + "\r\n")
}

var benchOnce struct {
	sync.Once
	env *testEnv
}

// benchTarget returns the server to measure: BENCH_LMTP_ADDR, or one
// in-process Sealpost inlet with users user1..user50 shared by all runs.
func benchTarget(b *testing.B) (network, addr, pattern string) {
	if a := os.Getenv("BENCH_LMTP_ADDR"); a != "" {
		pattern = os.Getenv("BENCH_LMTP_RCPT")
		if pattern == "" {
			pattern = "user%d@localhost"
		}
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			return "unix", p, pattern
		}
		return "tcp", a, pattern
	}
	benchOnce.Do(func() {
		env := start(&keepAlive{b}, Options{})
		for i := 1; i <= 50; i++ {
			if _, err := env.store.CreateUser(context.Background(), fmt.Sprintf("user%d", i), "pw", 0); err != nil {
				b.Fatal(err)
			}
		}
		benchOnce.env = env
	})
	return "unix", benchOnce.env.sock, "user%d@localhost"
}

// keepAlive lets the shared server outlive the first sub-benchmark: its
// cleanups run at process exit instead (the temp dir is left to the OS).
type keepAlive struct{ testing.TB }

func (k *keepAlive) Cleanup(func()) {}
func (k *keepAlive) TempDir() string {
	d, err := os.MkdirTemp("", "sealpost-bench-")
	if err != nil {
		k.TB.Fatal(err)
	}
	return d
}

package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkPOP3Retr retrieves 1,000 messages of 50 KB each, one RETR after
// the other, over implicit TLS, and reports throughput (MB/s counts the
// message octets). The login (and the server's snapshot) is outside the
// timer and reported as login-ms.
//
// By default it runs against a Sealpost it starts; build it without the
// race detector for meaningful figures:
//
//	SEALPOST_NORACE=1 go test ./integration -run '^$' -bench POP3Retr -benchtime 3x -count 3
//
// Any POP3S server can be measured instead (the Dovecot peer, for one):
//
//	BENCH_POP3S_ADDR=127.0.0.1:20995 BENCH_POP3_USER=user40 BENCH_POP3_PASS=peerpass \
//	BENCH_POP3S_CA=/tmp/peer-dovecot/tls/cert.pem \
//	BENCH_LMTP_ADDR=127.0.0.1:20024 BENCH_LMTP_RCPT=user40@localhost \
//	go test ./integration -run '^$' -bench POP3Retr -benchtime 3x -count 3
//
// BENCH_POP3S_CA is the CA file to trust (default: system roots), and
// BENCH_LMTP_ADDR/BENCH_LMTP_RCPT, when set, fill the maildrop up to 1,000
// messages first; without them it must already hold 1,000.
func BenchmarkPOP3Retr(b *testing.B) {
	const n, size = 1000, 50 << 10
	addr, user, pass := os.Getenv("BENCH_POP3S_ADDR"), os.Getenv("BENCH_POP3_USER"), os.Getenv("BENCH_POP3_PASS")
	lmtpAddr, rcpt := os.Getenv("BENCH_LMTP_ADDR"), os.Getenv("BENCH_LMTP_RCPT")
	var cfg *tls.Config
	if addr == "" {
		if os.Getenv("SEALPOST_NORACE") == "" {
			b.Log("sealpost is built with -race; set SEALPOST_NORACE=1 for real figures")
		}
		s := Start(b, Config{})
		user, pass = "bench", "bench-password"
		s.AddUser(user, pass)
		addr, lmtpAddr, rcpt, cfg = s.POP3S, s.LMTP, "bench@localhost", s.TLSConfig()
	} else {
		host, _, _ := net.SplitHostPort(addr)
		cfg = &tls.Config{ServerName: host}
		if ca := os.Getenv("BENCH_POP3S_CA"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				b.Fatal(err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				b.Fatalf("no certificate in %s", ca)
			}
		}
	}

	have := benchLogin(b, addr, cfg, user, pass).stat()
	if have < n && lmtpAddr != "" {
		benchFill(b, lmtpAddr, rcpt, n-have, size)
	}
	c := benchLogin(b, addr, cfg, user, pass)
	if got := c.stat(); got < n {
		b.Fatalf("maildrop has %d messages, need %d", got, n)
	}
	c.quit()

	var total int64
	var loginTime time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		start := time.Now()
		c := benchLogin(b, addr, cfg, user, pass)
		loginTime += time.Since(start)
		b.StartTimer()
		total = 0
		for i := 1; i <= n; i++ {
			total += c.retr(i)
		}
		b.StopTimer()
		c.quit()
		b.StartTimer()
	}
	b.SetBytes(total)
	b.ReportMetric(float64(loginTime.Milliseconds())/float64(b.N), "login-ms")
}

// benchConn is a lean POP3 client: the benchmark must measure the server,
// so it reads replies with ReadSlice and keeps no body.
type benchConn struct {
	b  *testing.B
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func benchLogin(b *testing.B, addr string, cfg *tls.Config, user, pass string) *benchConn {
	b.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	c := &benchConn{b: b, nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriter(nc)}
	nc.SetDeadline(time.Now().Add(10 * time.Minute))
	c.ok("")
	c.ok("USER " + user)
	c.ok("PASS " + pass)
	return c
}

// ok sends a command (unless empty) and returns the +OK line.
func (c *benchConn) ok(cmd string) string {
	if cmd != "" {
		c.bw.WriteString(cmd + "\r\n")
		if err := c.bw.Flush(); err != nil {
			c.b.Fatal(err)
		}
	}
	l, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "+OK") {
		c.b.Fatalf("%s: %q, %v", strings.Fields(cmd + " ")[0], l, err)
	}
	return l
}

func (c *benchConn) stat() int {
	f := strings.Fields(c.ok("STAT"))
	n, _ := strconv.Atoi(f[1])
	return n
}

// retr retrieves message i and returns its octets, un-stuffed, checked
// against the count in the +OK line.
func (c *benchConn) retr(i int) int64 {
	f := strings.Fields(c.ok("RETR " + strconv.Itoa(i)))
	want, _ := strconv.ParseInt(f[1], 10, 64)
	var got int64
	for lineStart := true; ; {
		l, err := c.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			c.b.Fatalf("RETR %d: %v", i, err)
		}
		if lineStart && len(l) > 0 && l[0] == '.' {
			if string(l) == ".\r\n" {
				break
			}
			l = l[1:]
		}
		got += int64(len(l))
		lineStart = err == nil
	}
	if got != want {
		c.b.Fatalf("RETR %d: %d octets, +OK said %d", i, got, want)
	}
	return got
}

func (c *benchConn) quit() {
	c.ok("QUIT")
	c.nc.Close()
}

// benchFill delivers count messages of about size octets over LMTP, with
// a few workers.
func benchFill(b *testing.B, addr, rcpt string, count, size int) {
	b.Helper()
	line := "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab\r\n"
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var body strings.Builder
				fmt.Fprintf(&body, "From: bench@example.org\r\nTo: %s\r\nSubject: bench %d\r\nMessage-ID: <bench-%d-%d@test>\r\n\r\n", rcpt, i, time.Now().UnixNano(), i)
				for body.Len() < size-len(line) {
					if body.Len()%4096 < len(line) {
						body.WriteString(".a line that needs dot-stuffing\r\n")
					}
					body.WriteString(line)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := deliverTCP(ctx, addr, rcpt, body.String())
				cancel()
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("fill: %v", firstErr)
	}
}

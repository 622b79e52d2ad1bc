// conns.go: the connections workload. K idle TLS IMAP connections are
// opened (handshake only, logged in, or logged in + SELECT + IDLE) and
// held; the server's memory is read before and with them. The client side
// is a few lines of raw IMAP per connection, so that the bench's own
// footprint stays small at 10,000 connections.

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rawIMAP reads tagged responses of a minimal IMAP conversation.
type rawIMAP struct {
	conn net.Conn
	br   *bufio.Reader
}

// line reads one response line; over-long lines are skipped to their end.
func (r *rawIMAP) line() (string, error) {
	var buf []byte
	for {
		l, err := r.br.ReadSlice('\n')
		if len(buf) < 1024 {
			buf = append(buf, l...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		return string(bytes.TrimRight(buf, "\r\n")), nil
	}
}

// command sends "tag line" and reads until the tagged reply (or, with
// cont, until a continuation request "+ ...").
func (r *rawIMAP) command(tag, line string, cont bool) error {
	if _, err := r.conn.Write([]byte(tag + " " + line + "\r\n")); err != nil {
		return err
	}
	for {
		l, err := r.line()
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(line)[0], err)
		}
		if cont && strings.HasPrefix(l, "+") {
			return nil
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if strings.HasPrefix(rest, "OK") {
				return nil
			}
			return fmt.Errorf("%s: %s", strings.Fields(line)[0], rest)
		}
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// connsPerSource is how many connections share one loopback source
// address. Servers cap connections per client address (Sealpost: 100 for
// IMAP); real clients come from many addresses, so the bench spreads its
// connections over 127.100.x.y.
const connsPerSource = 50

// sourceAddr returns the local address for connection i.
func sourceAddr(i int) *net.TCPAddr {
	k := i / connsPerSource
	return &net.TCPAddr{IP: net.IPv4(127, 100, byte(k/250), byte(k%250+1))}
}

// openIdle opens connection i in mode tls, login or idle.
func openIdle(ctx context.Context, t *target, i int, user, mode string) (net.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 20 * time.Second, LocalAddr: sourceAddr(i)}, Config: t.tls.Clone()}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", t.imaps)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := &rawIMAP{conn: conn, br: bufio.NewReaderSize(conn, 2048)}
	steps := []func() error{func() error {
		l, err := r.line()
		if err == nil && !strings.HasPrefix(l, "* OK") {
			err = fmt.Errorf("greeting %q", l)
		}
		return err
	}}
	if mode != "tls" {
		steps = append(steps, func() error { return r.command("a1", "LOGIN "+quote(user)+" "+quote(t.pass), false) })
	}
	if mode == "idle" {
		steps = append(steps,
			func() error { return r.command("a2", "SELECT INBOX", false) },
			func() error { return r.command("a3", "IDLE", true) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Nothing reads from the connection from here on; the socket buffer
	// holds the odd "* OK Still here" keepalive.
	return conn, nil
}

// runConns opens -conns connections to each target in turn and records
// the server's memory before and with them.
func runConns(ctx context.Context, b *bench) error {
	for _, t := range b.targets {
		if err := connsRun(ctx, b, t); err != nil {
			return err
		}
		if err := b.alive(); err != nil {
			return err
		}
	}
	if len(b.targets) == 2 {
		b.res.note("conns: Dovecot's limits are the peer config's own (imap process_limit 2048 with one session per process, default_client_limit 10000); Sealpost runs with this process's RLIMIT_NOFILE and the max_connections in its header line")
	}
	return nil
}

func connsRun(ctx context.Context, b *bench, t *target) error {
	o := b.opts
	users := b.roles.shared
	// Warm up: a few connections first, so that one-time costs (Dovecot's
	// first auth and imap processes, Sealpost's TLS and session pools) are
	// part of the idle level and not charged to the connections.
	warm := 0
	for i := range min(o.connsPar, o.conns) {
		if c, err := openIdle(ctx, t, i, users[i%len(users)], o.connsMode); err == nil {
			defer c.Close()
			warm++
		}
	}
	settle(ctx, b, t, "idle", o.settle)
	rss0, pss0, procs0, err := t.memory()
	if err != nil {
		return err
	}
	anon0, err := t.anon()
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		conns    = make([]net.Conn, 0, o.conns)
		failures atomic.Int64
		first    error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	// Give up once failures pile up: a server that caps out would
	// otherwise cost a timeout per remaining connection.
	maxFail := int64(max(20, o.conns/50))
	start := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				mu.Lock()
				n := len(conns)
				mu.Unlock()
				b.logf("conns %s: %d open, %d failed", t.name, n, failures.Load())
			}
		}
	}()
	for range o.connsPar {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.conns || failures.Load() >= maxFail || ctx.Err() != nil {
					return
				}
				c, err := openIdle(ctx, t, i, users[i%len(users)], o.connsMode)
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i+1, err)
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	setup := time.Since(start)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(3 * time.Second)
	rssNow, _, _, err := t.memory()
	if err != nil {
		return err
	}
	settle(ctx, b, t, "with connections", o.settle)
	rss1, pss1, procs1, err := t.memory()
	if err != nil {
		return err
	}
	anon1, err := t.anon()
	if err != nil {
		return err
	}
	n := len(conns)
	b.logf("conns %s: %d/%d open in %s (%d failed); RSS %.1f -> %.1f MB over %d -> %d processes",
		t.name, n, o.conns, setup.Round(time.Millisecond), failures.Load(), float64(rss0)/mb, float64(rss1)/mb, procs0, procs1)
	name := fmt.Sprintf("%d %s conns", o.conns, o.connsMode)
	b.res.add("conns", name+": established", "conns", true, t.name, float64(n))
	b.res.add("conns", name+": setup rate", "conns/s", true, t.name, float64(n)/setup.Seconds())
	b.res.add("conns", name+": server RSS idle", "MB", false, t.name, float64(rss0)/mb)
	b.res.add("conns", name+": server RSS with conns, at once", "MB", false, t.name, float64(rssNow)/mb)
	b.res.add("conns", name+": server RSS with conns, settled", "MB", false, t.name, float64(rss1)/mb)
	b.res.add("conns", name+": server PSS with conns, settled", "MB", false, t.name, float64(pss1)/mb)
	b.res.add("conns", name+": anonymous RSS idle", "MB", false, t.name, float64(anon0)/mb)
	b.res.add("conns", name+": anonymous RSS with conns, settled", "MB", false, t.name, float64(anon1)/mb)
	if n > 0 {
		b.res.add("conns", name+": RSS per conn, settled", "KB", false, t.name, float64(rss1-rss0)/1024/float64(n))
		b.res.add("conns", name+": PSS per conn, settled", "KB", false, t.name, float64(pss1-pss0)/1024/float64(n))
		b.res.add("conns", name+": anonymous RSS per conn, settled", "KB", false, t.name, float64(anon1-anon0)/1024/float64(n))
	}
	if procs1 != procs0 {
		b.res.note("conns on %s: %d server processes idle, %d with the connections", t.name, procs0, procs1)
	}
	if first != nil {
		b.res.note("conns on %s: %d of %d connections opened (plus %d warm-up ones held throughout), %d failed (gave up after %d); first error: %v",
			t.name, n, o.conns, warm, failures.Load(), maxFail, first)
	}
	if n == 0 {
		return fmt.Errorf("%s: no connection opened: %v", t.name, first)
	}
	return nil
}

// lmtp.go: LMTP delivery, both as a workload (throughput and latency at
// several connection counts, 4 KB and 1 MB messages) and as the way every
// other workload fills its mailboxes.

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
)

// benchHeader marks every message the lmtp workload delivers, so that it
// can delete exactly those from the shared peer afterwards.
const benchHeader = "X-Sealpost-Bench"

// delivery describes n messages sent over conns LMTP connections; each
// connection sends LHLO once and then MAIL, RCPT, DATA per message, as
// Postfix's lmtp client does with connection caching.
type delivery struct {
	addr  string
	conns int
	n     int
	rcpt  func(i int) string
	msg   func(i int) wireMessage
}

type deliveryResult struct {
	lat   []time.Duration // sorted; MAIL FROM until the final reply (250 = stored)
	errs  int
	first error
	wall  time.Duration
	bytes int64
}

func (r deliveryResult) rate() float64 { return float64(len(r.lat)) / r.wall.Seconds() }

const lmtpTimeout = 2 * time.Minute

// deliver runs d and stops early after 50 failed messages or when ctx ends.
func deliver(ctx context.Context, d delivery) deliveryResult {
	const maxErrors = 50
	var (
		next  atomic.Int64
		errs  atomic.Int64
		bytes atomic.Int64
		mu    sync.Mutex
		lats  = make([]time.Duration, 0, d.n)
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		errs.Add(1)
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	start := time.Now()
	for range d.conns {
		wg.Go(func() {
			var c *lmtpClient
			local := make([]time.Duration, 0, d.n/d.conns+1)
			defer func() {
				if c != nil {
					c.quit()
					c.close()
				}
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= d.n || errs.Load() >= maxErrors || ctx.Err() != nil {
					return
				}
				if c == nil {
					var err error
					if c, err = dialLMTP(ctx, d.addr); err != nil {
						fail(fmt.Errorf("connect %s: %w", d.addr, err))
						time.Sleep(100 * time.Millisecond)
						continue
					}
				}
				msg := d.msg(i)
				t0 := time.Now()
				err := lmtpSend(c, d.rcpt(i), msg)
				lat := time.Since(t0)
				if err != nil {
					fail(fmt.Errorf("message %d: %w", i, err))
					var le *lmtpError
					if !errors.As(err, &le) || c.reset() != nil {
						c.close() // transport error: the connection is gone
						c = nil
					}
					continue
				}
				local = append(local, lat)
				bytes.Add(int64(msg.size()))
			}
		})
	}
	wg.Wait()
	slices.Sort(lats)
	return deliveryResult{lat: lats, errs: int(errs.Load()), first: first, wall: time.Since(start), bytes: bytes.Load()}
}

// runLMTP measures delivery of 4 KB and 1 MB messages at each connection
// count, spread round-robin over the lmtp users, then deletes them again.
func runLMTP(ctx context.Context, b *bench) error {
	o := b.opts
	users := o.lmtpUsers
	marker := fmt.Sprintf("%s: lmtp-%d", benchHeader, time.Now().UnixNano())
	b.res.setMeta("lmtp users", fmt.Sprintf("%s..%s, round-robin; afterwards the bench messages are deleted again", users[0], users[len(users)-1]))
	type pass struct {
		label string
		msgs  []wireMessage
	}
	b.logf("lmtp: generating %d x 4 KB and %d x 1 MB messages", o.n, o.n1M)
	// Dot-stuffed once here, so that the timed passes only send them.
	passes := []pass{{"4 KB", make([]wireMessage, o.n)}}
	for i := range o.n {
		passes[0].msgs[i] = dotStuff(b.gen.plain(i, 4096, marker))
	}
	if o.n1M > 0 {
		p := pass{"1 MB", make([]wireMessage, o.n1M)}
		for i := range o.n1M {
			p.msgs[i] = dotStuff(b.gen.bigMessage(i, 1<<20, marker))
		}
		passes = append(passes, p)
	}
	// UIDNEXT of every INBOX before, so the cleanup only searches new mail.
	uidNext := map[*target]map[string]imap.UID{}
	for _, t := range b.targets {
		m, err := inboxUIDNext(ctx, t, users)
		if err != nil {
			return err
		}
		uidNext[t] = m
	}
	defer func() {
		for _, t := range b.targets {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			n, err := deleteMarked(cctx, t, users, uidNext[t])
			cancel()
			if err != nil {
				b.res.note("lmtp cleanup on %s: %v", t.name, err)
			}
			b.logf("lmtp: deleted %d bench messages from %s", n, t.name)
		}
	}()
	for _, p := range passes {
		for _, conns := range o.lmtpConns {
			name := fmt.Sprintf("%s, %d conns", p.label, conns)
			if conns == 1 {
				name = p.label + ", 1 conn"
			}
			for r := range o.runs {
				for _, t := range b.order(r) {
					if err := ctx.Err(); err != nil {
						return err
					}
					res := deliver(ctx, delivery{addr: t.lmtp, conns: conns, n: len(p.msgs),
						rcpt: func(i int) string { return t.rcpt(users[i%len(users)]) },
						msg:  func(i int) wireMessage { return p.msgs[i] }})
					if res.errs > 0 {
						b.res.note("lmtp %s on %s: %d failed deliveries, first: %v", name, t.name, res.errs, res.first)
					}
					if len(res.lat) == 0 {
						return fmt.Errorf("%s: no message delivered: %v", t.name, res.first)
					}
					b.logf("lmtp %s run %d %s: %.0f msgs/s, p50 %.2f ms, p99 %.2f ms", name, r+1, t.name,
						res.rate(), ms(percentile(res.lat, 50)), ms(percentile(res.lat, 99)))
					b.res.add("lmtp", name+": throughput", "msgs/s", true, t.name, res.rate())
					b.res.add("lmtp", name+": latency p50", "ms", false, t.name, ms(percentile(res.lat, 50)))
					b.res.add("lmtp", name+": latency p99", "ms", false, t.name, ms(percentile(res.lat, 99)))
					if err := b.alive(); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// inboxUIDNext returns UIDNEXT of each user's INBOX.
func inboxUIDNext(ctx context.Context, t *target, users []string) (map[string]imap.UID, error) {
	out := map[string]imap.UID{}
	for _, u := range users {
		c, err := t.imap(ctx, u, nil)
		if err != nil {
			return nil, err
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{UIDNext: true}).Wait()
		c.Logout().Wait()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: STATUS %s INBOX: %w", t.name, u, err)
		}
		out[u] = st.UIDNext
	}
	return out, nil
}

// deleteMarked deletes from each user's INBOX the messages at or above
// from[user] that carry the bench header, and nothing else.
func deleteMarked(ctx context.Context, t *target, users []string, from map[string]imap.UID) (int, error) {
	total := 0
	for _, u := range users {
		c, err := t.imap(ctx, u, nil)
		if err != nil {
			return total, err
		}
		err = func() error {
			defer c.Close()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				return err
			}
			start := max(from[u], 1)
			sd, err := c.UIDSearch(&imap.SearchCriteria{
				UID:    []imap.UIDSet{{imap.UIDRange{Start: start, Stop: 0}}},
				Header: []imap.SearchCriteriaHeaderField{{Key: benchHeader, Value: "lmtp-"}},
			}, nil).Wait()
			if err != nil {
				return fmt.Errorf("UID SEARCH: %w", err)
			}
			uids := sd.AllUIDs()
			if len(uids) == 0 {
				return nil
			}
			var set imap.UIDSet
			set.AddNum(uids...)
			if err := expungeUIDs(c, set); err != nil {
				return err
			}
			total += len(uids)
			return c.Logout().Wait()
		}()
		if err != nil {
			return total, fmt.Errorf("%s: %s: %w", t.name, u, err)
		}
	}
	return total, nil
}

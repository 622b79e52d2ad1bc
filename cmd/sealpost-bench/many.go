// many.go: the many-clients workload. C clients share a few mailboxes and
// loop over a mixed session for D seconds: SELECT, FETCH of the newest
// envelopes, FETCH of one body, STORE, a short IDLE, APPEND and an
// expunge of what they appended. Reported: operations/s, latency and
// errors.

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// manyStats is what one client counted.
type manyStats struct {
	ops                int
	lat                []time.Duration
	no, bad, conn      int
	firstErr           error
	reconnects, logins int
	appended, expunged int
}

func (s *manyStats) fail(err error) {
	var ie *imap.Error
	switch {
	case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo:
		s.no++
	case errors.As(err, &ie):
		s.bad++
	default:
		s.conn++
	}
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *manyStats) errors() int { return s.no + s.bad + s.conn }

// runMany seeds each shared user's INBOX, then runs the clients against
// each target for -many-duration, -many-runs times.
func runMany(ctx context.Context, b *bench) error {
	o := b.opts
	users := b.roles.shared
	for _, u := range users {
		f := fill{kind: "many", user: u, n: o.manySeed, size: b.gen.mixedSize}
		for _, t := range b.targets {
			if _, err := ensureFill(ctx, b, t, f); err != nil {
				return err
			}
		}
	}
	appendMsg := b.gen.message(1_000_000, 4096)
	for r := range o.manyRuns {
		for _, t := range b.order(r) {
			if err := manyRun(ctx, b, t, users, appendMsg, r); err != nil {
				return err
			}
			if err := b.alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

func manyRun(ctx context.Context, b *bench, t *target, users []string, appendMsg []byte, run int) error {
	o := b.opts
	// Log everyone in first (logins are slow by design: argon2id and
	// SHA512-CRYPT), then start the clock for all at once.
	clients := make([]*imapclient.Client, o.manyClients)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var loginErr error
	sem := make(chan struct{}, 8)
	for i := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := t.imap(ctx, users[i%len(users)], nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && loginErr == nil {
				loginErr = err
			}
			clients[i] = c
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if loginErr != nil {
		return loginErr
	}
	stats := make([]manyStats, o.manyClients)
	start := time.Now()
	deadline := start.Add(o.manyDur)
	for i := range clients {
		wg.Go(func() {
			manyClient(ctx, b, t, users[i%len(users)], clients[i], deadline, appendMsg, rand.New(rand.NewPCG(uint64(i), uint64(run))), &stats[i])
			clients[i] = nil // closed by manyClient
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var total manyStats
	for _, s := range stats {
		total.ops += s.ops
		total.lat = append(total.lat, s.lat...)
		total.no += s.no
		total.bad += s.bad
		total.conn += s.conn
		total.reconnects += s.reconnects
		total.appended += s.appended
		total.expunged += s.expunged
		if total.firstErr == nil {
			total.firstErr = s.firstErr
		}
	}
	slices.Sort(total.lat)
	name := fmt.Sprintf("%d clients, %s", o.manyClients, o.manyDur)
	rate := float64(total.ops) / wall.Seconds()
	b.logf("many run %d %s: %d ops, %.0f ops/s, p99 %.1f ms, errors %d (NO %d, BAD %d, conn %d), appended %d, expunged %d",
		run+1, t.name, total.ops, rate, ms(percentile(total.lat, 99)), total.errors(), total.no, total.bad, total.conn, total.appended, total.expunged)
	b.res.add("many", name+": operations", "ops/s", true, t.name, rate)
	b.res.add("many", name+": op latency p50", "ms", false, t.name, ms(percentile(total.lat, 50)))
	b.res.add("many", name+": op latency p99", "ms", false, t.name, ms(percentile(total.lat, 99)))
	b.res.add("many", name+": errors", "count", false, t.name, float64(total.errors()))
	if total.firstErr != nil {
		b.res.note("many on %s: %d errors (NO %d, BAD %d, connection %d), first: %v", t.name, total.errors(), total.no, total.bad, total.conn, total.firstErr)
	}
	return nil
}

// manyClient loops over the mixed session until deadline. Random FETCH
// and STORE only touch the seeded messages, which nobody expunges, and a
// client only expunges the message it appended itself.
func manyClient(ctx context.Context, b *bench, t *target, user string, c *imapclient.Client, deadline time.Time,
	appendMsg []byte, r *rand.Rand, s *manyStats) {
	o := b.opts
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	op := func(f func() error) bool {
		t0 := time.Now()
		err := f()
		if err != nil {
			s.fail(err)
			var ie *imap.Error
			if !errors.As(err, &ie) { // the connection is broken: start over
				c.Close()
				c = nil
			}
			return false
		}
		s.ops++
		s.lat = append(s.lat, time.Since(t0))
		return true
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = t.imap(ctx, user, nil); err != nil {
				s.fail(err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			s.reconnects++
		}
		var n uint32
		if !op(func() error {
			sel, err := c.Select("INBOX", nil).Wait()
			if err == nil {
				n = sel.NumMessages
			}
			return err
		}) || n == 0 {
			continue
		}
		seeded := min(n, uint32(o.manySeed))
		steps := []func() error{
			func() error { // the newest 50 envelopes, as a client opening the folder
				var set imap.SeqSet
				set.AddRange(max(n, 50)-49, n)
				_, err := fetchCount(c.Fetch(set, &imap.FetchOptions{Flags: true, UID: true, RFC822Size: true, Envelope: true}))
				return err
			},
			func() error {
				var set imap.SeqSet
				set.AddNum(1 + r.Uint32N(seeded))
				_, _, err := fetchBodies(c, set)
				return err
			},
			func() error {
				var set imap.SeqSet
				set.AddNum(1 + r.Uint32N(seeded))
				_, err := fetchCount(c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil))
				return err
			},
			func() error {
				idle, err := c.Idle()
				if err != nil {
					return err
				}
				time.Sleep(o.manyIdle)
				if err := idle.Close(); err != nil {
					return err
				}
				return idle.Wait()
			},
		}
		for _, f := range steps {
			if c == nil || !op(f) {
				break
			}
		}
		if c == nil {
			continue
		}
		var uid imap.UID
		if !op(func() error {
			cmd := c.Append("INBOX", int64(len(appendMsg)), nil)
			if _, err := cmd.Write(appendMsg); err != nil {
				return err
			}
			if err := cmd.Close(); err != nil {
				return err
			}
			data, err := cmd.Wait()
			if err == nil {
				uid = data.UID
			}
			return err
		}) {
			continue
		}
		s.appended++
		if uid == 0 {
			s.fail(errors.New("APPEND without APPENDUID"))
			continue
		}
		if op(func() error { return expungeUIDs(c, imap.UIDSetNum(uid)) }) {
			s.expunged++
		}
	}
}

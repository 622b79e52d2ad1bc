package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sealpost/mailstore"
)

// defaultStatsMaxAge is how long store totals are served from cache.
const defaultStatsMaxAge = 30 * time.Second

// statsTimeout bounds one computation of the totals.
const statsTimeout = 10 * time.Second

// StoreTotals are the figures of the whole store.
type StoreTotals struct {
	Users, Mailboxes, Messages, Bytes int64
}

// ComputeTotals sums every account's mailboxes, messages and bytes used. It
// reads two small records per mailbox and user, but the first call opens
// every account (which lists the account's body files once).
func ComputeTotals(ctx context.Context, st *mailstore.Store) (StoreTotals, error) {
	users, err := st.Users(ctx)
	if err != nil {
		return StoreTotals{}, fmt.Errorf("store totals: %w", err)
	}
	var t StoreTotals
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return StoreTotals{}, fmt.Errorf("store totals: %w", err)
		}
		a, err := st.Account(ctx, u.Name)
		if errors.Is(err, mailstore.ErrNoSuchUser) {
			continue // deleted meanwhile
		}
		if err != nil {
			return StoreTotals{}, fmt.Errorf("store totals: %w", err)
		}
		boxes, err := a.Mailboxes(ctx)
		if err != nil {
			return StoreTotals{}, fmt.Errorf("store totals %s: %w", u.Name, err)
		}
		used, _, err := a.Usage()
		if err != nil {
			return StoreTotals{}, fmt.Errorf("store totals %s: %w", u.Name, err)
		}
		t.Users++
		t.Mailboxes += int64(len(boxes))
		for _, b := range boxes {
			t.Messages += int64(b.Messages)
		}
		t.Bytes += used
	}
	return t, nil
}

// storeCollector exports StoreTotals, recomputed on scrape at most once per
// maxAge so that frequent scrapes do not walk every user each time.
type storeCollector struct {
	st     *mailstore.Store
	maxAge time.Duration
	m      *Metrics

	mu  sync.Mutex
	at  time.Time
	cur StoreTotals
	ok  bool

	users, mailboxes, messages, bytes, age *prometheus.Desc
}

// WatchStore exports the totals of st: sealpost_store_users, _mailboxes,
// _messages and _bytes, at most maxAge old (zero: 30 s).
func (m *Metrics) WatchStore(st *mailstore.Store, maxAge time.Duration) {
	if maxAge <= 0 {
		maxAge = defaultStatsMaxAge
	}
	m.reg.MustRegister(&storeCollector{
		st: st, maxAge: maxAge, m: m,
		users:     prometheus.NewDesc("sealpost_store_users", "Users in the store.", nil, nil),
		mailboxes: prometheus.NewDesc("sealpost_store_mailboxes", "Mailboxes of all users.", nil, nil),
		messages:  prometheus.NewDesc("sealpost_store_messages", "Messages in all mailboxes of all users.", nil, nil),
		bytes:     prometheus.NewDesc("sealpost_store_bytes", "Bytes of stored messages (what quotas count), all users.", nil, nil),
		age:       prometheus.NewDesc("sealpost_store_totals_age_seconds", "Age of the sealpost_store_* totals (they are cached).", nil, nil),
	})
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.users
	ch <- c.mailboxes
	ch <- c.messages
	ch <- c.bytes
	ch <- c.age
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	t, at, ok := c.totals()
	if !ok {
		return // logged; the other metrics are still served
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n int64
	}{{c.users, t.Users}, {c.mailboxes, t.Mailboxes}, {c.messages, t.Messages}, {c.bytes, t.Bytes}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, float64(v.n))
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, time.Since(at).Seconds())
}

// totals returns cached totals, recomputing them when older than maxAge.
// Concurrent scrapes wait for one computation instead of each doing it.
func (c *storeCollector) totals() (StoreTotals, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && time.Since(c.at) < c.maxAge {
		return c.cur, c.at, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	t, err := ComputeTotals(ctx, c.st)
	if err != nil {
		c.m.log.Warn("store totals for metrics", "err", err)
		c.ok = false
		return StoreTotals{}, time.Time{}, false
	}
	c.cur, c.at, c.ok = t, time.Now(), true
	return c.cur, c.at, true
}

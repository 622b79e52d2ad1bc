// imapbench.go: the imap workload (what a client does with a large
// mailbox: SELECT, envelope FETCH, full-body FETCH, SEARCH, STORE) and the
// mailbox fills every IMAP/POP3 workload starts from.

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fillHeader marks filled messages with the fill's identity, so a peer
// mailbox that already holds exactly this fill is reused, not refilled.
const fillHeader = "X-Sealpost-Bench-Fill"

// fill is the content a bench user's INBOX must have.
type fill struct {
	kind string // "mbox", "pop3", "many": part of the identity
	user string
	n    int
	size func(i int) int // message size; mixed sizes for mailboxes
}

func (f fill) id(seed uint64) string { return fmt.Sprintf("%s-n%d-seed%d-v1", f.kind, f.n, seed) }

// ensureFill makes user's INBOX on t hold exactly the n messages of f: it
// keeps a matching INBOX, and otherwise empties it and delivers the fill
// over LMTP. It returns whether the INBOX was reused.
func ensureFill(ctx context.Context, b *bench, t *target, f fill) (bool, error) {
	id := f.id(b.gen.seed)
	ok, err := hasFill(ctx, t, f.user, f.n, id)
	if err != nil {
		return false, err
	}
	if ok {
		b.logf("fill: %s %s already holds %s", t.name, f.user, id)
		return true, nil
	}
	if err := t.emptyInbox(ctx, f.user); err != nil {
		return false, err
	}
	b.logf("fill: delivering %d messages to %s on %s (%s)", f.n, f.user, t.name, id)
	hdr := fillHeader + ": " + id
	res := deliver(ctx, delivery{addr: t.lmtp, conns: 8, n: f.n,
		rcpt: func(int) string { return t.rcpt(f.user) },
		msg: func(i int) wireMessage {
			if s := f.size(i); s > 4<<20 {
				return dotStuff(b.gen.bigMessage(i, s, hdr))
			}
			return dotStuff(b.gen.message(i, f.size(i), hdr))
		}})
	if res.errs > 0 || len(res.lat) != f.n {
		return false, fmt.Errorf("%s: fill %s: %d of %d delivered, first error: %v", t.name, f.user, len(res.lat), f.n, res.first)
	}
	b.logf("fill: %s %s: %d messages, %.0f MB in %s", t.name, f.user, f.n, float64(res.bytes)/1e6, res.wall.Round(time.Millisecond))
	if ok, err := hasFill(ctx, t, f.user, f.n, id); err != nil || !ok {
		return false, fmt.Errorf("%s: %s does not hold the fill after delivering it (%v)", t.name, f.user, err)
	}
	return false, nil
}

// hasFill checks the message count and the fill header of the first and
// last message.
func hasFill(ctx context.Context, t *target, user string, n int, id string) (bool, error) {
	c, err := t.imap(ctx, user, nil)
	if err != nil {
		return false, err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return false, fmt.Errorf("%s: EXAMINE %s: %w", t.name, user, err)
	}
	if int(sel.NumMessages) != n {
		return false, c.Logout().Wait()
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{fillHeader}, Peek: true}
	var set imap.SeqSet
	set.AddNum(1, uint32(n))
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return false, fmt.Errorf("%s: FETCH %s: %w", t.name, fillHeader, err)
	}
	if len(msgs) != min(n, 2) {
		return false, nil
	}
	for _, m := range msgs {
		if !strings.Contains(string(m.FindBodySection(section)), id) {
			return false, nil
		}
	}
	return true, c.Logout().Wait()
}

// runIMAP fills one mailbox per size and times, per run and target, over
// one logged-in connection: SELECT and UID FETCH 1:* (FLAGS UID
// RFC822.SIZE ENVELOPE) on every size; on the smallest also a full-body
// FETCH, SEARCH by header and by body, and STORE +FLAGS / -FLAGS.
func runIMAP(ctx context.Context, b *bench) error {
	for k, size := range b.opts.mailboxSizes {
		user := b.roles.mailbox[size]
		f := fill{kind: "mbox", user: user, n: size, size: b.gen.mixedSize}
		for _, t := range b.targets {
			if _, err := ensureFill(ctx, b, t, f); err != nil {
				return err
			}
		}
		clients := map[*target]*imapclient.Client{}
		counters := map[*target]*rawCounter{}
		for _, t := range b.targets {
			c, err := t.imap(ctx, user, nil)
			if err != nil {
				return err
			}
			defer c.Close()
			clients[t] = c
			rc, err := dialCounter(ctx, t, user)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := rc.run(ctx, "SELECT INBOX"); err != nil {
				return fmt.Errorf("%s: SELECT: %w", t.name, err)
			}
			counters[t] = rc
		}
		detail := k == 0
		hits := map[string]map[string]int{}
		for r := range b.opts.runs {
			for _, t := range b.order(r) {
				if err := imapPass(ctx, b, t, clients[t], counters[t], size, detail, hits); err != nil {
					return fmt.Errorf("%s: %d messages: %w", t.name, size, err)
				}
				if err := b.alive(); err != nil {
					return err
				}
			}
		}
		for step, byTarget := range hits {
			if len(byTarget) == 2 && byTarget[nameSealpost] != byTarget[nameDovecot] {
				b.res.note("imap %s: Sealpost found %d messages, Dovecot %d", step, byTarget[nameSealpost], byTarget[nameDovecot])
			}
		}
	}
	return nil
}

// imapPass runs the timed steps once.
func imapPass(ctx context.Context, b *bench, t *target, c *imapclient.Client, rc *rawCounter, n int, detail bool, hits map[string]map[string]int) error {
	label := fmt.Sprintf("%dk msgs", n/1000)
	if n < 1000 {
		label = fmt.Sprintf("%d msgs", n)
	}
	rec := func(name, unit string, higher bool, v float64) {
		b.res.add("imap", label+": "+name, unit, higher, t.name, v)
	}
	if c.Mailbox() != nil {
		if err := c.Unselect().Wait(); err != nil {
			return fmt.Errorf("UNSELECT: %w", err)
		}
	}
	t0 := time.Now()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("SELECT: %w", err)
	}
	dSel := time.Since(t0)
	if int(sel.NumMessages) != n {
		return fmt.Errorf("SELECT: %d messages, want %d", sel.NumMessages, n)
	}
	rec("SELECT", "ms", false, ms(dSel))

	t0 = time.Now()
	got, err := fetchCount(c.Fetch(allUIDs, &imap.FetchOptions{Flags: true, UID: true, RFC822Size: true, Envelope: true}))
	dEnv := time.Since(t0)
	if err != nil || got != n {
		return fmt.Errorf("UID FETCH 1:* envelope: %d messages, err %v", got, err)
	}
	rec("UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)", "ms", false, ms(dEnv))

	// The same FETCH again, read by the counting client (see rawfetch.go).
	// A NOOP first takes the flag changes of the last STORE pass, which the
	// server reports to this connection, out of the timed reply.
	if _, err := rc.run(ctx, "NOOP"); err != nil {
		return fmt.Errorf("NOOP (raw client): %w", err)
	}
	t0 = time.Now()
	got, err = rc.run(ctx, "UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
	dRaw := time.Since(t0)
	if err != nil || got != n {
		return fmt.Errorf("UID FETCH 1:* envelope (raw client): %d responses, err %v", got, err)
	}
	rec("UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), raw client", "ms", false, ms(dRaw))
	b.logf("imap %s %s: SELECT %.1f ms, envelope FETCH %.0f ms (raw client %.0f ms)", label, t.name, ms(dSel), ms(dEnv), ms(dRaw))
	if !detail {
		return nil
	}

	t0 = time.Now()
	bodies, bytes, err := fetchBodies(c, allUIDs)
	dBody := time.Since(t0)
	if err != nil || bodies != n {
		return fmt.Errorf("UID FETCH 1:* BODY.PEEK[]: %d bodies, err %v", bodies, err)
	}
	rec("UID FETCH 1:* BODY.PEEK[] throughput", "MB/s", true, float64(bytes)/1e6/dBody.Seconds())

	for _, s := range []struct {
		name string
		crit *imap.SearchCriteria
	}{
		{`UID SEARCH HEADER Subject "invoice"`, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "invoice"}}}},
		{`UID SEARCH BODY "` + needleWord + `"`, &imap.SearchCriteria{Body: []string{needleWord}}},
	} {
		t0 = time.Now()
		sd, err := c.UIDSearch(s.crit, nil).Wait()
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rec(s.name, "ms", false, ms(d))
		if hits[s.name] == nil {
			hits[s.name] = map[string]int{}
		}
		hits[s.name][t.name] = len(sd.AllUIDs())
	}

	for _, op := range []struct {
		name string
		op   imap.StoreFlagsOp
	}{{`UID STORE 1:* +FLAGS (\Flagged)`, imap.StoreFlagsAdd}, {`UID STORE 1:* -FLAGS (\Flagged)`, imap.StoreFlagsDel}} {
		t0 = time.Now()
		k, err := fetchCount(c.Store(allUIDs, &imap.StoreFlags{Op: op.op, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		if k != n {
			b.res.note("imap %s on %s: %d untagged FETCH replies for %d messages", op.name, t.name, k, n)
		}
		rec(op.name, "ms", false, ms(d))
	}
	// The STOREs again, read by the counting client.
	for _, cmd := range []string{`UID STORE 1:* +FLAGS (\Flagged)`, `UID STORE 1:* -FLAGS (\Flagged)`} {
		if _, err := rc.run(ctx, "NOOP"); err != nil {
			return fmt.Errorf("NOOP (raw client): %w", err)
		}
		t0 = time.Now()
		k, err := rc.run(ctx, cmd)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s (raw client): %w", cmd, err)
		}
		if k != n {
			b.res.note("imap %s (raw client) on %s: %d untagged replies for %d messages", cmd, t.name, k, n)
		}
		rec(cmd+", raw client", "ms", false, ms(d))
	}
	b.logf("imap %s %s: body FETCH %.1f MB/s", label, t.name, float64(bytes)/1e6/dBody.Seconds())
	return nil
}

// fetchBodies streams BODY.PEEK[] of the messages in set and returns the count and bytes.
func fetchBodies(c *imapclient.Client, set imap.NumSet) (int, int64, error) {
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var n int
	var total int64
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for item := m.Next(); item != nil; item = m.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
				k, err := io.Copy(io.Discard, body.Literal)
				if err != nil {
					cmd.Close()
					return n, total, err
				}
				total += k
				n++
			}
		}
	}
	return n, total, cmd.Close()
}

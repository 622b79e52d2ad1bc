// bigmsg.go: the big-message workload. A 50 MB message is delivered over
// LMTP and fetched over IMAP while the server's memory is sampled; the
// result is the peak above the idle level before each step.

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// sampleEvery is the RSS polling interval; Sealpost's peak also comes from
// the kernel's VmHWM, reset before each step.
const sampleEvery = 5 * time.Millisecond

func runBig(ctx context.Context, b *bench) error {
	o := b.opts
	user := b.roles.big
	marker := fmt.Sprintf("%s: big-%d", benchHeader, time.Now().UnixNano())
	msg := b.gen.bigMessage(0, o.bigSize, marker)
	label := fmt.Sprintf("%d MB message", (len(msg)+mb/2)/mb)
	// One IMAP session per target for all runs, opened before the idle
	// readings: its login (argon2id in Sealpost, an imap process in
	// Dovecot) is idle memory, not fetch cost. Then wait until the
	// servers' RSS is stable, so that heap garbage left by earlier
	// workloads cannot hide the message's cost.
	clients := map[*target]*imapclient.Client{}
	for _, t := range b.targets {
		if err := t.emptyInbox(ctx, user); err != nil {
			return err
		}
		c, err := t.imap(ctx, user, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[t] = c
	}
	var wg sync.WaitGroup
	for _, t := range b.targets {
		wg.Go(func() { settle(ctx, b, t, "before the big message", o.settle) })
	}
	wg.Wait()
	for r := range o.runs {
		for _, t := range b.order(r) {
			if err := bigRun(ctx, b, t, clients[t], user, msg, label); err != nil {
				return err
			}
			if err := b.alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

func bigRun(ctx context.Context, b *bench, t *target, c *imapclient.Client, user string, msg []byte, label string) error {
	// Connected before the idle reading: Dovecot may start an lmtp
	// process for it.
	lc, err := dialLMTP(ctx, t.lmtp)
	if err != nil {
		return fmt.Errorf("%s: LMTP: %w", t.name, err)
	}
	defer lc.close()
	wire := dotStuff(msg)
	time.Sleep(time.Second)

	idle, err := t.rss()
	if err != nil {
		return err
	}
	s := startSampler(t, sampleEvery)
	t0 := time.Now()
	err = lmtpSend(lc, t.rcpt(user), wire)
	dDeliver := time.Since(t0)
	peakDeliver := s.Stop()
	lc.quit()
	if err != nil {
		return fmt.Errorf("%s: deliver %s: %w", t.name, label, err)
	}

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		return fmt.Errorf("%s: SELECT after delivery: %d messages, %v", t.name, sel.NumMessages, err)
	}
	time.Sleep(time.Second)
	idle2, err := t.rss()
	if err != nil {
		return err
	}
	s = startSampler(t, sampleEvery)
	t0 = time.Now()
	n, got, err := fetchBodies(c, allUIDs)
	dFetch := time.Since(t0)
	peakFetch := s.Stop()
	if err != nil || n != 1 || got < int64(len(msg)) { // servers prepend Return-Path etc.
		return fmt.Errorf("%s: FETCH %s: %d bodies, %d bytes of %d: %v", t.name, label, n, got, len(msg), err)
	}
	if err := expungeUIDs(c, allUIDs); err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}

	b.logf("big %s: deliver %s peak +%.1f MB; fetch %s peak +%.1f MB (idle %.1f MB)", t.name,
		dDeliver.Round(time.Millisecond), float64(peakDeliver-idle)/mb, dFetch.Round(time.Millisecond),
		float64(peakFetch-idle2)/mb, float64(idle)/mb)
	b.res.add("big", label+": server RSS idle", "MB", false, t.name, float64(idle)/mb)
	b.res.add("big", label+": LMTP delivery time", "ms", false, t.name, ms(dDeliver))
	b.res.add("big", label+": peak RSS over idle, delivering", "MB", false, t.name, float64(peakDeliver-idle)/mb)
	b.res.add("big", label+": IMAP BODY.PEEK[] throughput", "MB/s", true, t.name, float64(got)/1e6/dFetch.Seconds())
	b.res.add("big", label+": peak RSS over idle, fetching", "MB", false, t.name, float64(peakFetch-idle2)/mb)
	return nil
}

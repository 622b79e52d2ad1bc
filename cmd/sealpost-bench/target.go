// target.go: what the workloads know about a server under test (its
// endpoints, password, TLS trust and processes), IMAP helpers shared by the
// workloads, and memory readings from /proc.

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	nameSealpost = "sealpost"
	nameDovecot  = "dovecot"
)

// target is one server under test.
type target struct {
	name               string // nameSealpost or nameDovecot
	imaps, pop3s, lmtp string // host:port, implicit TLS for IMAP and POP3
	pass               string // password of every bench user
	tls                *tls.Config
	pids               func() []int // processes whose memory is the server's
	pidsTTL            time.Duration
	hwmPID             int    // a single server process whose VmHWM may be reset; 0: none
	rcptDomain         string // domain of LMTP recipients
	describe           string // settings, for the report header

	mu         sync.Mutex
	lastPIDs   []int
	lastPIDsAt time.Time
}

func (t *target) rcpt(user string) string { return user + "@" + t.rcptDomain }

// imap connects over implicit TLS and logs user in. The connection is
// closed when ctx ends, so a hung server cannot hang the bench.
func (t *target) imap(ctx context.Context, user string, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = t.tls.Clone()
	c, err := imapclient.DialTLS(t.imaps, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: IMAP connect %s: %w", t.name, t.imaps, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	go func() { <-c.Closed(); stop() }()
	if err := c.Login(user, t.pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: IMAP LOGIN %s: %w", t.name, user, err)
	}
	return c, nil
}

var allUIDs = imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}

// fetchCount runs a FETCH/STORE command to completion and counts the
// messages it returned.
func fetchCount(cmd *imapclient.FetchCommand) (int, error) {
	n := 0
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		if _, err := m.Collect(); err != nil {
			cmd.Close()
			return n, err
		}
		n++
	}
	return n, cmd.Close()
}

// expungeUIDs deletes uids from the selected mailbox.
func expungeUIDs(c *imapclient.Client, uids imap.UIDSet) error {
	if len(uids) == 0 {
		return nil
	}
	if _, err := fetchCount(c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil)); err != nil {
		return fmt.Errorf("STORE \\Deleted: %w", err)
	}
	if err := c.UIDExpunge(uids).Close(); err != nil {
		return fmt.Errorf("UID EXPUNGE: %w", err)
	}
	return nil
}

// emptyInbox deletes every message of user's INBOX (bench users only).
func (t *target) emptyInbox(ctx context.Context, user string) error {
	c, err := t.imap(ctx, user, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("%s: SELECT %s: %w", t.name, user, err)
	}
	if sel.NumMessages > 0 {
		if err := expungeUIDs(c, allUIDs); err != nil {
			return fmt.Errorf("%s: empty %s: %w", t.name, user, err)
		}
	}
	return c.Logout().Wait()
}

// memory sums the resident (RSS) and proportional (PSS) set sizes of the
// server's processes, in bytes. PSS splits shared pages between the
// processes sharing them, which matters for Dovecot's many processes.
func (t *target) memory() (rss, pss int64, procs int, err error) {
	for _, pid := range t.processes() {
		r, _, e := procStatus(pid)
		if e != nil {
			continue // exited meanwhile
		}
		rss += r
		if p, e := procPSS(pid); e == nil {
			pss += p
		}
		procs++
	}
	if procs == 0 {
		return 0, 0, 0, fmt.Errorf("%s: no server process found", t.name)
	}
	return rss, pss, procs, nil
}

// rss is memory without PSS: cheap enough to sample every few ms.
func (t *target) rss() (int64, error) {
	var sum int64
	n := 0
	for _, pid := range t.processes() {
		if r, _, err := procStatus(pid); err == nil {
			sum += r
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no server process found", t.name)
	}
	return sum, nil
}

// processes returns the server's pids; for a process tree the walk is
// cached briefly so that fast sampling stays cheap.
func (t *target) processes() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastPIDs != nil && time.Since(t.lastPIDsAt) < t.pidsTTL {
		return t.lastPIDs
	}
	t.lastPIDs, t.lastPIDsAt = t.pids(), time.Now()
	return t.lastPIDs
}

// anon sums RssAnon over the server's processes: heap and stacks, without
// the file pages a process has mapped (Sealpost maps its bbolt files, so
// its RSS grows with the mail it has read; those pages are page cache the
// kernel takes back at will, and Dovecot's reads land there unmapped).
func (t *target) anon() (int64, error) {
	var sum int64
	for _, pid := range t.processes() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
				n, err := parseKB(v)
				if err != nil {
					return 0, fmt.Errorf("RssAnon: %w", err)
				}
				sum += n
			}
		}
	}
	return sum, nil
}

// procStatus reads VmRSS and VmHWM (peak RSS) of pid in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (rss, hwm int64, err error) {
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := parseKB(v)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if found == 0 {
		return 0, 0, errors.New("no VmRSS in status (kernel thread?)")
	}
	return rss, hwm, nil
}

// parseKB parses "   1234 kB" into bytes.
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("unexpected value %q", s)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n << 10, err
}

func procPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			return parseKB(v)
		}
	}
	return 0, errors.New("no Pss in smaps_rollup")
}

// resetHWM makes the kernel restart VmHWM from the current RSS
// (clear_refs, Linux 4.0+); false if that is not allowed here.
func resetHWM(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// processTree returns root and all its descendants, found by the parent
// pid in /proc/*/stat.
func processTree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if ppid, ok := parseStatPPID(b); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// parseStatPPID extracts field 4 of /proc/PID/stat; the command name in
// parentheses may itself contain spaces and parentheses.
func parseStatPPID(b []byte) (int, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// sampler polls a target's summed RSS and keeps the peak.
type sampler struct {
	t      *target
	stop   chan struct{}
	done   chan struct{}
	peak   int64
	hwmOK  bool
	hwmPID int
}

func startSampler(t *target, every time.Duration) *sampler {
	s := &sampler{t: t, stop: make(chan struct{}), done: make(chan struct{}), hwmPID: t.hwmPID}
	if s.hwmPID > 0 {
		s.hwmOK = resetHWM(s.hwmPID)
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if rss, err := t.rss(); err == nil {
				s.peak = max(s.peak, rss)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak RSS seen, including the
// kernel's VmHWM when it could be reset at the start.
func (s *sampler) Stop() int64 {
	close(s.stop)
	<-s.done
	if s.hwmOK {
		if _, hwm, err := procStatus(s.hwmPID); err == nil {
			s.peak = max(s.peak, hwm)
		}
	}
	return s.peak
}

// settle waits until the server's RSS stops falling: no new low (by more
// than 1%) for quiet, at most 5 x quiet. A Go server returns freed heap
// (e.g. the argon2id buffers of a burst of logins) to the kernel only
// after GCs, which an idle process gets every 2 minutes, so its RSS drops
// in steps for minutes; a C server's is stable at once.
func settle(ctx context.Context, b *bench, t *target, what string, quiet time.Duration) {
	start := time.Now()
	low, err := t.rss()
	if err != nil {
		return
	}
	lowAt := start
	for ctx.Err() == nil && time.Since(lowAt) < quiet && time.Since(start) < 5*quiet {
		time.Sleep(min(10*time.Second, quiet))
		r, err := t.rss()
		if err != nil {
			return
		}
		if r < low*99/100 {
			b.logf("%s: settling (%s), RSS down to %.1f MB", t.name, what, float64(r)/mb)
			lowAt = time.Now()
		}
		low = min(low, r)
	}
	b.logf("%s: settled (%s) after %s at %.1f MB", t.name, what, time.Since(start).Round(time.Second), float64(low)/mb)
}

const mb = 1 << 20

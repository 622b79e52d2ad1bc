// Command sealpost-bench runs the same mail-server workloads against a
// Sealpost it starts itself (fresh data dir, free loopback ports) and the
// Dovecot reference peer (../shared/peers/dovecot/start.sh, already
// running), in one run, and prints a side-by-side table with
// Sealpost/Dovecot ratios (medians of -runs runs, targets alternating).
//
// Workloads (-only): lmtp (delivery throughput and latency), imap (SELECT,
// envelope FETCH, body FETCH, SEARCH, STORE on large mailboxes), pop3 (RETR
// over TLS), many (concurrent mixed IMAP sessions), conns (idle TLS IMAP
// connections and their memory), big (peak memory for a 50 MB message).
//
//	go run ./cmd/sealpost-bench                          # everything, full size
//	go run ./cmd/sealpost-bench -only lmtp,imap -runs 5
//	go run ./cmd/sealpost-bench -n 500 -mailbox-sizes 1000 -conns 500 -many-duration 10s
//
// Mail on the Dovecot peer: the lmtp workload delivers to user1..userN
// (-lmtp-users) and afterwards deletes exactly the messages it delivered
// (they carry an X-Sealpost-Bench header); every other workload uses only
// the bench users (-bench-users, default user41..user50), whose INBOXes it
// fills, reuses across runs when they already hold the same fill, and
// empties when they do not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	sealpostBin  string
	only         map[string]bool
	runs         int
	seed         uint64
	n, n1M       int
	lmtpConns    []int
	lmtpUsers    []string
	benchUsers   []string
	mailboxSizes []int
	pop3N        int
	pop3Size     int
	manyClients  int
	manyDur      time.Duration
	manyIdle     time.Duration
	manyRuns     int
	manySeed     int
	conns        int
	connsMode    string
	connsPar     int
	settle       time.Duration
	bigSize      int
	sealpostOnly bool
	dovecotOnly  bool
	json         bool
	keep         bool
	timeout      time.Duration
	peer         peerConfig
}

var allWorkloads = []string{"lmtp", "imap", "pop3", "many", "conns", "big"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sealpost-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: sealpost-bench [flags]\n\nRuns the same workloads against Sealpost and the Dovecot peer and prints ratios.\n\nFlags:")
		fs.PrintDefaults()
	}
	only := fs.String("only", strings.Join(allWorkloads, ","), "workloads to run: "+strings.Join(allWorkloads, ","))
	fs.StringVar(&o.sealpostBin, "sealpost", "", "sealpost binary (default: go build sealpost/cmd/sealpost)")
	fs.IntVar(&o.runs, "runs", 3, "runs per measurement (medians are reported)")
	fs.Uint64Var(&o.seed, "seed", 1, "message generator seed")
	fs.IntVar(&o.n, "n", 20000, "lmtp: 4 KB messages per pass")
	fs.IntVar(&o.n1M, "n-1mb", 200, "lmtp: 1 MB messages per pass")
	conns := fs.String("lmtp-conns", "1,4,16", "lmtp: concurrent connections, one pass each")
	lmtpUsers := fs.String("lmtp-users", "", "lmtp: recipients, a range like 1-50 (default: all peer users)")
	benchUsers := fs.String("bench-users", "41-50", "users owned by the bench for fills (at least 3 + max(2, number of mailbox sizes))")
	sizes := fs.String("mailbox-sizes", "10000,100000", "imap: mailbox sizes; the smallest also gets body FETCH, SEARCH, STORE")
	fs.IntVar(&o.pop3N, "pop3-n", 1000, "pop3: messages to RETR")
	fs.IntVar(&o.pop3Size, "pop3-size", 50*1024, "pop3: message size in bytes")
	fs.IntVar(&o.manyClients, "many-clients", 50, "many: concurrent IMAP clients")
	fs.DurationVar(&o.manyDur, "many-duration", 60*time.Second, "many: duration of a run")
	fs.DurationVar(&o.manyIdle, "many-idle", 50*time.Millisecond, "many: time spent in IDLE per session cycle")
	fs.IntVar(&o.manyRuns, "many-runs", 1, "many: runs (each lasts -many-duration per server)")
	fs.IntVar(&o.manySeed, "many-seed", 200, "many: messages pre-filled per mailbox")
	fs.IntVar(&o.conns, "conns", 10000, "conns: concurrent idle TLS IMAP connections")
	fs.StringVar(&o.connsMode, "conns-mode", "idle", "conns: tls (handshake only), login, or idle (login, SELECT, IDLE)")
	fs.IntVar(&o.connsPar, "conns-parallel", 16, "conns: connections being opened at once")
	fs.DurationVar(&o.settle, "settle", 130*time.Second, "conns, big: idle memory is read once RSS made no new low for this long (Go forces a GC every 2 min)")
	fs.IntVar(&o.bigSize, "big-size", 50<<20, "big: message size in bytes")
	fs.BoolVar(&o.sealpostOnly, "sealpost-only", false, "measure Sealpost only")
	fs.BoolVar(&o.dovecotOnly, "dovecot-only", false, "measure the Dovecot peer only")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of the table")
	fs.BoolVar(&o.keep, "keep", false, "keep Sealpost's data dir")
	fs.DurationVar(&o.timeout, "timeout", 4*time.Hour, "give up after this long")
	o.peer.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.only = map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(allWorkloads, w) {
			return nil, fmt.Errorf("-only: unknown workload %q (have %s)", w, strings.Join(allWorkloads, ","))
		}
		o.only[w] = true
	}
	var err error
	if o.lmtpConns, err = parseInts(*conns); err != nil {
		return nil, fmt.Errorf("-lmtp-conns: %w", err)
	}
	if o.mailboxSizes, err = parseInts(*sizes); err != nil {
		return nil, fmt.Errorf("-mailbox-sizes: %w", err)
	}
	slices.Sort(o.mailboxSizes)
	if *lmtpUsers == "" {
		*lmtpUsers = fmt.Sprintf("1-%d", o.peer.users)
	}
	if o.lmtpUsers, err = parseUsers(*lmtpUsers); err != nil {
		return nil, fmt.Errorf("-lmtp-users: %w", err)
	}
	if o.benchUsers, err = parseUsers(*benchUsers); err != nil {
		return nil, fmt.Errorf("-bench-users: %w", err)
	}
	switch {
	case o.sealpostOnly && o.dovecotOnly:
		return nil, errors.New("-sealpost-only and -dovecot-only exclude each other")
	case o.runs < 1 || o.manyRuns < 1:
		return nil, errors.New("-runs and -many-runs must be at least 1")
	case len(o.benchUsers) < minBenchUsers(len(o.mailboxSizes)):
		return nil, fmt.Errorf("-bench-users: %d users, need at least %d", len(o.benchUsers), minBenchUsers(len(o.mailboxSizes)))
	case o.n < 1 || o.n1M < 0 || o.pop3N < 1 || o.manyClients < 1 || o.conns < 1 || o.connsPar < 1:
		return nil, errors.New("counts must be positive")
	case o.pop3Size < 2048 || o.bigSize < 1<<20:
		return nil, errors.New("-pop3-size must be at least 2048 and -big-size at least 1 MiB")
	case o.connsMode != "tls" && o.connsMode != "login" && o.connsMode != "idle":
		return nil, fmt.Errorf("-conns-mode %q: want tls, login or idle", o.connsMode)
	}
	return o, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseUsers turns "41-50" (or "7") into user41..user50.
func parseUsers(s string) ([]string, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 1 || b < a {
		return nil, fmt.Errorf("bad user range %q (want e.g. 41-50)", s)
	}
	var out []string
	for i := a; i <= b; i++ {
		out = append(out, "user"+strconv.Itoa(i))
	}
	return out, nil
}

// roles assigns the bench users so that each keeps its job whatever the
// flags: the mailboxes from the end of the range (the smallest size on the
// last user), the big message and POP3 on the first two, and the users in
// between share the many-clients and connections workloads.
type roles struct {
	mailbox map[int]string
	pop3    string
	big     string
	shared  []string
}

// minBenchUsers is how many bench users assignRoles needs.
func minBenchUsers(sizes int) int { return 3 + max(sizes, 2) }

func assignRoles(users []string, sizes []int) roles {
	r := roles{mailbox: map[int]string{}, big: users[0], pop3: users[1]}
	for i, s := range sizes {
		r.mailbox[s] = users[len(users)-1-i]
	}
	r.shared = users[2 : len(users)-max(len(sizes), 2)]
	return r
}

func (r roles) String() string {
	var b strings.Builder
	sizes := slices.Sorted(func(yield func(int) bool) {
		for s := range r.mailbox {
			if !yield(s) {
				return
			}
		}
	})
	for _, s := range sizes {
		fmt.Fprintf(&b, "%s=%d msgs, ", r.mailbox[s], s)
	}
	fmt.Fprintf(&b, "%s=big, %s=pop3, %s..%s=many/conns", r.big, r.pop3, r.shared[0], r.shared[len(r.shared)-1])
	return b.String()
}

// bench is what every workload gets.
type bench struct {
	opts    *options
	targets []*target
	res     *results
	gen     generator
	roles   roles
	stderr  io.Writer
	alive   func() error // Sealpost still running?
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// order returns the targets for run r, alternating which goes first so
// that drift on the shared machine does not favour one of them.
func (b *bench) order(r int) []*target {
	out := slices.Clone(b.targets)
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// raiseNofile lifts RLIMIT_NOFILE for this process and, since it calls
// Setrlimit, for the Sealpost child it starts.
func raiseNofile(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Max < want {
		l.Max = want // root may raise the hard limit (up to fs.nr_open)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		l.Max = 0
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		l.Cur = l.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err2 != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		fmt.Fprintln(stderr, "sealpost-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	b := &bench{opts: o, res: newResults(), gen: newGenerator(o.seed), stderr: stderr,
		roles: assignRoles(o.benchUsers, o.mailboxSizes), alive: func() error { return nil }}
	nofile, err := raiseNofile(uint64(2*o.conns + 4096))
	if err != nil {
		b.logf("warning: cannot raise RLIMIT_NOFILE: %v", err)
	}
	b.res.setMeta("started", time.Now().Format(time.RFC3339))
	b.res.setMeta("machine", fmt.Sprintf("%d CPUs, %s/%s, %s, RLIMIT_NOFILE %d", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), nofile))
	b.res.setMeta("runs", fmt.Sprintf("%d (many: %d); medians, targets alternate", o.runs, o.manyRuns))
	b.res.setMeta("bench users", b.roles.String())

	if !o.dovecotOnly {
		bin := o.sealpostBin
		tmp, err := os.MkdirTemp("", "sealpost-bench-")
		if err != nil {
			fmt.Fprintln(stderr, "sealpost-bench:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if bin == "" {
			b.logf("building sealpost")
			if bin, err = buildSealpost(ctx, tmp); err != nil {
				fmt.Fprintln(stderr, "sealpost-bench:", err)
				return 1
			}
		}
		users := append(slices.Clone(o.lmtpUsers), o.benchUsers...)
		slices.Sort(users)
		users = slices.Compact(users)
		b.logf("starting sealpost, creating %d users", len(users))
		parent := tmp
		if o.keep {
			parent = ""
		}
		maxConns := 0
		if o.only["conns"] {
			maxConns = o.conns
		}
		sp, err := startSealpost(ctx, bin, parent, users, maxConns, b.logf)
		if err != nil {
			fmt.Fprintln(stderr, "sealpost-bench:", err)
			return 1
		}
		defer func() {
			sp.Stop()
			if o.keep {
				b.logf("kept sealpost data in %s", sp.dir)
			} else {
				sp.Remove()
			}
		}()
		t, err := sp.target()
		if err != nil {
			fmt.Fprintln(stderr, "sealpost-bench:", err)
			return 1
		}
		b.targets = append(b.targets, t)
		b.alive = sp.Alive
		b.res.setMeta(nameSealpost, t.describe)
	}
	if !o.sealpostOnly {
		t, err := openPeer(o.peer)
		if err != nil {
			fmt.Fprintln(stderr, "sealpost-bench:", err)
			return 1
		}
		b.targets = append(b.targets, t)
		b.res.setMeta(nameDovecot, t.describe)
	}

	workloads := map[string]func(context.Context, *bench) error{
		"lmtp": runLMTP, "imap": runIMAP, "pop3": runPOP3, "many": runMany, "conns": runConns, "big": runBig,
	}
	failed := false
	for _, name := range allWorkloads {
		if !o.only[name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		b.logf("== %s", name)
		start := time.Now()
		if err := workloads[name](ctx, b); err != nil {
			failed = true
			b.logf("%s failed: %v", name, err)
			b.res.note("%s workload failed: %v", name, err)
		}
		if err := b.alive(); err != nil {
			b.res.note("%v", err)
			failed = true
			break
		}
		b.logf("== %s done in %s", name, time.Since(start).Round(time.Second))
	}
	b.res.setMeta("finished", time.Now().Format(time.RFC3339))
	if o.json {
		if err := b.res.writeJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "sealpost-bench:", err)
			return 1
		}
	} else {
		b.res.writeTable(stdout)
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

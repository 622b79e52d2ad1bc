package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sealpost/certs/certstest"
	"sealpost/mailstore"
)

// The benchmarks share one store per mailbox size, filled once per process
// by parallel deliveries, and one server per store. The 100k-message
// variants run only with IMAPD_BENCH_100K=1 (filling takes minutes);
// IMAPD_BENCH_DIR keeps the filled stores there for later runs.

const benchMessages = 10000

type benchEnv struct {
	once  sync.Once
	err   error
	n     int
	dir   string
	keep  bool
	store *mailstore.Store
	srv   *Server
	addr  string
	tls   *imapclientOptions
	bytes int64
}

var (
	benchMu   sync.Mutex
	benchEnvs = map[int]*benchEnv{}
)

type imapclientOptions = imapclient.Options

func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range benchEnvs {
		if e.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e.srv.Shutdown(ctx)
			cancel()
		}
		if e.store != nil {
			e.store.Close()
		}
		if e.dir != "" && !e.keep {
			os.RemoveAll(e.dir)
		}
	}
	os.Exit(code)
}

func benchMsg(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.com>\r\nTo: ann@example.org, Team <team@example.org>\r\n", i%97, i%97)
	fmt.Fprintf(&b, "Subject: Weekly report number %d with some words\r\nDate: Mon, 02 Mar 2026 10:%02d:00 +0100\r\n", i, i%60)
	fmt.Fprintf(&b, "Message-ID: <%d.bench@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i)
	for range 30 {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	}
	return b.String()
}

// benchSetup returns the shared store of n messages, served over TLS.
func benchSetup(b *testing.B, n int) *benchEnv {
	b.Helper()
	if n > benchMessages && os.Getenv("IMAPD_BENCH_100K") == "" {
		b.Skip("set IMAPD_BENCH_100K=1 to run the 100k-message benchmarks")
	}
	benchMu.Lock()
	e := benchEnvs[n]
	if e == nil {
		e = &benchEnv{n: n}
		benchEnvs[n] = e
	}
	benchMu.Unlock()
	e.once.Do(func() { e.err = e.setup(b) })
	if e.err != nil {
		b.Fatal(e.err)
	}
	return e
}

func (e *benchEnv) setup(b *testing.B) error {
	if keep := os.Getenv("IMAPD_BENCH_DIR"); keep != "" {
		e.dir, e.keep = filepath.Join(keep, fmt.Sprintf("imapd-bench-%d", e.n)), true
		if err := os.MkdirAll(e.dir, 0o700); err != nil {
			return err
		}
	} else {
		dir, err := os.MkdirTemp("", "imapd-bench-")
		if err != nil {
			return err
		}
		e.dir = dir
	}
	st, err := mailstore.Open(e.dir, mailstore.Options{})
	if err != nil {
		return err
	}
	e.store = st
	acct, err := st.Account(context.Background(), "ann")
	if errors.Is(err, mailstore.ErrNoSuchUser) {
		if _, err = st.ImportUser(context.Background(), "ann", cheapHash(), 0); err == nil {
			acct, err = st.Account(context.Background(), "ann")
		}
	}
	if err != nil {
		return err
	}
	info, err := acct.Mailbox(context.Background(), mailstore.Inbox)
	if err != nil {
		return err
	}
	start := time.Now()
	next := atomic.Int64{}
	next.Store(int64(info.Messages))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= e.n; i = int(next.Add(1)) {
				if _, err := st.Deliver(context.Background(), "ann", strings.NewReader(benchMsg(i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if added := e.n - int(info.Messages); added > 0 {
		fmt.Fprintf(os.Stderr, "imapd bench: delivered %d messages in %v\n", added, time.Since(start).Round(time.Millisecond))
	}
	for i := 1; i <= e.n; i++ {
		e.bytes += int64(len(benchMsg(i)))
	}
	serverTLS, clientTLS := certstest.New(b)
	srv, err := New(Options{Auth: fastAuth{st}, TLSConfig: serverTLS})
	if err != nil {
		return err
	}
	e.srv = srv
	l := listen(b)
	e.addr = l.Addr().String()
	go srv.ServeTLS(l)
	e.tls = &imapclient.Options{TLSConfig: clientTLS}
	return nil
}

func (e *benchEnv) client(b *testing.B) *imapclient.Client {
	b.Helper()
	c, err := imapclient.DialTLS(e.addr, e.tls)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login("ann", "pw-ann").Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchSizes are the mailbox sizes of the SELECT and FETCH benchmarks.
var benchSizes = []int{benchMessages, 100000}

func bySize(b *testing.B, fn func(b *testing.B, e *benchEnv)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) { fn(b, benchSetup(b, n)) })
	}
}

// BenchmarkSelect: SELECT of the INBOX (IMAP4rev1, so the first unseen
// message is looked up too).
func BenchmarkSelect(b *testing.B) {
	bySize(b, func(b *testing.B, e *benchEnv) {
		c := e.client(b)
		b.ResetTimer()
		for b.Loop() {
			d, err := c.Select("INBOX", nil).Wait()
			if err != nil || int(d.NumMessages) != e.n {
				b.Fatal(err, d)
			}
		}
	})
}

// BenchmarkFetchEnvelope: what a client does on opening a folder:
// UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), parsed by imapclient.
func BenchmarkFetchEnvelope(b *testing.B) {
	bySize(b, func(b *testing.B, e *benchEnv) {
		c := e.client(b)
		if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, Envelope: true})
			n := 0
			for m := cmd.Next(); m != nil; m = cmd.Next() {
				if _, err := m.Collect(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := cmd.Close(); err != nil || n != e.n {
				b.Fatal(err, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*e.n), "ns/msg")
	})
}

// BenchmarkFetchEnvelopeRaw: the same FETCH read by a client that only
// splits the responses (countClient), so the time is the server's rather
// than imapclient's parsing.
func BenchmarkFetchEnvelopeRaw(b *testing.B) {
	bySize(b, func(b *testing.B, e *benchEnv) {
		rc := e.counter(b)
		rc.cmd(b, "SELECT INBOX")
		b.ResetTimer()
		for b.Loop() {
			if n := rc.cmd(b, "UID FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"); n != e.n {
				b.Fatalf("%d responses, want %d", n, e.n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*e.n), "ns/msg")
	})
}

// countClient speaks IMAP over TLS with no parsing beyond splitting lines
// and skipping literals.
type countClient struct {
	conn *tls.Conn
	r    *bufio.Reader
	tag  int
}

func (e *benchEnv) counter(b *testing.B) *countClient {
	b.Helper()
	conn, err := tls.Dial("tcp", e.addr, e.tls.TLSConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	rc := &countClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := rc.r.ReadSlice('\n'); err != nil { // greeting
		b.Fatal(err)
	}
	rc.cmd(b, "LOGIN ann pw-ann")
	return rc
}

// cmd sends a command, reads up to its tagged OK and returns the number of
// untagged responses.
func (rc *countClient) cmd(b *testing.B, cmd string) int {
	b.Helper()
	rc.tag++
	tag := fmt.Sprintf("r%d", rc.tag)
	if _, err := fmt.Fprintf(rc.conn, "%s %s\r\n", tag, cmd); err != nil {
		b.Fatal(err)
	}
	n := 0
	for start := true; ; {
		line, err := rc.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			b.Fatal(err)
		}
		if start && bytes.HasPrefix(line, []byte(tag+" ")) {
			if !bytes.HasPrefix(line[len(tag)+1:], []byte("OK")) {
				b.Fatalf("%s: %s", cmd, line)
			}
			return n
		}
		if start && bytes.HasPrefix(line, []byte("* ")) {
			n++
		}
		start = err == nil
		if !start {
			continue // the rest of a long line
		}
		// A literal {k} at the end of the line: skip its k bytes, then the
		// line goes on.
		if l := bytes.TrimRight(line, "\r\n"); len(l) > 0 && l[len(l)-1] == '}' {
			if i := bytes.LastIndexByte(l, '{'); i >= 0 {
				k, err := strconv.Atoi(string(l[i+1 : len(l)-1]))
				if err == nil {
					if _, err := rc.r.Discard(k); err != nil {
						b.Fatal(err)
					}
					start = false
				}
			}
		}
	}
}

// BenchmarkFetchBody: BODY.PEEK[] of 1000 messages per operation, streamed.
func BenchmarkFetchBody(b *testing.B) {
	e := benchSetup(b, benchMessages)
	c := e.client(b)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	b.SetBytes(e.bytes * batch / int64(e.n))
	b.ResetTimer()
	for b.Loop() {
		cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: batch}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		n := 0
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			for item := m.Next(); item != nil; item = m.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
					io.Copy(io.Discard, body.Literal)
				}
			}
			n++
		}
		if err := cmd.Close(); err != nil || n != batch {
			b.Fatal(err, n)
		}
	}
}

// BenchmarkSearchHeader: SEARCH SUBJECT over 10k messages (envelopes only).
func BenchmarkSearchHeader(b *testing.B) {
	e := benchSetup(b, benchMessages)
	c := e.client(b)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		d, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "number 77"}}}, nil).Wait()
		if err != nil || len(d.AllSeqNums()) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreFlags: UID STORE 1:* +FLAGS then -FLAGS over 10k messages,
// with the untagged FETCH replies.
func BenchmarkStoreFlags(b *testing.B) {
	e := benchSetup(b, benchMessages)
	c := e.client(b)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.UIDSet{{Start: 1, Stop: 0}}
	b.ResetTimer()
	for b.Loop() {
		for _, op := range []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel} {
			if err := c.Store(all, &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkStoreFlagsRaw: the STOREs of BenchmarkStoreFlags read by
// countClient: the server's time, fsync'd commits included.
func BenchmarkStoreFlagsRaw(b *testing.B) {
	e := benchSetup(b, benchMessages)
	rc := e.counter(b)
	rc.cmd(b, "SELECT INBOX")
	b.ResetTimer()
	for b.Loop() {
		for _, op := range []string{"+", "-"} {
			if n := rc.cmd(b, "UID STORE 1:* "+op+`FLAGS (\Flagged)`); n != e.n {
				b.Fatalf("%d responses, want %d", n, e.n)
			}
		}
	}
}

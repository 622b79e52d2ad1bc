package imapd

import (
	"context"
	"fmt"
	"io"
	"os"
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

// The benchmarks share one store of benchMessages messages, filled once
// per process by parallel deliveries, and one server.

const benchMessages = 10000

var bench struct {
	once  sync.Once
	err   error
	dir   string
	store *mailstore.Store
	srv   *Server
	addr  string
	tls   *imapclientOptions
	bytes int64
}

type imapclientOptions = imapclient.Options

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		bench.srv.Shutdown(ctx)
		cancel()
	}
	if bench.store != nil {
		bench.store.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
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

func benchSetup(b *testing.B) {
	b.Helper()
	bench.once.Do(func() {
		bench.err = func() error {
			dir, err := os.MkdirTemp("", "imapd-bench-")
			if err != nil {
				return err
			}
			bench.dir = dir
			st, err := mailstore.Open(dir, mailstore.Options{})
			if err != nil {
				return err
			}
			bench.store = st
			if _, err := st.ImportUser(context.Background(), "ann", cheapHash(), 0); err != nil {
				return err
			}
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for range 32 {
				wg.Go(func() {
					for i := int(next.Add(1)); i <= benchMessages; i = int(next.Add(1)) {
						m := benchMsg(i)
						if _, err := st.Deliver(context.Background(), "ann", strings.NewReader(m)); err != nil {
							errs <- err
							return
						}
						atomic.AddInt64(&bench.bytes, int64(len(m)))
					}
				})
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "imapd bench: delivered %d messages in %v\n", benchMessages, time.Since(start).Round(time.Millisecond))
			serverTLS, clientTLS := certstest.New(b)
			srv, err := New(Options{Auth: fastAuth{st}, TLSConfig: serverTLS})
			if err != nil {
				return err
			}
			bench.srv = srv
			l := listen(b)
			bench.addr = l.Addr().String()
			go srv.ServeTLS(l)
			bench.tls = &imapclient.Options{TLSConfig: clientTLS}
			return nil
		}()
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func benchClient(b *testing.B) *imapclient.Client {
	b.Helper()
	c, err := imapclient.DialTLS(bench.addr, bench.tls)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login("ann", "pw-ann").Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSelect: SELECT of a 10k-message INBOX (IMAP4rev1, so the first
// unseen message is looked up too).
func BenchmarkSelect(b *testing.B) {
	benchSetup(b)
	c := benchClient(b)
	b.ResetTimer()
	for b.Loop() {
		d, err := c.Select("INBOX", nil).Wait()
		if err != nil || d.NumMessages != benchMessages {
			b.Fatal(err, d)
		}
	}
}

// BenchmarkFetchEnvelope: what a client does on opening a folder:
// UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) over 10k messages.
func BenchmarkFetchEnvelope(b *testing.B) {
	benchSetup(b)
	c := benchClient(b)
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
		if err := cmd.Close(); err != nil || n != benchMessages {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchMessages), "ns/msg")
}

// BenchmarkFetchBody: BODY.PEEK[] of 1000 messages per operation, streamed.
func BenchmarkFetchBody(b *testing.B) {
	benchSetup(b)
	c := benchClient(b)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	b.SetBytes(bench.bytes * batch / benchMessages)
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
	benchSetup(b)
	c := benchClient(b)
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
	benchSetup(b)
	c := benchClient(b)
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

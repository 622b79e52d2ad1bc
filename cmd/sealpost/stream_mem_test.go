package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"sealpost/mailstore"
	"sealpost/mailstore/mailfmt"
)

// writeMbox writes an mbox of n small messages with one of bigMB MiB in
// the middle.
func writeMbox(tb testing.TB, path string, n, bigMB int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\n"
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "From s%d@example.org Mon Jan  5 09:01:02 2026\nSubject: m%d\nStatus: RO\n\nhello %d\n\n", i, i, i)
		if i == n/2 {
			w.WriteString("From big@example.org Mon Jan  5 09:01:02 2026\nSubject: big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
			for k := 0; k < bigMB<<20; k += len(line) {
				w.WriteString(line)
			}
			w.WriteString("\n")
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	return fi.Size()
}

// peakHeap samples the heap in use every few milliseconds while fn runs
// and returns how far it rose above where it started.
func peakHeap(fn func()) int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(3 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return int64(peak) - int64(base)
}

// Import and export through the control socket stream: with the client
// and the server in this process, neither side holds a whole message,
// however big, nor the whole mailbox.
func TestControlSocketStreams(t *testing.T) {
	const bigMB = 24
	st := openStore(t, 64<<20)
	cc := startControl(t, st)
	if _, err := cc.CreateUser(bg, "ann", "pw", 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "in.mbox")
	size := writeMbox(t, path, 200, bigMB)
	var imported int
	grew := peakHeap(func() {
		src, err := openSource("mbox", path, "INBOX", mailfmt.MboxRD)
		if err != nil {
			t.Fatal(err)
		}
		defer src.close()
		err = cc.Import(bg, "ann", src.next, func(r importResult) error {
			if r.Err != nil {
				t.Errorf("import: %v", r.Err)
			}
			if src.hadBody {
				imported++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("import of a %d MiB mbox (one %d MiB message) over the control socket: heap rose by at most %.1f MiB", size>>20, bigMB, float64(grew)/(1<<20))
	if imported != 201 {
		t.Fatalf("imported %d messages", imported)
	}
	if grew > 16<<20 {
		t.Errorf("heap rose by %d MiB importing a %d MiB message: not streaming", grew>>20, bigMB)
	}

	out := filepath.Join(t.TempDir(), "out")
	grew = peakHeap(func() {
		w := &mboxExport{root: out, variant: mailfmt.MboxRD}
		os.MkdirAll(out, 0o700)
		err := cc.Export(bg, "ann", "INBOX", func(mb mailstore.MailboxInfo, m *mailfmt.Message) error {
			if m == nil {
				return w.mailbox(mb.Name)
			}
			_, err := w.message(m)
			return err
		})
		if err == nil {
			err = w.close()
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("export of the same mailbox over the control socket: heap rose by at most %.1f MiB", float64(grew)/(1<<20))
	if grew > 16<<20 {
		t.Errorf("heap rose by %d MiB exporting a %d MiB message: not streaming", grew>>20, bigMB)
	}
	fi, err := os.Stat(filepath.Join(out, "INBOX"))
	if err != nil || fi.Size() < int64(bigMB)<<20 {
		t.Fatalf("exported mbox: %v %v", fi, err)
	}
}

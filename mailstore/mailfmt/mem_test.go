package mailfmt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// genMbox writes an mbox with one big message of bigMB MiB (base64-like
// lines) between n small ones, and returns its path and size.
func genMbox(tb testing.TB, n, bigMB int) (string, int64) {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "gen.mbox")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\n"
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "From sender%d@example.org Mon Jan  5 09:01:02 2026\nSubject: message %d\nStatus: RO\nX-Status: F\n\nhello %d\nFrom the body\n\n", i, i, i)
		if i == n/2 {
			fmt.Fprintf(w, "From big@example.org Mon Jan  5 09:01:02 2026\nSubject: big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
			for written := 0; written < bigMB<<20; written += len(line) {
				w.WriteString(line)
			}
			w.WriteString("\n")
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(p)
	return p, fi.Size()
}

// heapSampler is an io.Writer that discards and records the peak heap in
// use, sampled every MiB written.
type heapSampler struct {
	n, next int64
	peak    uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	if h.n >= h.next {
		h.next = h.n + 1<<20
		h.sample()
	}
	return len(p), nil
}

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapInuse)
}

// Reading a multi-MB mbox keeps the heap bounded by buffers, not by the
// size of the mailbox or of its largest message.
func TestMboxReaderMemory(t *testing.T) {
	const bigMB = 32
	path, size := genMbox(t, 400, bigMB)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	hs := &heapSampler{}
	r := NewMboxReader(f, "INBOX", MboxRD)
	msgs := 0
	var biggest int64
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(hs, m.Body)
		if err != nil {
			t.Fatal(err)
		}
		biggest = max(biggest, n)
		msgs++
		hs.sample()
	}
	if msgs != 401 || biggest < bigMB<<20 {
		t.Fatalf("read %d messages, biggest %d bytes", msgs, biggest)
	}
	grew := int64(hs.peak) - int64(base)
	t.Logf("mbox %d MiB, biggest message %d MiB: heap in use grew by at most %.1f MiB", size>>20, biggest>>20, float64(grew)/(1<<20))
	if grew > 8<<20 {
		t.Fatalf("heap grew by %d MiB reading a %d MiB message: not streaming", grew>>20, biggest>>20)
	}
}

func BenchmarkMboxRead(b *testing.B) {
	path, size := genMbox(b, 2000, 8)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r := NewMboxReader(f, "INBOX", MboxRD)
		for {
			m, err := r.Next()
			if err != nil {
				break
			}
			io.Copy(io.Discard, m.Body)
		}
		f.Close()
	}
}

func BenchmarkMboxWrite(b *testing.B) {
	body := "Subject: x\r\nFrom: a@b\r\n\r\n" + strings.Repeat("From here on, a line of text that needs quoting\r\n", 200)
	b.SetBytes(int64(len(body)))
	w := NewMboxWriter(io.Discard, MboxRD)
	for b.Loop() {
		w.Write(&Message{Body: strings.NewReader(body), Date: time.Unix(1e9, 0)})
	}
}

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
)

// walk parses raw with go-message and returns the media types of all
// parts (depth first) and the decoded text of the text/plain parts.
func walk(t *testing.T, raw []byte) (types []string, text string) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message.Read: %v", err)
	}
	var sb strings.Builder
	var visit func(e *message.Entity)
	visit = func(e *message.Entity) {
		mt, _, err := e.Header.ContentType()
		if err != nil {
			t.Fatalf("Content-Type: %v", err)
		}
		types = append(types, mt)
		if mr := e.MultipartReader(); mr != nil {
			n := 0
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("multipart %s: %v", mt, err)
				}
				visit(p)
				n++
			}
			if n == 0 {
				t.Fatalf("%s without parts", mt)
			}
			return
		}
		body, err := io.ReadAll(e.Body) // decodes base64 and charsets: fails on bad encoding
		if err != nil {
			t.Fatalf("body of %s: %v", mt, err)
		}
		if mt == "text/plain" {
			sb.Write(body)
		}
	}
	visit(e)
	return types, sb.String()
}

func TestMessagesAreValidMIME(t *testing.T) {
	g := newGenerator(1)
	kinds := map[string]int{}
	for i := range 150 {
		size := g.mixedSize(i)
		raw := g.message(i, size, fillHeader+": test")
		if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("message %d has a bare LF", i)
		}
		if !bytes.HasPrefix(raw, []byte(fillHeader+": test\r\n")) {
			t.Fatalf("message %d: extra header not first", i)
		}
		types, text := walk(t, raw)
		kinds[types[0]]++
		// SEARCH BODY relies on the needle being only in text, so that
		// every server finds the same messages.
		if bytes.Contains(bytes.ToLower(raw), []byte(needleWord)) && !strings.Contains(strings.ToLower(text), needleWord) {
			t.Fatalf("message %d: needle outside the text/plain part", i)
		}

		mr, err := mail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("message %d: mail.CreateReader: %v", i, err)
		}
		h := mr.Header
		if id, err := h.MessageID(); err != nil || id == "" {
			t.Errorf("message %d: Message-ID %q, %v", i, id, err)
		}
		if s, err := h.Subject(); err != nil || s == "" || strings.Contains(s, "=?") {
			t.Errorf("message %d: Subject %q not decoded: %v", i, s, err)
		}
		from, err := h.AddressList("From")
		if err != nil || len(from) != 1 || !strings.Contains(from[0].Address, "@") {
			t.Errorf("message %d: From %v, %v", i, from, err)
		}
		if _, err := h.Date(); err != nil {
			t.Errorf("message %d: Date: %v", i, err)
		}
		// Sizes land near the target (headers and base64 rounding aside).
		if d := len(raw) - size; d < -(size/50+1200) || d > size/10+1200 {
			t.Errorf("message %d: %d bytes for target %d", i, len(raw), size)
		}
	}
	for _, k := range []string{"text/plain", "multipart/alternative", "multipart/mixed"} {
		if kinds[k] == 0 {
			t.Errorf("no %s message among 150: %v", k, kinds)
		}
	}
}

func TestMessagesAreDeterministic(t *testing.T) {
	a, b := newGenerator(7), newGenerator(7)
	for _, i := range []int{0, 1, 99, 12345} {
		if !bytes.Equal(a.message(i, a.mixedSize(i)), b.message(i, b.mixedSize(i))) {
			t.Errorf("message %d differs between two generators with the same seed", i)
		}
	}
	if bytes.Equal(newGenerator(1).message(5, 8000), newGenerator(2).message(5, 8000)) {
		t.Error("seed does not change the messages")
	}
	if bytes.Equal(a.message(5, 8000), a.message(6, 8000)) {
		t.Error("two indexes gave the same message")
	}
}

func TestPlainHasExactSize(t *testing.T) {
	g := newGenerator(1)
	for _, size := range []int{1024, 4096, 4097, 65536} {
		for i := range 20 {
			raw := g.plain(i, size, benchHeader+": lmtp-1")
			if len(raw) != size {
				t.Fatalf("plain(%d, %d): %d bytes", i, size, len(raw))
			}
			if !bytes.HasSuffix(raw, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
				t.Fatalf("plain(%d, %d): broken line ends", i, size)
			}
			if types, _ := walk(t, raw); types[0] != "text/plain" {
				t.Fatalf("plain is %v", types)
			}
		}
	}
}

func TestBigMessage(t *testing.T) {
	const size = 2 << 20
	raw := newGenerator(1).bigMessage(0, size)
	if len(raw) < size*99/100 || len(raw) > size*101/100 {
		t.Fatalf("bigMessage: %d bytes for %d", len(raw), size)
	}
	types, _ := walk(t, raw)
	if len(types) != 3 || types[0] != "multipart/mixed" || types[1] != "text/plain" {
		t.Fatalf("structure %v", types)
	}
}

// The SEARCH BODY step needs the needle rare but present.
func TestNeedleFrequency(t *testing.T) {
	g := newGenerator(1)
	hits := 0
	const n = 1000
	for i := range n {
		if bytes.Contains(bytes.ToLower(g.message(i, 2048)), []byte(needleWord)) {
			hits++
		}
	}
	if hits < n/300 || hits > n/30 {
		t.Errorf("needle in %d of %d messages, want about 1%%", hits, n)
	}
}

func TestMixedSizeDistribution(t *testing.T) {
	g := newGenerator(1)
	var small, large, total int
	const n = 10000
	for i := range n {
		s := g.mixedSize(i)
		if s < 2048 || s > 204800 {
			t.Fatalf("size %d out of range", s)
		}
		if s < 10240 {
			small++
		}
		if s >= 51200 {
			large++
		}
		total += s
	}
	if small < n*55/100 || small > n*65/100 || large < n*12/100 || large > n*18/100 {
		t.Errorf("bands: %d small, %d large of %d", small, large, n)
	}
	if mean := total / n; mean < 15000 || mean > 35000 {
		t.Errorf("mean size %d", mean)
	}
}

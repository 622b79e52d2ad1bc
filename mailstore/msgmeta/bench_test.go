package msgmeta

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

// genMessage streams a multipart/mixed message with a text part and a
// base64 attachment of about size bytes, without holding it in memory.
type genMessage struct {
	head, tail []byte
	line       []byte // one base64 line, repeated
	lines      int    // base64 lines still to send
	cur        []byte // unread part of what is being sent
}

func newGenMessage(size int) *genMessage {
	head := crlf(`From: Ann <ann@example.com>
To: Bob <bob@example.org>, Carl <carl@example.net>
Subject: =?utf-8?q?Gro=C3=9Fe_Datei?=
Date: Mon, 02 Jan 2006 15:04:05 -0700
Message-ID: <big@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_b"

--=_b
Content-Type: text/plain; charset=utf-8

See attached.
--=_b
Content-Type: application/octet-stream; name="big.bin"
Content-Disposition: attachment; filename="big.bin"
Content-Transfer-Encoding: base64

`)
	line := []byte(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0", 3)[:76] + "\r\n")
	return &genMessage{
		head:  []byte(head),
		tail:  []byte("--=_b--\r\n"),
		line:  line,
		lines: max(0, size-len(head)) / len(line),
	}
}

func (g *genMessage) Read(p []byte) (int, error) {
	for len(g.cur) == 0 {
		switch {
		case g.head != nil:
			g.cur, g.head = g.head, nil
		case g.lines > 0:
			g.cur = g.line
			g.lines--
		case g.tail != nil:
			g.cur, g.tail = g.tail, nil
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.cur)
	g.cur = g.cur[n:]
	return n, nil
}

func readAll(t testing.TB, r io.Reader) []byte {
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenMessage(t *testing.T) {
	data := readAll(t, newGenMessage(100<<10))
	m, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, m)
	if len(m.Root.Children) != 2 || m.Root.Children[1].Lines < 1000 || m.Envelope.Subject != "Große Datei" {
		t.Fatalf("unexpected structure: %d children, envelope %+v", len(m.Root.Children), m.Envelope)
	}
}

// TestParseMemoryBounded parses a 50 MB message and checks that Parse
// allocated only a small, fixed amount in total (so it never held the
// body), however the garbage collector ran.
func TestParseMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB parse")
	}
	const size = 50 << 20
	g := newGenMessage(size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(g)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size < size-100 {
		t.Fatalf("parsed %d bytes", m.Size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("parsed %d MB with %d KB allocated in total", m.Size>>20, alloc>>10)
	if alloc > 8<<20 {
		t.Errorf("Parse allocated %d bytes for a %d byte message", alloc, m.Size)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"4KB", 4 << 10}, {"20MB", 20 << 20}} {
		data := readAll(b, newGenMessage(bc.size))
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNormalizeCRLF(b *testing.B) {
	data := readAll(b, newGenMessage(20<<20))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.Copy(io.Discard, NormalizeCRLF(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	e := sampleEnvelope()
	enc := EncodeEnvelope(&e)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEnvelope(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePart(b *testing.B) {
	m, err := Parse(strings.NewReader(crlf("Content-Type: multipart/mixed; boundary=m\n\n") + rfc822Body))
	if err != nil {
		b.Fatal(err)
	}
	enc := EncodePart(&m.Root)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePart(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseHostileMetadataBounded: the most parts, each an embedded message
// with a huge address header and Content-Type, must still give metadata of a
// few megabytes (the header budget), not hundreds.
func TestParseHostileMetadataBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("500 MB parse")
	}
	big := strings.Repeat("a@b, ", 250<<10/5)
	part := "--b\r\nContent-Type: message/rfc822\r\n\r\nTo: " + big + "\r\nContent-Type: text/plain; x=" + big + "\r\n\r\nz\r\n"
	readers := []io.Reader{strings.NewReader("Content-Type: multipart/mixed; boundary=b\r\n\r\n")}
	for range maxParts / 2 {
		readers = append(readers, strings.NewReader(part))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(io.MultiReader(readers...))
	if err != nil {
		t.Fatal(err)
	}
	enc := EncodePart(&m.Root)
	runtime.ReadMemStats(&after)
	checkInvariants(t, m)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MB message: %d parts, part encoding %d KB, %d MB allocated in total",
		m.Size>>20, len(m.Root.Children), len(enc)>>10, alloc>>20)
	if len(enc) > 16<<20 {
		t.Errorf("part encoding is %d bytes", len(enc))
	}
}

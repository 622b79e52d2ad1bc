package imapd

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-imap/v2"

	"sealpost/mailstore"
	"sealpost/mailstore/msgmeta"
)

func TestFilterHeader(t *testing.T) {
	hdr := "From: a@b\r\nSubject: one\r\n two\r\nX-A: 1\r\nno colon line\r\nx-a: 2\r\n\r\nbody: not header\r\n"
	for _, tc := range []struct {
		names []string
		not   bool
		want  string
	}{
		{[]string{"subject"}, false, "Subject: one\r\n two\r\n\r\n"},
		{[]string{"X-A", "from"}, false, "From: a@b\r\nX-A: 1\r\nx-a: 2\r\n\r\n"},
		{[]string{"Body"}, false, "\r\n"},
		{[]string{"subject", "x-a"}, true, "From: a@b\r\nno colon line\r\n\r\n"},
	} {
		if got := string(filterHeader([]byte(hdr), tc.names, tc.not)); got != tc.want {
			t.Errorf("filterHeader(%v, not=%v) = %q, want %q", tc.names, tc.not, got, tc.want)
		}
	}
}

func decodeAll(t *testing.T, enc, in string, oneByte bool) string {
	t.Helper()
	var r io.Reader = strings.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	d, ok := transferDecoder(enc, r)
	if !ok {
		t.Fatalf("no decoder for %q", enc)
	}
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecoders(t *testing.T) {
	data := bytes.Repeat([]byte("Grüße, café! \x00\xff\r\n"), 500)
	var b64 strings.Builder
	w := base64.NewEncoder(base64.StdEncoding, &b64)
	w.Write(data)
	w.Close()
	wrapped := ""
	for s := b64.String(); len(s) > 0; {
		n := min(76, len(s))
		wrapped += s[:n] + "\r\n"
		s = s[n:]
	}
	var qp bytes.Buffer
	qw := quotedprintable.NewWriter(&qp)
	qw.Write(data)
	qw.Close()
	for _, oneByte := range []bool{false, true} {
		if got := decodeAll(t, "base64", wrapped, oneByte); got != string(data) {
			t.Errorf("base64 (oneByte=%v) mismatch", oneByte)
		}
		if got := decodeAll(t, "Quoted-Printable", qp.String(), oneByte); got != string(data) {
			t.Errorf("quoted-printable (oneByte=%v) mismatch", oneByte)
		}
	}
	for _, tc := range []struct{ enc, in, want string }{
		{"base64", "QUJD!!R", "ABC"}, // junk skipped, short last group dropped
		{"base64", "QUI=\r\n", "AB"}, // padding
		{"base64", "QQ", "A"},        // unpadded
		{"quoted-printable", "a=3Db=\r\nc=\nd=ZZ=", "a=bcd=ZZ="},
		{"quoted-printable", "=", "="},
		{"7bit", "as is=3D", "as is=3D"},
	} {
		if got := decodeAll(t, tc.enc, tc.in, false); got != tc.want {
			t.Errorf("%s %q = %q, want %q", tc.enc, tc.in, got, tc.want)
		}
		if got := decodeAll(t, tc.enc, tc.in, true); got != tc.want {
			t.Errorf("%s %q one byte at a time = %q, want %q", tc.enc, tc.in, got, tc.want)
		}
	}
	if _, ok := transferDecoder("x-uuencode", nil); ok {
		t.Error("x-uuencode accepted")
	}
}

// FuzzDecoders: the decoders never fail or panic, and give the same bytes
// however the input is split (FETCH sizes them in one pass and sends them
// in another).
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{"QUJD", "a=3D=\r\n", "=", "==", "=\r", "\x00\xff=A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, enc := range []string{"base64", "quoted-printable"} {
			a := decodeAll(t, enc, s, false)
			if b := decodeAll(t, enc, s, true); a != b {
				t.Fatalf("%s: %q vs %q", enc, a, b)
			}
		}
	})
}

func FuzzHeader(f *testing.F) {
	f.Add([]byte("A: b\r\n c\r\nD: e\r\n\r\n"), "a")
	f.Add([]byte(":\n\n \r\n"), "")
	f.Fuzz(func(t *testing.T, hdr []byte, name string) {
		out := filterHeader(hdr, []string{name}, false)
		if !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("no final CRLF: %q", out)
		}
		filterHeader(hdr, []string{name}, true)
		parseFields(hdr)
	})
}

func TestFindPart(t *testing.T) {
	meta, err := msgmeta.Parse(strings.NewReader(mpMsg))
	if err != nil {
		t.Fatal(err)
	}
	root := &meta.Root
	for _, tc := range []struct {
		path []int
		typ  string
		ok   bool
	}{
		{[]int{1}, "text", true},
		{[]int{2}, "application", true},
		{[]int{3}, "message", true},
		{[]int{3, 1}, "text", true},
		{[]int{4}, "", false},
		{[]int{0}, "", false},
		{[]int{1, 1}, "", false},
		{[]int{3, 2}, "", false},
	} {
		p, ok := findPart(root, tc.path)
		if ok != tc.ok || ok && p.Type != tc.typ {
			t.Errorf("findPart(%v) = %v %v", tc.path, p, ok)
		}
	}
	// A single-part message has exactly part 1, its body.
	single, _ := msgmeta.Parse(strings.NewReader(testMsg("s", "body")))
	p, ok := findPart(&single.Root, []int{1})
	sp, _ := sectionSpan(&single.Root, single.Size, &imap.FetchItemBodySection{Part: []int{1}})
	if !ok || p != &single.Root || sp.off != single.Root.BodyStart {
		t.Errorf("part 1 of a single-part message: %v %v %v", p, ok, sp)
	}
}

func TestResolve(t *testing.T) {
	v := &mailboxView{uids: []mailstore.UID{2, 4, 6, 8, 10}, searchRes: []mailstore.UID{4, 10, 11}}
	seqs := func(refs []msgRef) (out []uint32) {
		for _, r := range refs {
			out = append(out, r.seq)
		}
		return out
	}
	for _, tc := range []struct {
		set  imap.NumSet
		want []uint32
	}{
		{imap.SeqSet{{Start: 1, Stop: 0}}, []uint32{1, 2, 3, 4, 5}},
		{imap.SeqSet{{Start: 0, Stop: 0}}, []uint32{5}},
		{imap.SeqSet{{Start: 4, Stop: 2}, {Start: 3, Stop: 3}, {Start: 9, Stop: 12}}, []uint32{2, 3, 4}},
		{imap.SeqSet{{Start: 7, Stop: 0}}, []uint32{5}},
		{imap.UIDSet{{Start: 3, Stop: 8}}, []uint32{2, 3, 4}},
		{imap.UIDSet{{Start: 11, Stop: 0}}, []uint32{5}}, // n:* includes the last
		{imap.UIDSet{{Start: 1, Stop: 1}, {Start: 12, Stop: 20}}, nil},
		{imap.SearchRes(), []uint32{2, 5}},
	} {
		got := seqs(v.resolve(tc.set))
		if !equalU32(got, tc.want) {
			t.Errorf("resolve(%v) = %v, want %v", tc.set, got, tc.want)
		}
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBodyStructureSanitized(t *testing.T) {
	// A multipart without children (as an older or foreign structure could
	// be) must not reach imapserver's writer, which panics on it.
	p := &msgmeta.Part{Type: "multipart", Subtype: "mixed", End: 10}
	if _, ok := toBodyStructure(p, 0).(*imap.BodyStructureSinglePart); !ok {
		t.Error("childless multipart kept")
	}
	p = &msgmeta.Part{Type: "message", Subtype: "rfc822", End: 10}
	sp := toBodyStructure(p, 0).(*imap.BodyStructureSinglePart)
	if sp.MessageRFC822 == nil || sp.MessageRFC822.Envelope == nil || sp.MessageRFC822.BodyStructure == nil {
		t.Error("message/rfc822 without envelope or body")
	}
}

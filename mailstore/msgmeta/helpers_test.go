package msgmeta

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// crlf turns the "\n" of a readable test literal into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// partAt finds a part by path: "" is the root, "2" its second child, "2.m"
// the message inside that child, "2.m.1" the first child of that message.
func partAt(root *Part, path string) (*Part, error) {
	p := root
	if path == "" {
		return p, nil
	}
	for _, step := range strings.Split(path, ".") {
		if step == "m" {
			if p.Message == nil {
				return nil, fmt.Errorf("%s: no message", path)
			}
			p = p.Message
			continue
		}
		i, err := strconv.Atoi(step)
		if err != nil || i < 1 || i > len(p.Children) {
			return nil, fmt.Errorf("%s: no child %s (have %d)", path, step, len(p.Children))
		}
		p = &p.Children[i-1]
	}
	return p, nil
}

// wantPart describes one part: its media type, its header and body as the
// offsets cut them from the input, and its line count.
type wantPart struct {
	path     string
	mtype    string // "type/subtype"
	header   string // input[HeaderStart:BodyStart]
	body     string // input[BodyStart:End]
	lines    int64
	children int // -1: don't check
}

func checkPart(t *testing.T, input string, root *Part, w wantPart) {
	t.Helper()
	p, err := partAt(root, w.path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := p.Type + "/" + p.Subtype; got != w.mtype {
		t.Errorf("part %q: type %q, want %q", w.path, got, w.mtype)
	}
	if p.HeaderStart < 0 || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > int64(len(input)) {
		t.Errorf("part %q: bad offsets %d %d %d (len %d)", w.path, p.HeaderStart, p.BodyStart, p.End, len(input))
		return
	}
	if got := input[p.HeaderStart:p.BodyStart]; got != w.header {
		t.Errorf("part %q: header %q, want %q", w.path, clip(got), clip(w.header))
	}
	if got := input[p.BodyStart:p.End]; got != w.body {
		t.Errorf("part %q: body %q, want %q", w.path, clip(got), clip(w.body))
	}
	if p.Lines != w.lines {
		t.Errorf("part %q: lines %d, want %d", w.path, p.Lines, w.lines)
	}
	if w.children >= 0 && len(p.Children) != w.children {
		t.Errorf("part %q: %d children, want %d", w.path, len(p.Children), w.children)
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:90] + fmt.Sprintf("...(%d bytes)...", len(s)-180) + s[len(s)-90:]
	}
	return s
}

// checkInvariants verifies what every Parse result promises, for the fuzz
// target and the table tests alike.
func checkInvariants(t *testing.T, m *Meta) {
	t.Helper()
	if m.Root.HeaderStart != 0 {
		t.Errorf("root HeaderStart %d", m.Root.HeaderStart)
	}
	if m.Root.End != m.Size {
		t.Errorf("root End %d, Size %d", m.Root.End, m.Size)
	}
	var walk func(p *Part, lo, hi int64, depth int)
	walk = func(p *Part, lo, hi int64, depth int) {
		if depth > 2*maxDepth+2 {
			t.Fatalf("nested %d deep", depth)
		}
		if p.Type == "" || p.Subtype == "" {
			t.Errorf("empty type %q/%q", p.Type, p.Subtype)
		}
		if p.HeaderStart < lo || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > hi {
			t.Errorf("offsets %d %d %d outside [%d,%d]", p.HeaderStart, p.BodyStart, p.End, lo, hi)
		}
		if p.Lines < 0 || p.Lines > p.Size() {
			t.Errorf("lines %d for size %d", p.Lines, p.Size())
		}
		if (p.Type == "multipart") != (len(p.Children) > 0) {
			t.Errorf("%s/%s with %d children", p.Type, p.Subtype, len(p.Children))
		}
		isMsg := p.Type == "message" && p.Subtype == "rfc822"
		if isMsg != (p.Message != nil) || isMsg != (p.Envelope != nil) {
			t.Errorf("%s/%s: message %v envelope %v", p.Type, p.Subtype, p.Message != nil, p.Envelope != nil)
		}
		if p.Message != nil {
			if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
				t.Errorf("message [%d,%d] in body [%d,%d]", p.Message.HeaderStart, p.Message.End, p.BodyStart, p.End)
			}
			walk(p.Message, p.BodyStart, p.End, depth+1)
		}
		prev := p.BodyStart
		for i := range p.Children {
			c := &p.Children[i]
			walk(c, prev, p.End, depth+1)
			prev = c.End
		}
	}
	walk(&m.Root, 0, m.Size, 0)
}

package msgmeta

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Limits. Past them Parse keeps going and keeps offsets exact, but describes
// less: structure stops nesting and headers stop being read.
const (
	// maxLine is the line buffer. A longer line is handled in pieces; only
	// the first piece can be a boundary or end a header.
	maxLine = 64 << 10
	// maxHeader caps the bytes of one header block that are parsed.
	maxHeader = 256 << 10
	// headerBudget caps the header bytes parsed over the whole message;
	// once spent, each further header is parsed up to minHeader bytes
	// (plus minHeader/4 of Content-* fields) only.
	// Together with maxParts this bounds the size of the metadata.
	headerBudget = 2 << 20
	minHeader    = 2 << 10
	// maxContentExtra is how many bytes of Content-* fields are still
	// parsed after a header's cap is reached.
	maxContentExtra = 16 << 10
	// maxDepth is the deepest a part may sit (the root is at depth 0); a
	// multipart or message/rfc822 at this depth is treated as a leaf.
	maxDepth = 30
	// maxParts caps the number of parts; after that, new boundaries are
	// treated as body content of the part that is open.
	maxParts = 2000
)

type frameKind uint8

const (
	kindLeaf      frameKind = iota
	kindMultipart           // multipart/* with a usable boundary
	kindMessage             // message/rfc822 parsed as an embedded message
)

// frame is a part that is still open: the stack holds the root at the
// bottom and the innermost part being read on top.
type frame struct {
	part     Part
	env      *Envelope // set for a message root (top-level or embedded)
	msgRoot  bool      // the root of a message: its header gives an Envelope
	inDigest bool      // a child of multipart/digest: default type message/rfc822
	depth    int
	inHeader bool
	kind     frameKind
	nlAtBody int64  // newlines read before BodyStart
	delim    []byte // "--" + boundary, for kindMultipart
	closed   bool   // close delimiter seen: what follows is the epilogue
}

type parser struct {
	stack []*frame
	root  *frame // the finished root, once popped

	pos           int64 // offset of the next byte
	nl            int64 // newlines read so far
	lineStart     int64 // offset where the current line began
	prevLineStart int64 // offset where the previous (terminated) line began
	prevTermLen   int64 // length of the previous line's terminator: 1 (LF) or 2 (CRLF)
	lastCR        bool  // the last byte read was CR

	openMultiparts int // multipart frames whose boundaries are live
	parts          int

	hdr          []byte // header bytes captured for the top frame
	hdrCap       int
	hdrExtra     int  // room for Content-* fields past hdrCap
	hdrFull      bool // hdrCap reached: only Content-* fields are kept now
	keepField    bool // the field being read is captured
	contentField bool // the field being read is a Content-* field
	budget       int
	addrBudget   int // addresses still to be kept, see maxAddresses
}

// readers recycles the line buffers, which dominate the cost of parsing a
// small message.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLine) }}

// Parse reads r to EOF (always, even when the MIME is broken) and returns
// the metadata. It returns an error only if reading r fails. It never
// panics, and memory stays bounded whatever the message size.
//
// r is expected in CRLF form (see NormalizeCRLF), but bare LF line ends are
// handled too; offsets are those of the input as given.
func Parse(r io.Reader) (*Meta, error) { return parse(r, true) }

// parse is Parse; with bulk false it feeds the body line by line too,
// which the tests compare the bulk path against.
func parse(r io.Reader, bulk bool) (*Meta, error) {
	p := &parser{budget: headerBudget, addrBudget: maxAddresses}
	p.push(&frame{msgRoot: true, inHeader: true})
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil) // drop r
		readers.Put(br)
	}()
	for {
		if bulk && !p.stack[len(p.stack)-1].inHeader {
			if n := p.bodyRun(br); n > 0 {
				br.Discard(n)
				continue
			}
		}
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			p.feed(line, err == nil || err == io.EOF)
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("msgmeta: read message: %w", err)
		}
	}
	for len(p.stack) > 0 {
		p.pop(p.pos, false)
	}
	m := &Meta{Root: p.root.part, Size: p.pos}
	if p.root.env != nil {
		m.Envelope = *p.root.env
	}
	return m, nil
}

// feed handles one line, or one piece of a line longer than maxLine.
// complete is false for a piece that does not end the line.
func (p *parser) feed(line []byte, complete bool) {
	atStart := p.pos == p.lineStart
	if atStart && complete && p.openMultiparts > 0 && len(line) >= 2 && line[0] == '-' && line[1] == '-' {
		if p.delimiter(line) {
			return
		}
	}
	top := p.stack[len(p.stack)-1]
	if !top.inHeader {
		p.advance(line)
		return
	}
	p.capture(line, atStart)
	p.advance(line)
	if atStart && isBlankLine(line) {
		p.endHeader(top)
	}
}

// bodyRun takes, in one step, the buffered body lines that feed would
// only advance over: whole lines up to the last LF buffered, and while a
// multipart is open, only up to the first line that starts with "--" (a
// possible boundary, which goes through feed). It returns how many bytes
// it took. In a large body this replaces a ReadSlice and a feed per line
// with a few vectorised scans per buffer.
func (p *parser) bodyRun(br *bufio.Reader) int {
	buf, _ := br.Peek(br.Buffered())
	buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	if p.openMultiparts > 0 {
		buf = buf[:dashLine(buf, p.pos == p.lineStart)]
	}
	if len(buf) == 0 {
		return 0
	}
	// The bookkeeping of advance for every line of buf, at once.
	n := int64(len(buf))
	p.prevLineStart = p.lineStart
	if i := bytes.LastIndexByte(buf[:n-1], '\n'); i >= 0 {
		p.prevLineStart = p.pos + int64(i) + 1
	}
	p.prevTermLen = 1
	if (n >= 2 && buf[n-2] == '\r') || (n == 1 && p.lastCR) {
		p.prevTermLen = 2
	}
	p.nl += int64(bytes.Count(buf, nl))
	p.lastCR = false
	p.pos += n
	p.lineStart = p.pos
	return int(n)
}

var nl = []byte("\n")

// dashLine returns the offset of the first line in buf that starts with
// "--" (buf starts a line if atStart), or len(buf). It looks for dashes,
// not for line ends: base64 has none, and text has few, so one IndexByte
// covers many lines.
func dashLine(buf []byte, atStart bool) int {
	for off := 0; off < len(buf); {
		i := bytes.IndexByte(buf[off:], '-')
		if i < 0 {
			break
		}
		i += off
		if i+1 < len(buf) && buf[i+1] == '-' && (i == 0 && atStart || i > 0 && buf[i-1] == '\n') {
			return i
		}
		off = i + 1
	}
	return len(buf)
}

// advance moves the position past line and keeps the line bookkeeping that
// offsets and line counts are computed from.
func (p *parser) advance(line []byte) {
	n := int64(len(line))
	if line[n-1] == '\n' {
		p.prevTermLen = 1
		if (n >= 2 && line[n-2] == '\r') || (n == 1 && p.lastCR) {
			p.prevTermLen = 2
		}
		p.prevLineStart = p.lineStart
		p.lineStart = p.pos + n
		p.nl++
	}
	p.lastCR = line[n-1] == '\r'
	p.pos += n
}

func isBlankLine(line []byte) bool {
	return (len(line) == 1 && line[0] == '\n') || (len(line) == 2 && line[0] == '\r' && line[1] == '\n')
}

// capture keeps the top frame's header bytes for parsing: everything up to
// hdrCap, then only Content-* fields, up to maxContentExtra more, so the MIME
// structure survives a bloated header. Any other field that does not fit is
// cut and its line ended; the rest of it is dropped.
func (p *parser) capture(line []byte, atStart bool) {
	if atStart && line[0] != ' ' && line[0] != '\t' {
		p.contentField = len(line) >= 8 && bytes.EqualFold(line[:8], []byte("content-"))
		p.keepField = !p.hdrFull || p.contentField
	}
	if !p.keepField {
		return
	}
	limit := p.hdrCap
	if p.hdrFull || p.contentField {
		limit += p.hdrExtra
	}
	if len(p.hdr)+len(line) <= limit {
		p.hdr = append(p.hdr, line...)
		p.hdrFull = p.hdrFull || len(p.hdr) > p.hdrCap
		return
	}
	if !p.hdrFull && !p.contentField {
		p.hdr = append(p.hdr, line[:max(0, limit-len(p.hdr))]...)
	}
	p.hdrFull = true
	if n := len(p.hdr); n > 0 && p.hdr[n-1] != '\n' {
		p.hdr = append(p.hdr, '\r', '\n')
	}
	p.keepField = false
}

// delimiter handles a line that may be a boundary of an open multipart
// (RFC 2046 §5.1.1). The innermost matching multipart wins; the parts open
// inside it end where the line break before the boundary line starts. It
// reports whether line was taken as a boundary.
func (p *parser) delimiter(line []byte) bool {
	for i := len(p.stack) - 1; i >= 0; i-- {
		f := p.stack[i]
		if f.kind != kindMultipart || f.closed {
			continue
		}
		isClose, ok := matchDelimiter(line, f.delim)
		if !ok {
			continue
		}
		if !isClose && p.parts >= maxParts {
			return false // content of whatever part is open
		}
		end := p.pos - p.prevTermLen
		for len(p.stack) > i+1 {
			p.pop(end, true)
		}
		p.advance(line)
		if isClose {
			f.closed = true
			p.openMultiparts--
			return true
		}
		p.push(&frame{
			part:     Part{HeaderStart: p.pos},
			inHeader: true,
			inDigest: f.part.Subtype == "digest",
			depth:    f.depth + 1,
		})
		return true
	}
	return false
}

// matchDelimiter reports whether line is "--boundary" or "--boundary--"
// followed only by linear white space and the line end.
func matchDelimiter(line, delim []byte) (isClose, ok bool) {
	if !bytes.HasPrefix(line, delim) {
		return false, false
	}
	rest := line[len(delim):]
	if len(rest) >= 2 && rest[0] == '-' && rest[1] == '-' {
		isClose = true
		rest = rest[2:]
	}
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	rest = bytes.TrimSuffix(rest, []byte("\r"))
	for _, c := range rest {
		if c != ' ' && c != '\t' {
			return false, false
		}
	}
	return isClose, true
}

func (p *parser) push(f *frame) {
	p.parts++
	p.stack = append(p.stack, f)
	p.hdr = p.hdr[:0]
	p.hdrFull, p.keepField, p.contentField = false, true, false
	p.hdrCap, p.hdrExtra = maxHeader, maxContentExtra
	if p.budget < p.hdrCap {
		p.hdrCap, p.hdrExtra = max(p.budget, minHeader), minHeader/4
	}
}

// parseHeader fills f from the captured header bytes.
func (p *parser) parseHeader(f *frame) {
	p.budget -= len(p.hdr)
	h := readHeader(p.hdr)
	partFields(h, &f.part, f.inDigest)
	if f.msgRoot {
		f.env = parseEnvelope(h, &p.addrBudget)
	}
}

// endHeader is called after the blank line that ends the top frame's
// header: it parses the header and decides how to read the body.
func (p *parser) endHeader(f *frame) {
	f.inHeader = false
	f.part.BodyStart = p.pos
	f.nlAtBody = p.nl
	p.parseHeader(f)
	if f.depth >= maxDepth {
		return
	}
	switch {
	case f.part.Type == "multipart":
		b := f.part.Params["boundary"]
		if b == "" || len(b) > maxLine-8 {
			return
		}
		f.kind = kindMultipart
		f.delim = append([]byte("--"), b...)
		p.openMultiparts++
	case f.part.Type == "message" && f.part.Subtype == "rfc822" && plainEncoding(f.part.Encoding):
		if p.parts >= maxParts {
			return
		}
		f.kind = kindMessage
		p.push(&frame{
			part:     Part{HeaderStart: p.pos},
			msgRoot:  true,
			inHeader: true,
			depth:    f.depth + 1,
		})
	}
}

// plainEncoding reports whether a body in this transfer encoding can be read
// as it is (RFC 2046 §5.2.1 allows only these for message/rfc822).
func plainEncoding(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// pop finishes the top frame at offset end and attaches it to its parent.
// cut says that end is the start of the line break before a boundary line
// rather than the current position (EOF).
func (p *parser) pop(end int64, cut bool) {
	f := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if f.inHeader {
		// The header never ended: everything up to end is header.
		f.inHeader = false
		end = max(end, f.part.HeaderStart)
		f.part.BodyStart = end
		p.parseHeader(f)
	}
	if f.kind == kindMultipart && !f.closed {
		p.openMultiparts--
	}
	// A part never ends before its body starts, nor before its last child
	// ends: "--inner CRLF --outer" leaves an empty inner part that starts
	// after the line break the outer boundary claims.
	end = max(end, f.part.BodyStart)
	if n := len(f.part.Children); n > 0 {
		end = max(end, f.part.Children[n-1].End)
	}
	if f.part.Message != nil {
		end = max(end, f.part.Message.End)
	}
	f.part.End = end
	f.part.Lines = p.lines(f, end, cut)
	sanitize(&f.part)

	if len(p.stack) == 0 {
		p.root = f
		return
	}
	parent := p.stack[len(p.stack)-1]
	if parent.kind == kindMessage {
		parent.part.Message = &f.part
		parent.part.Envelope = f.env
		if parent.part.Envelope == nil {
			parent.part.Envelope = &Envelope{}
		}
		return
	}
	parent.part.Children = append(parent.part.Children, f.part)
}

// lines counts the lines of f's body [BodyStart, end): newlines plus one for
// a last line without a line break.
func (p *parser) lines(f *frame, end int64, cut bool) int64 {
	bs := f.part.BodyStart
	if end <= bs {
		return 0
	}
	if cut && end > p.pos-p.prevTermLen {
		cut = false // end was pushed up to the current position
	}
	n := p.nl - f.nlAtBody
	tail := p.lineStart
	if cut {
		// end sits before the line break of the previous line.
		n--
		tail = p.prevLineStart
	}
	if end > max(tail, bs) {
		n++
	}
	return n
}

// sanitize makes a finished part safe to present: a multipart without
// children becomes a text/plain leaf (keeping its charset, if any), and a
// message/rfc822 that was not parsed gets an empty envelope and a text/plain
// message covering its body.
func sanitize(pt *Part) {
	switch {
	case pt.Type == "multipart" && len(pt.Children) == 0:
		pt.Type, pt.Subtype = "text", "plain"
		cs, ok := pt.Params["charset"]
		pt.Params = nil
		if ok {
			pt.Params = map[string]string{"charset": cs}
		}
	case pt.Type == "message" && pt.Subtype == "rfc822" && pt.Message == nil:
		pt.Envelope = &Envelope{}
		pt.Message = &Part{
			Type: "text", Subtype: "plain",
			HeaderStart: pt.BodyStart, BodyStart: pt.BodyStart, End: pt.End,
			Lines: pt.Lines,
		}
	}
}

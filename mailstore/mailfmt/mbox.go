package mailfmt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
)

// MboxVariant says how "From " lines inside messages are quoted.
type MboxVariant int

const (
	// MboxRD (mboxrd) quotes every line matching ^>*From by adding one
	// '>', so reading removes exactly one: the quoting is reversible.
	MboxRD MboxVariant = iota
	// MboxO (mboxo) quotes only ^From lines; on reading, one '>' is
	// removed from ^>From lines (an original ">From " cannot be told apart).
	MboxO
)

// ParseMboxVariant accepts "mboxrd" and "mboxo".
func ParseMboxVariant(s string) (MboxVariant, error) {
	switch strings.ToLower(s) {
	case "mboxrd", "rd", "":
		return MboxRD, nil
	case "mboxo", "o":
		return MboxO, nil
	}
	return 0, fmt.Errorf("mbox variant %q: want mboxrd or mboxo", s)
}

func (v MboxVariant) String() string {
	if v == MboxO {
		return "mboxo"
	}
	return "mboxrd"
}

var fromPrefix = []byte("From ")

// quoted reports whether line is a quoted From line that reading unquotes.
func (v MboxVariant) quoted(line []byte) bool {
	if v == MboxO {
		return len(line) > 5 && line[0] == '>' && bytes.HasPrefix(line[1:], fromPrefix)
	}
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], fromPrefix)
}

// needsQuote reports whether writing must quote line.
func (v MboxVariant) needsQuote(line []byte) bool {
	if v == MboxO {
		return bytes.HasPrefix(line, fromPrefix)
	}
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return bytes.HasPrefix(line[i:], fromPrefix)
}

// MboxReader reads the messages of one mbox file, one at a time.
//
// A message starts at a line beginning with "From " that opens the file or
// follows an empty line; that empty line belongs to the separator, not to
// the message. When the file is seekable (an *os.File) and a message has a
// Content-Length header that points exactly at the next separator or the
// end (Dovecot's and Solaris' mboxcl2), the body is taken by length and not
// unquoted, as those writers do not quote.
type MboxReader struct {
	br      *bufio.Reader
	ra      io.ReaderAt
	base    int64 // offset of the reader's start in ra
	variant MboxVariant
	mailbox string
	off     int64  // bytes consumed from br
	from    []byte // the next message's From_ line, once read
	body    io.Reader
	started bool
	eof     bool
	err     error
}

const lineBuf = 64 << 10

// NewMboxReader reads r as an mbox whose messages go to mailbox.
func NewMboxReader(r io.Reader, mailbox string, variant MboxVariant) *MboxReader {
	mr := &MboxReader{br: bufio.NewReaderSize(r, lineBuf), variant: variant, mailbox: mailbox}
	if ra, ok := r.(io.ReaderAt); ok {
		if s, ok := r.(io.Seeker); ok {
			if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
				mr.ra, mr.base = ra, pos
			}
		}
	}
	return mr
}

// Offset returns how many bytes of the input have been consumed.
func (r *MboxReader) Offset() int64 { return r.off }

// readLine returns the next line with its terminator. A line longer than
// the buffer comes in pieces: complete is false for all but the last. The
// last line of the input may lack a terminator; it is complete.
func (r *MboxReader) readLine() (line []byte, complete bool, err error) {
	line, err = r.br.ReadSlice('\n')
	r.off += int64(len(line))
	switch {
	case err == nil:
		return line, true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return line, false, nil
	case errors.Is(err, io.EOF) && len(line) > 0:
		return line, true, nil
	}
	return nil, false, err
}

// Next returns the next message, or io.EOF after the last one. The
// previous message's Body is drained and becomes invalid.
func (r *MboxReader) Next() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.body != nil {
		_, err := io.Copy(io.Discard, r.body)
		r.body = nil
		if err != nil {
			r.err = err
			return nil, err
		}
	}
	if !r.started {
		r.started = true
		if err := r.first(); err != nil {
			r.err = err
			return nil, err
		}
	}
	if r.from == nil {
		return nil, io.EOF
	}
	date := ParseFromLine(string(r.from))
	r.from = nil

	hp := newHeaderParser()
	b := &mboxBody{r: r}
	for {
		if r.eof {
			b.done = true
			break
		}
		line, complete, err := r.readLine()
		if errors.Is(err, io.EOF) {
			r.eof = true
			continue
		}
		if err != nil {
			r.err = err
			return nil, err
		}
		if !complete || len(hp.kept)+len(line) > maxHeader {
			b.first, b.mid = bytes.Clone(line), !complete // too big to parse: stream the rest
			break
		}
		if bytes.HasPrefix(line, fromPrefix) {
			if hp.name == "" && len(hp.kept) == 0 {
				continue // a repeated envelope line, as some archives have
			}
			// Not a header line: the next message (this one has no body).
			r.from = bytes.Clone(line)
			b.done = true
			break
		}
		done, bad := hp.feed(line)
		if bad {
			b.first = bytes.Clone(line)
			break
		}
		if done {
			b.prevBlank = true // a From_ line right after the header starts a new message
			break
		}
	}
	hp.field()
	if date.IsZero() && hp.date != "" {
		if d, err := mail.ParseDate(hp.date); err == nil {
			date = d
		}
	}
	var body io.Reader = b
	if !b.done && b.first == nil && hp.complete && hp.clen >= 0 && r.lengthFits(hp.clen) {
		body = &lengthBody{r: r, left: hp.clen}
	}
	r.body = body
	return &Message{
		Mailbox: r.mailbox,
		Flags:   hp.flags,
		Date:    date,
		Body:    io.MultiReader(bytes.NewReader(hp.kept), body),
		Size:    -1,
	}, nil
}

// first reads up to the first From_ line. Leading empty lines are
// tolerated; an empty file is an empty mailbox.
func (r *MboxReader) first() error {
	for {
		line, complete, err := r.readLine()
		if errors.Is(err, io.EOF) {
			r.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if complete && isBlankLine(line) {
			continue
		}
		if !complete || !bytes.HasPrefix(line, fromPrefix) {
			return fmt.Errorf("%w: mbox does not start with a \"From \" line", ErrFormat)
		}
		r.from = bytes.Clone(line)
		return nil
	}
}

// lengthFits reports whether a body of n bytes starting here ends exactly
// before a separator ("\nFrom ") or at the end of the file.
func (r *MboxReader) lengthFits(n int64) bool {
	if r.ra == nil {
		return false
	}
	var buf [8]byte
	k, err := r.ra.ReadAt(buf[:], r.base+r.off+n)
	got := buf[:k]
	switch {
	case k == 0 && errors.Is(err, io.EOF):
		return true
	case bytes.HasPrefix(got, []byte("\nFrom ")), bytes.HasPrefix(got, []byte("\r\nFrom ")):
		return true
	case errors.Is(err, io.EOF) && (isBlankLine(got)):
		return true
	}
	return false
}

// mboxBody streams a message body up to the next separator, unquoting
// From lines. An empty line is held back until the next line shows
// whether it was content or the separator's.
type mboxBody struct {
	r         *MboxReader
	buf, out  []byte
	held      []byte // an empty line not yet known to be content
	first     []byte // a line already read while parsing the header
	prevBlank bool
	mid       bool // inside a line longer than the buffer
	done      bool
	err       error
}

func (b *mboxBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.fill()
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *mboxBody) fill() {
	r := b.r
	var line []byte
	complete := true
	if b.first != nil {
		line, complete, b.first = b.first, !b.mid, nil
		b.mid = false
	} else {
		if r.eof {
			b.done = true
			return
		}
		var err error
		line, complete, err = r.readLine()
		if errors.Is(err, io.EOF) {
			r.eof, b.done = true, true // a held empty line was the last separator
			return
		}
		if err != nil {
			b.err = err
			return
		}
		if b.mid { // the rest of a long line
			b.out = append(b.buf[:0], line...)
			b.mid = !complete
			return
		}
	}
	b.out = b.buf[:0]
	if complete && isBlankLine(line) {
		b.out = append(b.out, b.held...)
		b.held = append(b.held[:0], line...)
		b.prevBlank = true
		return
	}
	if b.prevBlank && complete && bytes.HasPrefix(line, fromPrefix) {
		r.from = bytes.Clone(line)
		b.done = true
		return
	}
	b.out = append(b.out, b.held...)
	b.held, b.prevBlank = b.held[:0], false
	if r.variant.quoted(line) {
		line = line[1:]
	}
	b.out = append(b.out, line...)
	b.buf = b.out[:0]
	b.mid = !complete
}

// lengthBody streams a Content-Length body verbatim, then consumes the
// separator and the next From_ line.
type lengthBody struct {
	r    *MboxReader
	left int64
	done bool
}

func (l *lengthBody) Read(p []byte) (int, error) {
	r := l.r
	if l.left > 0 {
		if int64(len(p)) > l.left {
			p = p[:l.left]
		}
		n, err := r.br.Read(p)
		r.off += int64(n)
		l.left -= int64(n)
		if errors.Is(err, io.EOF) && l.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		return n, nil
	}
	if !l.done {
		l.done = true
		for !r.eof {
			line, complete, err := r.readLine()
			if errors.Is(err, io.EOF) {
				r.eof = true
				break
			}
			if err != nil {
				return 0, err
			}
			if complete && bytes.HasPrefix(line, fromPrefix) {
				r.from = bytes.Clone(line)
				break
			}
		}
	}
	return 0, io.EOF
}

// fromLayouts are the date forms seen after the sender in From_ lines:
// asctime, with or without a zone (RFC 4155 §2 says UTC, many write local
// time), and without seconds.
var fromLayouts = []string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 2006 MST",
	"Mon Jan 2 15:04 2006",
	"Mon Jan 2 15:04 MST 2006",
}

// ParseFromLine returns the date of an mbox From_ line ("From sender
// asctime-date"), or the zero time when it has none. A date without a zone
// is read as local time, as the writing machine's mail tools did.
func ParseFromLine(line string) time.Time {
	line = strings.TrimRight(line, "\r\n")
	rest, ok := strings.CutPrefix(line, "From ")
	if !ok {
		return time.Time{}
	}
	if i := strings.Index(rest, " remote from "); i >= 0 { // UUCP
		rest = rest[:i]
	}
	f := strings.Fields(rest)
	if len(f) > 12 {
		f = f[len(f)-12:]
	}
	// The sender is the first field, or more if it contained spaces.
	for k := 1; k < len(f); k++ {
		s := strings.Join(f[k:], " ")
		for _, l := range fromLayouts {
			if t, err := time.ParseInLocation(l, s, time.Local); err == nil && t.Year() >= 1970 && t.Year() < 2200 {
				return t
			}
		}
	}
	return time.Time{}
}

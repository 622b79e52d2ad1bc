package mailfmt

import (
	"bytes"
	"strconv"
	"strings"
)

// maxHeader caps the header block a reader or writer holds in memory;
// past it the rest of the message streams through unparsed.
const maxHeader = 1 << 20

// headerParser reads a message's header block line by line, collecting
// the mbox status flags and the fields the readers and writers need, and
// keeping every other line as it came.
type headerParser struct {
	kept     []byte // lines of fields that are not hidden, as they came
	flags    []string
	clen     int64 // Content-Length, -1 if absent or bad
	retPath  string
	date     string
	name     string // field being read
	value    string
	hidden   bool
	complete bool // the blank line ending the block was seen
}

func newHeaderParser() *headerParser { return &headerParser{clen: -1} }

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// feed takes one complete line (with its terminator). It returns done once
// the block ended; bad means line is not a header line at all and was not
// consumed (the block ended before it without a blank line).
func (h *headerParser) feed(line []byte) (done, bad bool) {
	if isBlankLine(line) {
		h.field()
		h.kept = append(h.kept, line...)
		h.complete = true
		return true, false
	}
	if line[0] == ' ' || line[0] == '\t' {
		if h.name == "" {
			return true, true
		}
		h.value += " " + strings.TrimSpace(string(line))
		if !h.hidden {
			h.kept = append(h.kept, line...)
		}
		return false, false
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
		h.field()
		return true, true
	}
	h.field()
	h.name = string(line[:colon])
	h.value = strings.TrimSpace(string(line[colon+1:]))
	h.hidden = hiddenHeaders[strings.ToLower(h.name)]
	if !h.hidden {
		h.kept = append(h.kept, line...)
	}
	return false, false
}

// field finishes the field being read.
func (h *headerParser) field() {
	if h.name == "" {
		return
	}
	switch strings.ToLower(h.name) {
	case "content-length":
		if n, err := strconv.ParseInt(h.value, 10, 64); err == nil && n >= 0 {
			h.clen = n
		}
	case "return-path":
		if h.retPath == "" {
			h.retPath = h.value
		}
	case "date":
		if h.date == "" {
			h.date = h.value
		}
	default:
		h.flags = StatusFlags(h.flags, h.name, h.value)
	}
	h.name = ""
}

package mailfmt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// MaildirWriter writes messages into a Maildir++ tree: INBOX at the root,
// other folders as ".A.B" directories with a maildirfolder marker, files in
// cur/ named "<time>.M<usec>P<pid>Q<n>.sealpost,S=<size>:2,<flags>" with
// the internal date as mtime, and keywords in each folder's
// dovecot-keywords (at most 26 per folder, as in Dovecot). Line ends are
// written as LF.
type MaildirWriter struct {
	root    string
	folders map[string]*mdFolder
	pid     int
}

type mdFolder struct {
	dir     string
	kw      []string
	index   map[string]int
	changed bool
}

var maildirSeq atomic.Uint64

// NewMaildirWriter writes into root (created if needed).
func NewMaildirWriter(root string) *MaildirWriter {
	return &MaildirWriter{root: root, folders: map[string]*mdFolder{}, pid: os.Getpid()}
}

// Folder creates a folder (for empty mailboxes) and returns its directory.
func (w *MaildirWriter) Folder(mailbox string) (string, error) {
	f, err := w.folder(mailbox)
	if err != nil {
		return "", err
	}
	return f.dir, nil
}

func (w *MaildirWriter) folder(mailbox string) (*mdFolder, error) {
	if f := w.folders[mailbox]; f != nil {
		return f, nil
	}
	sub := MaildirPlusPlusDir(mailbox)
	dir := filepath.Join(w.root, sub)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if sub != "" {
		if err := os.WriteFile(filepath.Join(dir, "maildirfolder"), nil, 0o600); err != nil {
			return nil, err
		}
	}
	f := &mdFolder{dir: dir, index: map[string]int{}}
	w.folders[mailbox] = f
	return f, nil
}

func (f *mdFolder) keyword(k string) int {
	if n, ok := f.index[strings.ToLower(k)]; ok {
		return n
	}
	if len(f.kw) >= 26 {
		return -1
	}
	f.kw = append(f.kw, k)
	f.index[strings.ToLower(k)] = len(f.kw) - 1
	f.changed = true
	return len(f.kw) - 1
}

// Write stores one message. dropped lists keywords that did not fit.
func (w *MaildirWriter) Write(m *Message) (n int64, dropped []string, err error) {
	f, err := w.folder(m.Mailbox)
	if err != nil {
		return 0, nil, err
	}
	letters, dropped := MaildirLetters(m.Flags, f.keyword)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	q := maildirSeq.Add(1)
	unique := fmt.Sprintf("%d.M%06dP%dQ%d.sealpost", date.Unix(), date.Nanosecond()/1000, w.pid, q)
	tmp := filepath.Join(f.dir, "tmp", unique)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, dropped, err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	n, err = io.Copy(bw, NewLFReader(m.Body))
	if err == nil {
		err = bw.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, dropped, err
	}
	final := filepath.Join(f.dir, "cur", fmt.Sprintf("%s,S=%d:2,%s", unique, n, letters))
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return 0, dropped, err
	}
	if err := os.Chtimes(final, date, date); err != nil {
		return n, dropped, err
	}
	return n, dropped, nil
}

// Close writes the keyword files.
func (w *MaildirWriter) Close() error {
	var errs []error
	for _, f := range w.folders {
		if !f.changed {
			continue
		}
		errs = append(errs, os.WriteFile(filepath.Join(f.dir, "dovecot-keywords"), []byte(FormatKeywordsFile(f.kw)), 0o600))
		f.changed = false
	}
	return errors.Join(errs...)
}

// NewLFReader turns CRLF line ends into LF, as Unix mail files keep them.
// A CR not followed by LF is kept.
func NewLFReader(r io.Reader) io.Reader { return &lfReader{r: r} }

type lfReader struct {
	r      io.Reader
	buf    [32 << 10]byte
	out    []byte
	heldCR bool // the last byte read was a CR not yet written
	err    error
}

func (l *lfReader) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.err != nil {
			if l.heldCR {
				l.heldCR = false
				l.out = append(l.buf[:0], '\r')
				break
			}
			return 0, l.err
		}
		start := 0
		if l.heldCR {
			l.buf[0] = '\r'
			start = 1
		}
		n, err := l.r.Read(l.buf[start:])
		l.err = err
		b := l.buf[:start+n]
		l.heldCR = false
		if n == 0 && start == 1 && err == nil {
			l.heldCR = true
			continue
		}
		o := b[:0]
		for i := 0; i < len(b); i++ {
			if b[i] == '\r' {
				if i+1 == len(b) {
					if err == nil {
						l.heldCR = true
						break
					}
				} else if b[i+1] == '\n' {
					continue
				}
			}
			o = append(o, b[i])
		}
		l.out = o
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

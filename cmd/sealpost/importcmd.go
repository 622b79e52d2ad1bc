package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"sealpost/mailstore/mailfmt"
)

const importUsage = `Usage: sealpost import USER maildir|mbox PATH [--mailbox NAME] [--mbox-variant mboxrd|mboxo] [--data DIR | --config FILE]

Imports mail into USER's mailboxes, keeping flags, internal dates and the
folder tree. Missing mailboxes are created and subscribed.

  maildir PATH  a Maildir: INBOX in PATH (cur/, new/), Maildir++ folders
                (.Sent, .Work.Projects) and Dovecot LAYOUT=fs subfolders,
                with modified UTF-7 names decoded. Flags come from the file
                names (":2,FRS"; P = $Forwarded), keywords from
                dovecot-keywords, dates from the files' mtimes, the order
                from dovecot-uidlist when there is one.
  mbox PATH     one mbox file (into INBOX, or --mailbox NAME), or a directory
                of them (Dovecot's ~/mail, Thunderbird's folders with .sbd
                subdirectories). Flags come from Status, X-Status and
                X-Keywords (which are removed from the messages), dates from
                the From_ lines. Dovecot's Content-Length is honoured.

Works while "sealpost serve" runs and while it is stopped. With the server
running, this command reads the files (so it needs read access to them,
the server does not) and streams the messages one at a time to the server
over its control socket. Memory use does not depend on the size of the
mailbox or of any message. There is no duplicate detection: importing the
same mail twice stores it twice.

Flags:
  --mailbox NAME       target of a single mbox file (default INBOX)
  --mbox-variant V     mboxrd (default): one '>' is removed from every
                       ">...>From " line; mboxo: only from ">From " lines
  --data DIR           data directory (default ./sealpost-data)
  --config FILE        read data_dir from this config file

Exit status: 0 if every message was imported, 1 otherwise.

Examples:
  sealpost import ann maildir /home/ann/Maildir
  sealpost import ann mbox /var/mail/ann
  sealpost import ann mbox /home/ann/mail
  sealpost import ann mbox list-archive.mbox --mailbox Archive/lists --mbox-variant mboxo
`

func cmdImport(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("import", importUsage, stderr)
	mailbox := f.String("mailbox", "INBOX", "target mailbox of a single mbox file")
	variant := f.String("mbox-variant", "mboxrd", "mboxrd or mboxo")
	pos, code, ok := f.parse(args, 3, 3, stdout, stderr)
	if !ok {
		return code
	}
	user, format, path := pos[0], pos[1], pos[2]
	v, err := mailfmt.ParseMboxVariant(*variant)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost import:", err)
		return 2
	}
	src, err := openSource(format, path, *mailbox, v)
	if err != nil {
		return fail(stderr, "import", err)
	}
	defer src.close()
	for _, p := range src.skipped {
		fmt.Fprintf(stderr, "sealpost import: skipping %s: not an mbox file\n", p)
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "import", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "import", err)
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	prog := newProgress(stderr, "import", src.total)
	var imported, failed int64
	boxes := map[string]bool{}
	last := int64(0)
	err = admin.Import(ctx, user, src.next, func(res importResult) error {
		p := src.pos()
		isMsg := src.hadBody
		if res.Err != nil {
			failed++
			prog.fail()
			fmt.Fprintf(stderr, "\nsealpost import: %s: %v\n", src.where(), res.Err)
		} else if isMsg {
			imported++
			boxes[res.Mailbox] = true
		}
		if isMsg {
			prog.add(1, p-last)
		}
		last = p
		return nil
	})
	prog.done()
	fmt.Fprintf(stdout, "imported %d messages (%s) into %d mailboxes of %s", imported, humanBytes(last), len(boxes), user)
	if failed > 0 {
		fmt.Fprintf(stdout, "; %d failed", failed)
	}
	fmt.Fprintln(stdout)
	if err != nil {
		return fail(stderr, "import", err)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// importSource yields the messages of a maildir or mbox source, after one
// body-less message per folder so that empty folders are created too.
type importSource struct {
	total   int64
	folders []string
	read    func() (*mailfmt.Message, error)
	offset  func() int64 // source bytes consumed so far
	desc    func() string
	closeFn func()
	hadBody bool     // the last message returned had a body
	skipped []string // files in an mbox tree that are not mbox files
}

func (s *importSource) next() (*mailfmt.Message, error) {
	if len(s.folders) > 0 {
		name := s.folders[0]
		s.folders = s.folders[1:]
		s.hadBody = false
		return &mailfmt.Message{Mailbox: name}, nil
	}
	m, err := s.read()
	s.hadBody = err == nil
	return m, err
}

func (s *importSource) pos() int64    { return s.offset() }
func (s *importSource) where() string { return s.desc() }
func (s *importSource) close() {
	if s.closeFn != nil {
		s.closeFn()
	}
}

func openSource(format, path, mailbox string, v mailfmt.MboxVariant) (*importSource, error) {
	switch format {
	case "maildir":
		return maildirSource(path)
	case "mbox":
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			files, skipped, err := mailfmt.MboxTree(path)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no mbox files found", path)
			}
			src := mboxSource(files, v)
			src.skipped = skipped
			return src, nil
		}
		return mboxSource([]mailfmt.MboxFile{{Name: mailbox, Path: path, Size: fi.Size()}}, v), nil
	}
	return nil, fmt.Errorf("unknown source format %q: want maildir or mbox", format)
}

func maildirSource(root string) (*importSource, error) {
	r, err := mailfmt.NewMaildirReader(root)
	if err != nil {
		return nil, err
	}
	src := &importSource{closeFn: func() { r.Close() }}
	for _, f := range r.Folders() {
		src.folders = append(src.folders, f.Name)
		ents, err := mailfmt.ListMaildirFolder(f)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			src.total += e.Size
		}
	}
	var done int64
	var cur string
	src.read = func() (*mailfmt.Message, error) {
		m, err := r.Next()
		if err == nil {
			done += m.Size
			if f, ok := m.Body.(*os.File); ok {
				cur = f.Name()
			}
		}
		return m, err
	}
	src.offset = func() int64 { return done }
	src.desc = func() string { return cur }
	return src, nil
}

func mboxSource(files []mailfmt.MboxFile, v mailfmt.MboxVariant) *importSource {
	src := &importSource{}
	for _, f := range files {
		src.total += f.Size
		src.folders = append(src.folders, f.Name)
	}
	var (
		i      = -1
		file   *os.File
		r      *mailfmt.MboxReader
		before int64 // bytes of the files already read
		n      int   // message number in the current file
		at     int64 // offset where the current message starts
	)
	src.closeFn = func() {
		if file != nil {
			file.Close()
		}
	}
	src.read = func() (*mailfmt.Message, error) {
		for {
			if r != nil {
				at = r.Offset()
				m, err := r.Next()
				if err == nil {
					n++
					return m, nil
				}
				if !errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%s: %w", files[i].Path, err)
				}
				before += files[i].Size
				file.Close()
				file, r = nil, nil
			}
			i++
			if i >= len(files) {
				return nil, io.EOF
			}
			f, err := os.Open(files[i].Path)
			if err != nil {
				return nil, err
			}
			file, r, n = f, mailfmt.NewMboxReader(f, files[i].Name, v), 0
		}
	}
	src.offset = func() int64 {
		if r == nil {
			return before
		}
		return before + r.Offset()
	}
	src.desc = func() string {
		if i < 0 || i >= len(files) {
			return "mbox"
		}
		return fmt.Sprintf("%s: message %d (at byte %d)", files[i].Path, n, at)
	}
	return src
}

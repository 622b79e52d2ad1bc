package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sealpost/mailstore"
	"sealpost/mailstore/mailfmt"
)

const exportUsage = `Usage: sealpost export USER MAILBOX|all --format maildir|mbox DIR [--mbox-variant mboxrd|mboxo] [--data DIR | --config FILE]

Writes USER's mail, one mailbox or all of them, into DIR (which must be
absent or empty), keeping flags, internal dates and the folder tree.

  --format maildir  a Maildir++ tree as Dovecot reads it (LAYOUT=maildir++,
                    the default): INBOX in DIR, other folders as
                    DIR/.Work.Projects with modified UTF-7 names; flags in
                    the file names (":2,FRS"), keywords in each folder's
                    dovecot-keywords (26 at most per folder, as Dovecot),
                    internal dates as the files' mtimes.
  --format mbox     one mbox file per mailbox: DIR/INBOX, DIR/Work,
                    DIR/Work.sbd/Projects (Thunderbird's layout, which
                    "sealpost import ... mbox DIR" reads back); flags in
                    Status, X-Status and X-Keywords, dates in the From_ lines.

Line ends are written as LF. Works while "sealpost serve" runs (the server
streams the messages over its control socket, and this command writes the
files) and while it is stopped.

Flags:
  --format F           maildir or mbox (required)
  --mbox-variant V     mboxrd (default) quotes every ">*From " line;
                       mboxo quotes only "From " lines
  --data DIR           data directory (default ./sealpost-data)
  --config FILE        read data_dir from this config file

Examples:
  sealpost export ann all --format maildir /srv/export/ann/Maildir
  sealpost export ann INBOX --format mbox /tmp/ann-inbox
  sealpost export ann Work/Projects --format mbox /tmp/projects --mbox-variant mboxo
`

func cmdExport(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("export", exportUsage, stderr)
	format := f.String("format", "", "maildir or mbox")
	variant := f.String("mbox-variant", "mboxrd", "mboxrd or mboxo")
	pos, code, ok := f.parse(args, 3, 3, stdout, stderr)
	if !ok {
		return code
	}
	user, mailbox, out := pos[0], pos[1], pos[2]
	if mailbox == "all" {
		mailbox = ""
	} else if n, err := mailstore.NormalizeMailbox(mailbox); err == nil {
		mailbox = n
	}
	v, err := mailfmt.ParseMboxVariant(*variant)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost export:", err)
		return 2
	}
	if *format != "maildir" && *format != "mbox" {
		fmt.Fprintf(stderr, "sealpost export: --format must be maildir or mbox\n\n%s", exportUsage)
		return 2
	}
	if err := mailstore.EmptyDir(out); err != nil {
		return fail(stderr, "export", err)
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "export", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "export", err)
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var total int64
	mbs, err := admin.Mailboxes(ctx, user)
	if err != nil {
		return fail(stderr, "export", err)
	}
	for _, mb := range mbs {
		if mailbox == "" || mb.Name == mailbox {
			total += mb.Size
		}
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fail(stderr, "export", err)
	}
	var w exportWriter
	if *format == "maildir" {
		w = &maildirExport{w: mailfmt.NewMaildirWriter(out)}
	} else {
		w = &mboxExport{root: out, variant: v}
	}
	prog := newProgress(stderr, "export", total)
	var msgs, boxes int64
	err = admin.Export(ctx, user, mailbox, func(mb mailstore.MailboxInfo, m *mailfmt.Message) error {
		if m == nil {
			boxes++
			return w.mailbox(mb.Name)
		}
		dropped, err := w.message(m)
		if err != nil {
			return fmt.Errorf("%s: %w", mb.Name, err)
		}
		if len(dropped) > 0 {
			fmt.Fprintf(stderr, "\nsealpost export: %s: more than 26 keywords in the folder, not written: %q\n", mb.Name, dropped)
		}
		msgs++
		prog.add(1, m.Size)
		return nil
	})
	if cerr := w.close(); err == nil {
		err = cerr
	}
	prog.done()
	if err != nil {
		return fail(stderr, "export", err)
	}
	syncDisks()
	fmt.Fprintf(stdout, "exported %d messages (%s) from %d mailboxes of %s to %s (%s)\n", msgs, humanBytes(prog.bytes), boxes, user, out, *format)
	return 0
}

type exportWriter interface {
	mailbox(name string) error
	message(m *mailfmt.Message) (dropped []string, err error)
	close() error
}

type maildirExport struct{ w *mailfmt.MaildirWriter }

func (e *maildirExport) mailbox(name string) error {
	_, err := e.w.Folder(name)
	return err
}

func (e *maildirExport) message(m *mailfmt.Message) ([]string, error) {
	_, dropped, err := e.w.Write(m)
	return dropped, err
}

func (e *maildirExport) close() error { return e.w.Close() }

type mboxExport struct {
	root    string
	variant mailfmt.MboxVariant
	f       *os.File
	w       *mailfmt.MboxWriter
}

func (e *mboxExport) mailbox(name string) error {
	if err := e.close(); err != nil {
		return err
	}
	p := filepath.Join(e.root, mailfmt.MboxTreePath(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	e.f, e.w = f, mailfmt.NewMboxWriter(f, e.variant)
	return nil
}

func (e *mboxExport) message(m *mailfmt.Message) ([]string, error) {
	_, err := e.w.Write(m)
	return nil, err
}

func (e *mboxExport) close() error {
	if e.f == nil {
		return nil
	}
	err := e.w.Flush()
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	e.f, e.w = nil, nil
	return err
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sealpost/mailstore"
)

const backupUsage = `Usage: sealpost backup DIR [--data DIR | --config FILE]

Copies the whole store (users, password hashes, mailboxes, messages, flags,
and the generated certificate) into DIR, which must be absent or empty.

While "sealpost serve" runs, the server makes the copy and streams it over
its control socket: each database is copied inside one read transaction
(bbolt Tx.WriteTo), so it is a consistent snapshot, then the body files it
references; deliveries and IMAP sessions go on meanwhile, and every message
acknowledged before the backup started is in it. When the server is
stopped, this command reads the store directly. DIR gets a manifest
(sealpost-backup.json) last: a backup without one is incomplete.

A configured certificate (tls.cert/tls.key) lives outside the data
directory and is not copied.

Examples:
  sealpost backup /srv/backup/sealpost-$(date +%F)
  sealpost backup /srv/backup/today --config /etc/sealpost/sealpost.toml

Restore with "sealpost restore DIR --data NEWDIR".
`

const restoreUsage = `Usage: sealpost restore BACKUP --data NEWDIR | --config FILE

Copies a backup made by "sealpost backup" into the data directory NEWDIR
(or the config file's data_dir), which must be absent or empty: restore
never overwrites a store. Then it checks the result (database pages,
mailbox counters, every message's body file and size) and prints the
outcome. Start the server on NEWDIR afterwards.

Exit status: 0 if the restored store is consistent, 1 otherwise.

Examples:
  sealpost restore /srv/backup/sealpost-2026-11-30 --data /var/lib/sealpost
  sealpost restore /srv/backup/today --config /etc/sealpost/sealpost.toml
`

func cmdBackup(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("backup", backupUsage, stderr)
	pos, code, ok := f.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	out := pos[0]
	if err := mailstore.EmptyDir(out); err != nil {
		return fail(stderr, "backup", err)
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "backup", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "backup", err)
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var total int64
	if st, err := admin.Stats(ctx); err == nil {
		total = st.Bytes
	}
	prog := newProgress(stderr, "backup", total)
	prog.unit = "files"
	bd := &mailstore.BackupDir{Dir: out}
	start := time.Now()
	m, err := admin.Backup(ctx, func(file *mailstore.BackupFile) error {
		if err := bd.Put(file); err != nil {
			return err
		}
		prog.add(1, file.Size)
		return nil
	})
	prog.done()
	if err == nil {
		err = bd.Finish(m)
	}
	if err != nil {
		os.RemoveAll(out) // it was empty: nothing of value is lost
		return fail(stderr, "backup", err)
	}
	fmt.Fprintf(stdout, "backup of %s in %s: %d users, %d messages (%s), %d files, %s\n",
		dir, out, m.Users, m.Messages, humanBytes(m.Bytes), m.Files, time.Since(start).Round(time.Millisecond))
	for _, u := range m.Skipped {
		fmt.Fprintf(stdout, "  user %s was deleted during the backup and is left out\n", u)
	}
	for _, p := range m.Problems {
		fmt.Fprintln(stderr, "sealpost backup: problem:", p)
	}
	if len(m.Problems) > 0 {
		return 1
	}
	return 0
}

func cmdRestore(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("restore", restoreUsage, stderr)
	pos, code, ok := f.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *f.data == "" && *f.cfgPath == "" {
		fmt.Fprintf(stderr, "sealpost restore: say where to restore to with --data NEWDIR (or --config)\n\n%s", restoreUsage)
		return 2
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "restore", err)
	}
	m, rep, err := mailstore.Restore(context.Background(), pos[0], dir)
	if err != nil {
		return fail(stderr, "restore", err)
	}
	fmt.Fprintf(stdout, "restored the backup of %s (%d users, %d messages) into %s\n",
		m.Started.Local().Format("2006-01-02 15:04:05"), m.Users-len(m.Skipped), m.Messages, dir)
	fmt.Fprintf(stdout, "check: %d users, %d mailboxes, %d messages, %s", rep.Users, rep.Mailboxes, rep.Messages, humanBytes(rep.Bytes))
	if rep.OK() {
		fmt.Fprintln(stdout, ": consistent")
		return 0
	}
	fmt.Fprintf(stdout, ": %d problems\n", len(rep.Problems)+rep.Omitted)
	printProblems(stderr, "sealpost restore: problem:", rep)
	return 1
}

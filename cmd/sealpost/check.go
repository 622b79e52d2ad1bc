package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"sealpost/mailstore"
)

const checkUsage = `Usage:
  sealpost check [--repair] [--data DIR | --config FILE]

Verifies the store: every message record has its body file with the right
size, no body file is left without a record, mailbox and account counters
(messages, unseen, deleted, bytes, UIDNEXT, HIGHESTMODSEQ) match the
records, message metadata decodes, and users/ matches the user records.

With "sealpost serve" stopped, the check is complete and --repair works.
While it runs, the server checks itself through its control socket (bbolt
page checks, counters, metadata, body files; each user in one read
transaction, with body removals held back meanwhile); --repair then
refuses: stop the server first.

--repair fixes what needs no guessing: counters are recomputed, stray
files (orphaned bodies, partly written files, directories of deleted
users) are removed, metadata is parsed again from the body. A record
whose body is missing or has the wrong size is only reported.

Exit status: 0 no problem (or all repaired), 1 problems remain (listed),
2 usage, 3 the store could not be checked (unreadable, or --repair while
the server runs).

Examples:
  sealpost check --config /etc/sealpost/sealpost.toml
  systemctl stop sealpost && sealpost check --repair --data /var/lib/sealpost
`

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage) }
	data := fs.String("data", "", "data directory (default from --config, else ./sealpost-data)")
	cfgPath := fs.String("config", "", "config file to read data_dir from")
	repair := fs.Bool("repair", false, "fix what is safe to fix")
	if err := fs.Parse(args); err != nil {
		return boolCode(errors.Is(err, flag.ErrHelp), 0, 2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sealpost check: unexpected argument %q\n\n%s", fs.Arg(0), checkUsage)
		return 2
	}
	dir, err := resolveDataDir(*data, *cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost check:", err)
		return 2
	}
	rep, err := mailstore.Check(dir, mailstore.CheckOptions{Repair: *repair})
	if errors.Is(err, mailstore.ErrLocked) {
		if *repair {
			fmt.Fprintf(stderr, "sealpost check: the store in %s is in use by a running server: stop it to repair\n", dir)
			return 3
		}
		return checkLive(dir, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sealpost check:", err)
		return 3
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	fmt.Fprintf(stdout, "checked %d users, %d mailboxes, %d messages (%d bytes)\n", rep.Users, rep.Mailboxes, rep.Messages, rep.Bytes)
	left, repairable, repaired := 0, 0, 0
	for _, p := range rep.Problems {
		switch {
		case p.Repaired:
			repaired++
		case p.Repairable:
			repairable++
			left++
		default:
			left++
		}
	}
	switch {
	case len(rep.Problems) == 0:
		fmt.Fprintln(stdout, "no problems found")
		return 0
	case left == 0:
		fmt.Fprintf(stdout, "%d problems found, all repaired\n", repaired)
		return 0
	}
	fmt.Fprintf(stdout, "%d problems found", len(rep.Problems))
	if repaired > 0 {
		fmt.Fprintf(stdout, ", %d repaired", repaired)
	}
	if repairable > 0 {
		fmt.Fprintf(stdout, ", %d can be repaired with --repair", repairable)
	}
	fmt.Fprintln(stdout)
	return 1
}

// checkLive asks the running server to check its own store.
func checkLive(dir string, stdout, stderr io.Writer) int {
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost check:", err)
		return 3
	}
	defer done()
	rep, err := admin.CheckLive(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "sealpost check:", err)
		return 3
	}
	fmt.Fprintf(stdout, "checked %d users, %d mailboxes, %d messages (%d bytes) in the running server\n", rep.Users, rep.Mailboxes, rep.Messages, rep.Bytes)
	if rep.OK() {
		fmt.Fprintln(stdout, "no problems found")
		return 0
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	fmt.Fprintf(stdout, "%d problems found; stop the server and run \"sealpost check --repair\" to fix what is safe to fix\n", len(rep.Problems))
	return 1
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

const statsUsage = `Usage: sealpost stats [--json] [--data DIR | --config FILE]

Prints the number of users, mailboxes, messages and message bytes, in
total and per user (with quotas). --json prints the same as JSON for
scripts and monitoring. Works while "sealpost serve" runs and while it is
stopped.

Examples:
  sealpost stats
  sealpost stats --json --config /etc/sealpost/sealpost.toml
`

func cmdStats(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("stats", statsUsage, stderr)
	asJSON := f.Bool("json", false, "print JSON")
	if _, code, ok := f.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "stats", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "stats", err)
	}
	defer done()
	st, err := admin.Stats(context.Background())
	if err != nil {
		return fail(stderr, "stats", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return 0
	}
	fmt.Fprintf(stdout, "users      %d\nmailboxes  %d\nmessages   %d\nbytes      %d (%s)\n", st.Users, st.Mailboxes, st.Messages, st.Bytes, humanBytes(st.Bytes))
	if len(st.PerUser) == 0 {
		return 0
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tMAILBOXES\tMESSAGES\tBYTES\tQUOTA")
	for _, u := range st.PerUser {
		q := "unlimited"
		if u.Quota > 0 {
			q = fmt.Sprintf("%d (%d%% used)", u.Quota, u.Bytes*100/u.Quota)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", u.Name, u.Mailboxes, u.Messages, u.Bytes, q)
	}
	tw.Flush()
	return 0
}

const checkUsage = `Usage: sealpost check [--data DIR | --config FILE]

Verifies the store: bbolt's page checks on every database, each
mailbox's counters against its messages, every message's metadata and body
file (present, of the recorded size), and each user's byte count. Safe
while "sealpost serve" runs (each user is checked in one read transaction,
and body files are not removed meanwhile); "sealpost restore" runs the same
check.

Exit status: 0 if the store is consistent, 1 if problems were found.

Examples:
  sealpost check --config /etc/sealpost/sealpost.toml
`

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("check", checkUsage, stderr)
	if _, code, ok := f.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "check", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "check", err)
	}
	defer done()
	rep, err := admin.Check(context.Background())
	if err != nil {
		return fail(stderr, "check", err)
	}
	fmt.Fprintf(stdout, "%s: %d users, %d mailboxes, %d messages, %s", dir, rep.Users, rep.Mailboxes, rep.Messages, humanBytes(rep.Bytes))
	if rep.OK() {
		fmt.Fprintln(stdout, ": consistent")
		return 0
	}
	fmt.Fprintf(stdout, ": %d problems\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "sealpost check: problem:", p)
	}
	return 1
}

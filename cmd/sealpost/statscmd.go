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

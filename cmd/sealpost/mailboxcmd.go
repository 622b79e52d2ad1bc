package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"sealpost/mailstore"
)

const mailboxUsage = `Usage:
  sealpost mailbox list USER
  sealpost mailbox create USER NAME [--special-use ATTR]
  sealpost mailbox delete USER NAME [--force]
  (each with [--data DIR | --config FILE])

Lists, creates and deletes a user's mailboxes. Names use "/" between
levels ("Work/Projects"); missing parents are created. A created mailbox
is subscribed, so clients that show only subscribed folders see it.
--special-use marks it \Archive, \Drafts, \Junk, \Sent or \Trash
(RFC 6154). Deleting removes the mailbox's messages; INBOX and mailboxes
with children cannot be deleted, and one that still has messages needs
--force. Works while "sealpost serve" runs and while it is stopped.

Examples:
  sealpost mailbox list ann
  sealpost mailbox create ann Work/Projects
  sealpost mailbox create ann "Old Mail" --special-use '\Archive'
  sealpost mailbox delete ann Work/Projects --force
`

func cmdMailbox(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args) {
		fmt.Fprint(stdout, mailboxUsage)
		return boolCode(len(args) == 0, 2, 0)
	}
	sub := args[0]
	f := newCmdFlags("mailbox "+sub, mailboxUsage, stderr)
	special := f.String("special-use", "", `special-use attribute: \Archive, \Drafts, \Junk, \Sent or \Trash`)
	force := f.Bool("force", false, "delete a mailbox that still has messages")
	n := map[string]int{"list": 1, "create": 2, "delete": 2}[sub]
	if n == 0 {
		fmt.Fprintf(stderr, "sealpost mailbox: unknown subcommand %q\n\n%s", sub, mailboxUsage)
		return 2
	}
	pos, code, ok := f.parse(args[1:], n, n, stdout, stderr)
	if !ok {
		return code
	}
	dir, err := f.dataDir()
	if err != nil {
		return fail(stderr, "mailbox", err)
	}
	admin, done, err := openStoreAdmin(dir)
	if err != nil {
		return fail(stderr, "mailbox", err)
	}
	defer done()
	ctx := context.Background()
	user := pos[0]
	switch sub {
	case "list":
		mbs, err := admin.Mailboxes(ctx, user)
		if err != nil {
			return fail(stderr, "mailbox", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tMESSAGES\tUNSEEN\tSIZE\tSPECIAL-USE\tSUBSCRIBED")
		for _, mb := range mbs {
			sub := "no"
			if mb.Subscribed {
				sub = "yes"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", mb.Name, mb.Messages, mb.Unseen, mb.Size, mb.SpecialUse, sub)
		}
		tw.Flush()
		return 0
	case "create":
		if err := admin.CreateMailbox(ctx, user, pos[1], *special); err != nil {
			return fail(stderr, "mailbox", err)
		}
		fmt.Fprintf(stdout, "created mailbox %s of %s\n", pos[1], user)
		return 0
	default: // delete
		name, err := mailstore.NormalizeMailbox(pos[1])
		if err != nil {
			return fail(stderr, "mailbox", err)
		}
		if !*force {
			mbs, err := admin.Mailboxes(ctx, user)
			if err != nil {
				return fail(stderr, "mailbox", err)
			}
			for _, mb := range mbs {
				if mb.Name == name && mb.Messages > 0 {
					fmt.Fprintf(stderr, "sealpost mailbox: %s of %s has %d messages; add --force to delete them with it\n", name, user, mb.Messages)
					return 1
				}
			}
		}
		if err := admin.DeleteMailbox(ctx, user, name); err != nil {
			return fail(stderr, "mailbox", err)
		}
		fmt.Fprintf(stdout, "deleted mailbox %s of %s\n", name, user)
		return 0
	}
}

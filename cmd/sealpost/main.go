// Command sealpost is the Sealpost mailbox server and its admin tool.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `sealpost — a mailbox server: IMAP and POP3 over TLS, LMTP delivery.

Usage:
  sealpost serve [--config FILE] [--data DIR] [listen flags]   run the server
  sealpost user add|passwd|quota|del|list|import ...           manage users
  sealpost mailbox list|create|delete USER [NAME]              manage a user's mailboxes
  sealpost import USER maildir|mbox PATH                       import mail (from Dovecot, mutt, Thunderbird...)
  sealpost export USER MAILBOX|all --format maildir|mbox DIR   export mail
  sealpost backup DIR                                          consistent copy of the store, also while serving
  sealpost restore BACKUP --data NEWDIR                        restore a backup into a new data directory
  sealpost stats                                               users, mailboxes, messages, bytes
  sealpost check                                               verify the store (also while serving)
  sealpost check-config FILE                                   validate a config file
  sealpost deliver -d USER [-f SENDER]                         deliver stdin (for Postfix)
  sealpost completion bash|zsh|fish                            shell completion script
  sealpost version

Admin commands work while "sealpost serve" runs (through its control socket
<data>/control.sock) and while it is stopped. They find the data directory
with --data DIR or --config FILE (its data_dir), else ./sealpost-data.

Examples:
  sealpost serve --config /etc/sealpost/sealpost.toml
  sealpost user import /etc/dovecot/users --config /etc/sealpost/sealpost.toml
  sealpost import ann maildir /home/ann/Maildir --config /etc/sealpost/sealpost.toml
  sealpost backup /srv/backup/sealpost-$(date +%F) --data /var/lib/sealpost

Run "sealpost COMMAND --help" (or "sealpost help COMMAND") for a command's
flags and examples.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "user":
		return cmdUser(args[1:], stdin, stdout, stderr)
	case "deliver":
		return cmdDeliver(args[1:], stdin, stderr)
	case "mailbox":
		return cmdMailbox(args[1:], stdout, stderr)
	case "import":
		return cmdImport(args[1:], stdout, stderr)
	case "export":
		return cmdExport(args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(args[1:], stdout, stderr)
	case "restore":
		return cmdRestore(args[1:], stdout, stderr)
	case "stats":
		return cmdStats(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "completion":
		return cmdCompletion(args[1:], stdout, stderr)
	case "version", "--version":
		if isHelp(args[1:]) {
			fmt.Fprint(stdout, "Usage: sealpost version\n\nPrints the version.\n\nExamples:\n  sealpost version   # prints e.g. \"sealpost dev\"\n")
			return 0
		}
		fmt.Fprintln(stdout, "sealpost", version)
		return 0
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] != "help" {
			return run([]string{args[1], "--help"}, stdin, stdout, stderr)
		}
		io.WriteString(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sealpost: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

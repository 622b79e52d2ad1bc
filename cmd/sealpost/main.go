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
  sealpost user add NAME [--password-stdin] [--quota SIZE]     add a user
  sealpost user passwd NAME [--password-stdin]                 change a password
  sealpost user quota NAME SIZE                                set a quota (0 = none)
  sealpost user del NAME                                       delete a user and their mail
  sealpost user list                                           list users
  sealpost deliver -d USER [-f SENDER]                         deliver stdin (for Postfix)
  sealpost check [--repair] [--data DIR]                       verify the store (server stopped)
  sealpost version

Run "sealpost COMMAND --help" for a command's flags and examples.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "user":
		return cmdUser(args[1:], stdin, stdout, stderr)
	case "deliver":
		return cmdDeliver(args[1:], stdin, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "sealpost", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sealpost: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"sealpost/mailstore"
)

const userUsage = `Usage:
  sealpost user add NAME [--password-stdin] [--quota SIZE] [--data DIR | --config FILE]
  sealpost user passwd NAME [--password-stdin] [--data DIR | --config FILE]
  sealpost user quota NAME SIZE [--data DIR | --config FILE]
  sealpost user del NAME [--data DIR | --config FILE]
  sealpost user list [--data DIR | --config FILE]
  sealpost user import FILE [--dry-run] [--data DIR | --config FILE]   (Dovecot passwd-file)

Works while "sealpost serve" runs (through its control socket) and while it
is stopped (directly on the data directory).

Examples:
  sealpost user add ann --quota 2GB            # asks for the password twice
  echo 's3cret' | sealpost user add bob --password-stdin
  sealpost user quota ann 10GB
  sealpost user list
  sealpost user import /etc/dovecot/users     # see "sealpost user import --help"
`

func cmdUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		return boolCode(len(args) == 0, 2, 0)
	}
	sub := args[0]
	if sub == "import" {
		return cmdUserImport(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory (default from --config, else ./sealpost-data)")
	cfgPath := fs.String("config", "", "config file to read data_dir from")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	quota := fs.String("quota", "0", "quota, e.g. 2GB (0 = unlimited)")
	fs.Usage = func() {}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, userUsage)
		return 0
	}
	if err != nil {
		fmt.Fprint(stderr, "\n"+userUsage)
		return 2
	}
	need := map[string]int{"add": 1, "passwd": 1, "quota": 2, "del": 1, "list": 0}
	n, ok := need[sub]
	if !ok {
		fmt.Fprintf(stderr, "sealpost user: unknown subcommand %q\n\n%s", sub, userUsage)
		return 2
	}
	if len(pos) != n {
		fmt.Fprintf(stderr, "sealpost user %s: expected %d argument(s)\n\n%s", sub, n, userUsage)
		return 2
	}
	dir, err := resolveDataDir(*data, *cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost user:", err)
		return 1
	}
	ctx := context.Background()
	admin, done, err := openAdmin(dir)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost user:", err)
		return 1
	}
	defer done()

	switch sub {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr, *pwStdin)
		if err != nil {
			fmt.Fprintln(stderr, "sealpost user:", err)
			return 1
		}
		if sub == "add" {
			q, err := parseSize(*quota)
			if err != nil {
				fmt.Fprintln(stderr, "sealpost user add: --quota:", err)
				return 2
			}
			_, err = admin.CreateUser(ctx, pos[0], pw, q)
			return report(stderr, err, "added user "+pos[0], stdout)
		}
		return report(stderr, admin.SetPassword(ctx, pos[0], pw), "password changed for "+pos[0], stdout)
	case "quota":
		q, err := parseSize(pos[1])
		if err != nil {
			fmt.Fprintln(stderr, "sealpost user quota:", err)
			return 2
		}
		return report(stderr, admin.SetQuota(ctx, pos[0], q), "quota set for "+pos[0], stdout)
	case "del":
		return report(stderr, admin.DeleteUser(ctx, pos[0]), "deleted user "+pos[0], stdout)
	default: // list
		users, err := admin.Users(ctx)
		if err != nil {
			return report(stderr, err, "", stdout)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tQUOTA\tCREATED")
		for _, u := range users {
			q := "unlimited"
			if u.Quota > 0 {
				q = fmt.Sprint(u.Quota)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, q, u.Created.Format("2006-01-02"))
		}
		tw.Flush()
		return 0
	}
}

func boolCode(b bool, t, f int) int {
	if b {
		return t
	}
	return f
}

func report(stderr io.Writer, err error, ok string, stdout io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "sealpost user:", err)
		return 1
	}
	fmt.Fprintln(stdout, ok)
	return 0
}

// parseInterleaved parses flags that may come after positional arguments
// ("user add ann --quota 1GB").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func resolveDataDir(data, cfgPath string) (string, error) {
	if data != "" {
		return data, nil
	}
	if cfgPath != "" {
		c, err := loadConfig(cfgPath)
		if err != nil {
			return "", err
		}
		return c.DataDir, nil
	}
	return defaultConfig().DataDir, nil
}

// openAdmin reaches the store through a running server's control socket,
// or directly when no server runs.
func openAdmin(dir string) (userAdmin, func(), error) {
	sock := filepath.Join(dir, controlSock)
	if _, err := os.Stat(sock); err == nil {
		cc := controlClient{path: sock}
		if _, err := cc.call(context.Background(), controlRequest{Op: "user.list"}); err == nil {
			return cc, func() {}, nil
		}
	}
	st, err := mailstore.Open(dir, mailstore.Options{})
	if errors.Is(err, mailstore.ErrLocked) {
		return nil, nil, fmt.Errorf("the store in %s is in use by a running server, but its control socket %s does not answer", dir, sock)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", errors.New("no password on stdin")
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: use --password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("passwords do not match")
	}
	if len(a) == 0 {
		return "", errors.New("empty password")
	}
	return string(a), nil
}

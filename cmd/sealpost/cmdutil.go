package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdFlags is a subcommand's flag set with the data-directory flags every
// admin command takes.
type cmdFlags struct {
	*flag.FlagSet
	usage   string
	data    *string
	cfgPath *string
}

func newCmdFlags(name, usage string, stderr io.Writer) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse prints usage itself: on stdout for --help
	c := &cmdFlags{FlagSet: fs, usage: usage}
	c.data = fs.String("data", "", "data directory (default from --config, else ./sealpost-data)")
	c.cfgPath = fs.String("config", "", "config file to read data_dir from")
	return c
}

// parse parses flags anywhere among the arguments and checks their count
// (max < 0: no upper bound). ok is false when the caller should exit with
// code: 0 after --help, 2 on a usage error.
func (c *cmdFlags) parse(args []string, minArgs, maxArgs int, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	pos, err := parseInterleaved(c.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, c.usage)
		return nil, 0, false
	}
	if err != nil {
		fmt.Fprint(stderr, "\n"+c.usage)
		return nil, 2, false
	}
	if len(pos) < minArgs || maxArgs >= 0 && len(pos) > maxArgs {
		want := fmt.Sprint(minArgs)
		if maxArgs != minArgs {
			want = fmt.Sprintf("%d to %d", minArgs, maxArgs)
			if maxArgs < 0 {
				want = fmt.Sprintf("at least %d", minArgs)
			}
		}
		fmt.Fprintf(stderr, "sealpost %s: expected %s argument(s), got %d\n\n%s", c.Name(), want, len(pos), c.usage)
		return nil, 2, false
	}
	return pos, 0, true
}

func (c *cmdFlags) dataDir() (string, error) { return resolveDataDir(*c.data, *c.cfgPath) }

// fail prints "sealpost CMD: err" and returns exit code 1.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "sealpost %s: %v\n", cmd, err)
	return 1
}

// isHelp reports whether args ask for help only.
func isHelp(args []string) bool {
	return len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help" || strings.TrimLeft(args[0], "-") == "help")
}

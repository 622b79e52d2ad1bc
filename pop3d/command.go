package pop3d

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// maxCmdLine is the longest command line we accept, CRLF included
// (RFC 2449 §4: "the maximum length of a command line is 255 octets").
const maxCmdLine = 255

// kind identifies a POP3 command keyword.
type kind uint8

const (
	cmdUnknown kind = iota
	cmdUSER
	cmdPASS
	cmdAPOP
	cmdAUTH
	cmdSTLS
	cmdCAPA
	cmdSTAT
	cmdLIST
	cmdUIDL
	cmdRETR
	cmdTOP
	cmdDELE
	cmdNOOP
	cmdRSET
	cmdQUIT
)

// arity describes the arguments a keyword takes.
type arity uint8

const (
	argNone     arity = iota // no argument
	argMsg                   // exactly one message number
	argOptMsg                // an optional message number (LIST, UIDL)
	argMsgLines              // message number and a line count (TOP)
	argWord                  // exactly one word (USER)
	argRest                  // the rest of the line, spaces included (PASS, RFC 1939 §7)
	argTwoWords              // exactly two words (APOP)
	argAuth                  // zero, one or two words (AUTH, RFC 5034 §4)
)

var keywords = map[string]struct {
	kind  kind
	arity arity
}{
	"USER": {cmdUSER, argWord},
	"PASS": {cmdPASS, argRest},
	"APOP": {cmdAPOP, argTwoWords},
	"AUTH": {cmdAUTH, argAuth},
	"STLS": {cmdSTLS, argNone},
	"CAPA": {cmdCAPA, argNone},
	"STAT": {cmdSTAT, argNone},
	"LIST": {cmdLIST, argOptMsg},
	"UIDL": {cmdUIDL, argOptMsg},
	"RETR": {cmdRETR, argMsg},
	"TOP":  {cmdTOP, argMsgLines},
	"DELE": {cmdDELE, argMsg},
	"NOOP": {cmdNOOP, argNone},
	"RSET": {cmdRSET, argNone},
	"QUIT": {cmdQUIT, argNone},
}

// command is one parsed command line.
type command struct {
	kind kind
	name string // canonical upper-case keyword; "" for unknown commands (never log the raw line)
	msg  int    // 1-based message number; 0 when absent (LIST and UIDL without argument)
	// lines is TOP's line count.
	lines int
	// arg is USER's name, PASS's secret, APOP's name or AUTH's mechanism.
	arg string
	// arg2 is APOP's digest or AUTH's initial response; hasArg2 tells "" from absent.
	arg2    string
	hasArg2 bool
}

// errUnknownCommand and syntaxError are the parser's two kinds of failure.
var errUnknownCommand = errors.New("unknown command")

type syntaxError string

func (e syntaxError) Error() string { return string(e) }

// parseCommand parses one command line without its CRLF. It is pure: no I/O,
// no state; the connection decides whether the command is allowed now. On a
// syntax error the returned command still carries kind and name, so the
// caller can log the keyword; the line itself may hold a password.
func parseCommand(line []byte) (command, error) {
	for _, b := range line {
		// RFC 1939 §3: commands are printable ASCII; we also let UTF-8
		// through for PASS and USER but no control characters.
		if b < 0x20 || b == 0x7f {
			return command{}, syntaxError("control character in command")
		}
	}
	kw, rest, _ := bytes.Cut(line, []byte{' '})
	if len(kw) < 3 || len(kw) > 4 {
		return command{}, errUnknownCommand
	}
	name := asciiUpper(string(kw))
	spec, ok := keywords[name]
	if !ok {
		return command{}, errUnknownCommand
	}
	cmd := command{kind: spec.kind, name: name}
	if spec.arity == argRest {
		// RFC 1939 §7: "a POP3 server may treat spaces in the argument
		// as part of the password".
		if len(rest) == 0 {
			return cmd, syntaxError("missing argument")
		}
		cmd.arg = string(rest)
		return cmd, nil
	}
	// Split on SPACE only (RFC 1939 §3), tolerating repeats.
	args := strings.FieldsFunc(string(rest), func(r rune) bool { return r == ' ' })
	switch spec.arity {
	case argNone:
		if len(args) != 0 {
			return cmd, syntaxError("no arguments allowed")
		}
	case argMsg, argOptMsg:
		if len(args) == 0 && spec.arity == argOptMsg {
			return cmd, nil
		}
		if len(args) != 1 {
			return cmd, syntaxError("expected one message number")
		}
		n, err := parseNumber(args[0], 1)
		if err != nil {
			return cmd, err
		}
		cmd.msg = n
	case argMsgLines:
		if len(args) != 2 {
			return cmd, syntaxError("expected message number and line count")
		}
		n, err := parseNumber(args[0], 1)
		if err != nil {
			return cmd, err
		}
		l, err := parseNumber(args[1], 0)
		if err != nil {
			return cmd, err
		}
		cmd.msg, cmd.lines = n, l
	case argWord:
		if len(args) != 1 {
			return cmd, syntaxError("expected one argument")
		}
		cmd.arg = args[0]
	case argTwoWords:
		if len(args) != 2 {
			return cmd, syntaxError("expected two arguments")
		}
		cmd.arg, cmd.arg2, cmd.hasArg2 = args[0], args[1], true
	case argAuth:
		if len(args) > 2 {
			return cmd, syntaxError("too many arguments")
		}
		if len(args) > 0 {
			cmd.arg = asciiUpper(args[0]) // SASL names are ASCII (RFC 4422 §3.1)
		}
		if len(args) == 2 {
			cmd.arg2, cmd.hasArg2 = args[1], true
		}
	}
	return cmd, nil
}

// maxNumber bounds message numbers and TOP line counts; it fits an int on
// every platform.
const maxNumber = 1<<31 - 1

// parseNumber accepts plain decimal digits only: no sign, no spaces, no
// underscores, no overflow, and nothing below min.
func parseNumber(s string, min int) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, syntaxError("invalid number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, syntaxError("invalid number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil || n > maxNumber {
		return 0, syntaxError("number out of range")
	}
	if int(n) < min {
		return 0, syntaxError("invalid message number")
	}
	return int(n), nil
}

// asciiUpper upper-cases ASCII letters only, so no Unicode case mapping can
// turn a look-alike into a keyword.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

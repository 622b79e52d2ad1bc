package pop3d

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		line string
		want command
		err  string // "" for success, "unknown" for errUnknownCommand, else the syntax error
	}{
		{"STAT", command{kind: cmdSTAT, name: "STAT"}, ""},
		{"stat", command{kind: cmdSTAT, name: "STAT"}, ""},
		{"StAt ", command{kind: cmdSTAT, name: "STAT"}, ""},
		{"LIST", command{kind: cmdLIST, name: "LIST"}, ""},
		{"LIST 7", command{kind: cmdLIST, name: "LIST", msg: 7}, ""},
		{"LIST 007", command{kind: cmdLIST, name: "LIST", msg: 7}, ""},
		{"UIDL 2147483647", command{kind: cmdUIDL, name: "UIDL", msg: 2147483647}, ""},
		{"UIDL 2147483648", command{kind: cmdUIDL, name: "UIDL"}, "number out of range"},
		{"RETR 1", command{kind: cmdRETR, name: "RETR", msg: 1}, ""},
		{"RETR 0", command{kind: cmdRETR, name: "RETR"}, "invalid message number"},
		{"RETR +1", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR -1", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR 1_0", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR 0x1", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR ١", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR 99999999999999999999", command{kind: cmdRETR, name: "RETR"}, "invalid number"},
		{"RETR", command{kind: cmdRETR, name: "RETR"}, "expected one message number"},
		{"RETR 1 2", command{kind: cmdRETR, name: "RETR"}, "expected one message number"},
		{"DELE 3", command{kind: cmdDELE, name: "DELE", msg: 3}, ""},
		{"TOP 1 0", command{kind: cmdTOP, name: "TOP", msg: 1}, ""},
		{"top 2  10", command{kind: cmdTOP, name: "TOP", msg: 2, lines: 10}, ""},
		{"TOP 0 1", command{kind: cmdTOP, name: "TOP"}, "invalid message number"},
		{"TOP 1", command{kind: cmdTOP, name: "TOP"}, "expected message number and line count"},
		{"USER ann@example.com", command{kind: cmdUSER, name: "USER", arg: "ann@example.com"}, ""},
		{"USER", command{kind: cmdUSER, name: "USER"}, "expected one argument"},
		{"PASS a b  c ", command{kind: cmdPASS, name: "PASS", arg: "a b  c "}, ""},
		{"PASS  lead", command{kind: cmdPASS, name: "PASS", arg: " lead"}, ""},
		{"PASS", command{kind: cmdPASS, name: "PASS"}, "missing argument"},
		{"APOP ann c4c9334bac560ecc979e58001b3e22fb", command{kind: cmdAPOP, name: "APOP", arg: "ann", arg2: "c4c9334bac560ecc979e58001b3e22fb", hasArg2: true}, ""},
		{"APOP ann", command{kind: cmdAPOP, name: "APOP"}, "expected two arguments"},
		{"AUTH", command{kind: cmdAUTH, name: "AUTH"}, ""},
		{"auth plain", command{kind: cmdAUTH, name: "AUTH", arg: "PLAIN"}, ""},
		{"AUTH PLAIN =", command{kind: cmdAUTH, name: "AUTH", arg: "PLAIN", arg2: "=", hasArg2: true}, ""},
		{"AUTH PLAIN a b", command{kind: cmdAUTH, name: "AUTH"}, "too many arguments"},
		{"STLS", command{kind: cmdSTLS, name: "STLS"}, ""},
		{"STLS now", command{kind: cmdSTLS, name: "STLS"}, "no arguments allowed"},
		{"CAPA", command{kind: cmdCAPA, name: "CAPA"}, ""},
		{"NOOP", command{kind: cmdNOOP, name: "NOOP"}, ""},
		{"RSET", command{kind: cmdRSET, name: "RSET"}, ""},
		{"QUIT", command{kind: cmdQUIT, name: "QUIT"}, ""},
		{"", command{}, "unknown"},
		{" STAT", command{}, "unknown"},
		{"ST", command{}, "unknown"},
		{"STATS", command{}, "unknown"},
		{"LAST", command{}, "unknown"},
		{"XTND XMIT", command{}, "unknown"},
		{"STAT\x00", command{}, "control character in command"},
		{"PASS a\tb", command{}, "control character in command"},
	}
	for _, tc := range cases {
		got, err := parseCommand([]byte(tc.line))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.line, err)
		case tc.err == "unknown" && !errors.Is(err, errUnknownCommand):
			t.Errorf("%q: got %v, want unknown command", tc.line, err)
		case tc.err != "" && tc.err != "unknown" && (err == nil || err.Error() != tc.err):
			t.Errorf("%q: got error %v, want %q", tc.line, err, tc.err)
		}
		if tc.err == "" && got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.line, got, tc.want)
		}
		if tc.err != "" && (got.kind != tc.want.kind || got.name != tc.want.name) {
			t.Errorf("%q: error result kind %v name %q, want %v %q", tc.line, got.kind, got.name, tc.want.kind, tc.want.name)
		}
	}
}

// transcriptLines returns the client lines of the recorded sessions in
// testdata/transcripts (fetchmail, Python poplib).
func transcriptLines(t testing.TB) []string {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if c, ok := strings.CutPrefix(l, "C: "); ok {
				lines = append(lines, c)
			}
		}
	}
	return lines
}

// TestTranscriptsParse: every command a real client sent parses, except
// the SASL continuation line, which is not a command.
func TestTranscriptsParse(t *testing.T) {
	for _, l := range transcriptLines(t) {
		if _, err := parseCommand([]byte(l)); err != nil && l != "AGFubgBzZWNyZXQ=" {
			t.Errorf("%q: %v", l, err)
		}
	}
}

// format renders a parsed command back into a canonical line.
func (c command) format() string {
	parts := []string{c.name}
	switch c.kind {
	case cmdLIST, cmdUIDL:
		if c.msg != 0 {
			parts = append(parts, strconv.Itoa(c.msg))
		}
	case cmdRETR, cmdDELE:
		parts = append(parts, strconv.Itoa(c.msg))
	case cmdTOP:
		parts = append(parts, strconv.Itoa(c.msg), strconv.Itoa(c.lines))
	case cmdUSER, cmdAPOP, cmdAUTH:
		if c.arg != "" {
			parts = append(parts, c.arg)
		}
		if c.hasArg2 {
			parts = append(parts, c.arg2)
		}
	case cmdPASS:
		return "PASS " + c.arg
	}
	return strings.Join(parts, " ")
}

// FuzzParseCommand checks that the parser never panics, that what it
// accepts is well-formed, and that a parsed command survives a round trip.
// Run: go test -run '^$' -fuzz FuzzParseCommand -fuzztime 60s ./pop3d/
func FuzzParseCommand(f *testing.F) {
	for _, l := range transcriptLines(f) {
		f.Add([]byte(l))
	}
	for _, s := range []string{
		"STLS", "AUTH", "AUTH PLAIN", "AUTH PLAIN AGFubgBzZWNyZXQ=", "AUTH PLAIN =", "*",
		"APOP mrose c4c9334bac560ecc979e58001b3e22fb", "PASS pass word", "TOP 1 0",
		"RETR 99999999999", "LIST 2147483648", "DELE +1", "UIDL -0", "\x00", "QUIT\r",
		"GET / HTTP/1.1", "user ann", "rEtR 001", "PASS \xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := parseCommand(line)
		if err != nil {
			var se syntaxError
			if !errors.Is(err, errUnknownCommand) && !errors.As(err, &se) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if cmd.kind == cmdUnknown || cmd.name == "" {
			t.Fatalf("%q: success without a command", line)
		}
		switch cmd.kind {
		case cmdRETR, cmdDELE, cmdTOP:
			if cmd.msg < 1 {
				t.Fatalf("%q: message number %d", line, cmd.msg)
			}
		}
		if cmd.msg < 0 || cmd.lines < 0 {
			t.Fatalf("%q: negative number in %+v", line, cmd)
		}
		if len(line) > 0 && !utf8.Valid(line) && cmd.kind != cmdPASS && cmd.kind != cmdUSER &&
			cmd.kind != cmdAPOP && cmd.kind != cmdAUTH {
			t.Fatalf("%q: accepted invalid UTF-8 in %s", line, cmd.name)
		}
		again, err := parseCommand([]byte(cmd.format()))
		if err != nil || again != cmd {
			t.Fatalf("%q: round trip via %q gave %+v, %v; want %+v", line, cmd.format(), again, err, cmd)
		}
	})
}

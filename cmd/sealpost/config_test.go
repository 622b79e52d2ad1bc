package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // the whole error after "config FILE: "
	}{
		{"unknown top-level key", "data_dri = \"/x\"\n", `line 1: data_dri: unknown key`},
		{"unknown key in table", "# c\n[tls]\nkye = \"x\"\n", `line 3: tls.kye: unknown key`},
		{"unknown dotted key", "hostname = \"h\"\ntls.kye = \"x\"\n", `line 2: tls.kye: unknown key`},
		{"unknown quoted dotted key", "\n\n\"tls\" . 'kye' = 1\n", `line 3: tls.kye: unknown key`},
		{"unknown table", "[imap]\nlisten = \"127.0.0.1:1\"\n[smtp]\nlisten = \"x\"\n", `line 3: smtp: unknown key`},
		{"unknown key in inline table", "lmtp = { socket = \"/s\", sokcet = \"/t\" }\n", `line 1: lmtp.sokcet: unknown key`},
		{"unknown key after multi-line string", "hostname = \"\"\"\n[tls]\nkye = 1\n\"\"\"\nbogus = 1\n", `line 5: bogus: unknown key`},
		{"unknown key after multi-line array", "domains = [\n  \"a.example\", # [tls]\n  \"b.example\",\n]\nbogus = 1\n", `line 5: bogus: unknown key`},
		{"bad address", "[imap]\n\nlisten = \"nohost\"\n", `line 3: imap.listen: bad address "nohost": address nohost: missing port in address`},
		{"bad address dotted", "pop3.tls_listen = \"x\"\n", `line 1: pop3.tls_listen: bad address "x": address x: missing port in address`},
		{"bad log format", "\nlog_format = \"xml\"\n", `line 2: log_format: "xml" is neither text nor json`},
		{"cert without key", "[tls]\ncert = \"/c.pem\"\n", `line 2: tls.cert: set tls.key too, or neither (to use a generated certificate)`},
		{"key without cert", "tls.key = \"/k.pem\"\n", `line 1: tls.key: set tls.cert too, or neither (to use a generated certificate)`},
		{"empty data dir", "data_dir = \"\"\n", `line 1: data_dir: must not be empty`},
		{"bad delimiter", "[lmtp]\nrecipient_delimiter = \"+@\"\n", `line 2: lmtp.recipient_delimiter: "+@": '@' cannot separate an address extension`},
		{"empty delimiter", "[lmtp]\nrecipient_delimiter = \"\"\n", `line 2: lmtp.recipient_delimiter: must not be empty (e.g. "+", or "+-" for either)`},
		{"bad size", "[limits]\nmax_message_size = \"12 parsecs\"\n", `line 2: limits.max_message_size: bad size "12 parsecs" (want e.g. 1048576, "512KB", "64MB", "2GB")`},
		{"zero size", "limits.max_message_size = 0\n", `line 1: limits.max_message_size: must be positive`},
		{"bad duration", "[imap]\nidle_keepalive = \"often\"\n", `line 2: imap.idle_keepalive: bad duration "often" (want e.g. "90s", "2m")`},
		{"wrong type", "\n[imap]\nlisten = 143\n", `line 3: imap.listen: incompatible types: TOML value has type int64; destination has type string`},
		{"syntax error", "hostname = \"h\"\nlisten = = 1\n", `line 2: listen: expected value but found '=' instead`},
		{"syntax error after value", "hostname = 'h' x\n", `line 1: expected a top-level item to end with a newline, comment, or EOF, but got 'x' instead`},
		{"duplicate key", "hostname = \"h\"\n\nhostname = \"i\"\n", `line 3: Key 'hostname' has already been defined.`},
		{"key in the wrong case", "\n[Limits]\nmax_message_size = 0\n", `line 2: Limits: unknown key (keys are case-sensitive)`},
		{"dotted key in the wrong case", "limiTs.mAX_messAge_siZe=0", `line 1: limiTs.mAX_messAge_siZe: unknown key (keys are case-sensitive)`},
		// toml reports these one line short (line 0 for the first).
		{"escape at end of file", "data_dir = \"/d\"\nhostname = \"\\", `line 2: hostname: invalid escape in string '\'`},
		{"escape at end of one-line file", "\"\\", `line 1: invalid escape in string '\'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.doc)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.doc)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}

func TestConfigValid(t *testing.T) {
	doc := `data_dir = "/var/lib/sealpost"
hostname = "mail.example.org"
domains = ["example.org",
  "example.net"]
log_format = "json"
tls.cert = "/c.pem"
tls.key = "/k.pem"

[imap]
listen = ""
tls_listen = "[::]:993"
idle_keepalive = "90s"

[lmtp]
recipient_delimiter = "+-"

[limits]
max_message_size = "32MB"
`
	c, err := parseConfig(doc)
	if err != nil {
		t.Fatal(err)
	}
	if c.LMTP.RecipientDelimiter != "+-" || c.Limits.MaxMessageSize != 32<<20 || c.IMAP.Listen != "" ||
		len(c.Domains) != 2 || c.TLS.Key != "/k.pem" || c.POP3.Listen != "127.0.0.1:1110" {
		t.Fatalf("decoded %+v", c)
	}
	// loadConfig prefixes the file name.
	p := filepath.Join(t.TempDir(), "sp.toml")
	os.WriteFile(p, []byte("[tls]\nkye = 1\n"), 0o600)
	if _, err := loadConfig(p); err == nil || err.Error() != "config "+p+": line 2: tls.kye: unknown key" {
		t.Fatalf("loadConfig: %v", err)
	}
}

func TestKeyLines(t *testing.T) {
	doc := "a = 1\n[t]\nb.c = 'x' # [u]\n[[arr]]\nd = \"\"\"\ne = 1\n\"\"\"\n[[arr]]\nf = [\n 1,\n]\ng = 2\n"
	kl := scanKeyLines(doc)
	for key, want := range map[string]int{"a": 1, "t": 2, "t.b": 3, "t.b.c": 3, "arr": 4, "arr.d": 5, "arr.e": 0, "arr.f": 9, "arr.g": 12, "u": 0} {
		if got := kl.lineOf(toml.Key(strings.Split(key, "."))); got != want && !(want == 0 && got == 4) {
			t.Errorf("%s: line %d, want %d", key, got, want)
		}
	}
}

// Every key of a document toml accepts gets a line (its own or an
// enclosing key's), and scanning never panics.
func FuzzKeyLines(f *testing.F) {
	for _, s := range []string{
		"a = 1\n[t]\nb.c = 'x'\n",
		"x = \"\"\"\nq = 1\n\"\"\"\ny = [\n{a = 1},\n]\n",
		"[[a.b]]\n\"q.r\" = 1\n'l' . m = 2\n",
		"k = \"\\\"[x]\"\n[\"quoted table\"]\nv = '''\n'''\n",
		"[a\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		kl := scanKeyLines(doc)
		var v map[string]any
		md, err := toml.Decode(doc, &v)
		if err != nil {
			return
		}
		for _, k := range md.Keys() {
			if kl.lineOf(k) == 0 {
				t.Fatalf("no line for key %q in\n%s", k, doc)
			}
		}
	})
}

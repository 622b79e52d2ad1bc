package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// A whole config file, whatever its bytes: loadConfig never panics, and a
// refusal names the file and a line of it, so an admin can find what to
// fix. An accepted file gives a config that passes validation.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"data_dir = \"/var/lib/sealpost\"\nhostname = \"mail.example.org\"\ndomains = [\"example.org\",\n  \"example.net\"]\nlog_format = \"json\"\ntls.cert = \"/c.pem\"\ntls.key = \"/k.pem\"\n\n[imap]\nlisten = \"\"\ntls_listen = \"[::]:993\"\nidle_keepalive = \"90s\"\n\n[lmtp]\nrecipient_delimiter = \"+-\"\n\n[limits]\nmax_message_size = \"32MB\"\n",
		"[pop3]\nlisten = \"127.0.0.1:110\"\ntls_listen = \"127.0.0.1:995\"\n[lmtp]\nsocket = \"/run/sealpost/lmtp.sock\"\nsocket_group = \"postfix\"\nlisten = \"127.0.0.1:24\"\n",
		"lmtp = { socket = \"/s\", sokcet = \"/t\" }\n",
		"hostname = \"\"\"\n[tls]\nkye = 1\n\"\"\"\nbogus = 1\n",
		"[imap]\n\nlisten = \"nohost\"\n",
		"limits.max_message_size = 0\n",
		"[limits]\nmax_message_size = \"12 parsecs\"\n",
		"\n[imap]\nlisten = 143\n",
		"hostname = \"h\"\n\nhostname = \"i\"\n",
		"[[imap]]\nlisten = \"a:1\"\n",
		"\xef\xbb\xbfhostname = 'h'\r\n",
		"log_level = \"trace\"\n",
		"domains = \"example.org\"\n",
	} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "sealpost.toml")
	lineErr := regexp.MustCompile(`^config ` + regexp.QuoteMeta(path) + `: line [1-9][0-9]*: `)
	f.Fuzz(func(t *testing.T, doc string) {
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(path)
		if err != nil {
			if !lineErr.MatchString(err.Error()) {
				t.Fatalf("error names no line: %v\nfor\n%q", err, doc)
			}
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted config fails validation: %v", err)
		}
	})
}

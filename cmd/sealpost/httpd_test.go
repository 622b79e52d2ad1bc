package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPConfig(t *testing.T) {
	for _, tc := range []struct {
		toml, err string
	}{
		{"[http]\nlisten = \"127.0.0.1:8080\"\ntls_listen = \":8443\"\nsmtp = \"smtp.example.com:465\"\nsmtp_tls = \"implicit\"\n[metrics]\nlisten = \"127.0.0.1:9101\"\n", ""},
		{"[http]\nlisten = \"8080\"\n", "http.listen: bad address"},
		{"[metrics]\nlisten = \"localhost\"\n", "metrics.listen: bad address"},
		{"[http]\nsmtp = \"smtp.example.com\"\n", "http.smtp: bad address"},
		{"[http]\nsmtp = \"smtp.example.com:0\"\n", "http.smtp: bad port"},
		{"[http]\nsmtp_tls = \"ssl\"\n", "http.smtp_tls: \"ssl\" is neither"},
		{"[metrics]\npath = \"/m\"\n", "metrics.path: unknown key"},
	} {
		p := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(p, []byte(tc.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(p)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: error %v, want %q", tc.toml, err, tc.err)
		}
	}
}

func TestAutoconfigFromListeners(t *testing.T) {
	cfg := defaultConfig()
	cfg.Hostname, cfg.Domains = "mail.example.com", []string{"example.com"}
	ls := []listener{
		{name: "lmtp", addr: "/data/lmtp.sock"},
		{name: "imap", addr: "127.0.0.1:10143"},
		{name: "imaps", addr: "[::]:10993"},
		{name: "pop3s", addr: "0.0.0.0:10995"},
	}
	ac, err := autoconfig(cfg, ls, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if ac.IMAP != 10143 || ac.IMAPS != 10993 || ac.POP3 != 0 || ac.POP3S != 10995 {
		t.Errorf("ports imap %d imaps %d pop3 %d pop3s %d", ac.IMAP, ac.IMAPS, ac.POP3, ac.POP3S)
	}
	if ac.SMTPHost != "mail.example.com" || ac.SMTPPort != 587 || ac.SMTPImplicitTLS {
		t.Errorf("default SMTP %s:%d implicit=%v, want mail.example.com:587 STARTTLS", ac.SMTPHost, ac.SMTPPort, ac.SMTPImplicitTLS)
	}
	cfg.HTTP.SMTP = "smtp.example.net:465"
	if ac, _ = autoconfig(cfg, ls, slog.New(slog.DiscardHandler)); ac.SMTPHost != "smtp.example.net" || !ac.SMTPImplicitTLS {
		t.Errorf("smtp on 465: %s implicit=%v, want implicit TLS", ac.SMTPHost, ac.SMTPImplicitTLS)
	}
	cfg.HTTP.SMTPTLS = "starttls"
	if ac, _ = autoconfig(cfg, ls, slog.New(slog.DiscardHandler)); ac.SMTPImplicitTLS {
		t.Error("smtp_tls = starttls ignored on port 465")
	}
	if _, err := autoconfig(cfg, ls[:1], slog.New(slog.DiscardHandler)); err == nil {
		t.Error("autoconfig without IMAP or POP3 listeners accepted")
	}
}

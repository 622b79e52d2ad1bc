package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"path/filepath"
)

const checkConfigUsage = `Usage: sealpost check-config FILE

Loads FILE with the same loader "sealpost serve --config FILE" uses and
reports the first problem: a TOML syntax error, an unknown key or a bad
value, named with its key and line. When the file names a certificate and
key (tls.cert, tls.key), it also loads them. On success it prints the
settings the server would use.

Exit status: 0 if the file is valid, 1 otherwise.

Examples:
  sealpost check-config /etc/sealpost/sealpost.toml
  sealpost check-config sealpost.toml && systemctl reload-or-restart sealpost
`

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	f := newCmdFlags("check-config", checkConfigUsage, stderr)
	pos, code, ok := f.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	cfg, err := loadConfig(pos[0])
	if err != nil {
		return fail(stderr, "check-config", err)
	}
	tlsDesc := "generated self-signed certificate in " + filepath.Join(cfg.DataDir, "tls")
	if cfg.TLS.Cert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fail(stderr, "check-config", fmt.Errorf("config %s: tls.cert/tls.key: %w", pos[0], err))
		}
		tlsDesc = cfg.TLS.Cert
		if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil {
			tlsDesc += fmt.Sprintf(" (%q, expires %s)", leaf.Subject.CommonName, leaf.NotAfter.Format("2006-01-02"))
		}
	}
	off := func(s string) string {
		if s == "" {
			return "off"
		}
		return s
	}
	sock := cfg.LMTP.Socket
	if sock == "" {
		sock = filepath.Join(cfg.DataDir, "lmtp.sock")
	}
	fmt.Fprintf(stdout, "%s: ok\n", pos[0])
	fmt.Fprintf(stdout, "  data_dir   %s\n  hostname   %s\n  tls        %s\n", cfg.DataDir, cfg.Hostname, tlsDesc)
	fmt.Fprintf(stdout, "  imap       %s (STARTTLS), %s (TLS)\n  pop3       %s (STLS), %s (TLS)\n", off(cfg.IMAP.Listen), off(cfg.IMAP.TLSListen), off(cfg.POP3.Listen), off(cfg.POP3.TLSListen))
	fmt.Fprintf(stdout, "  lmtp       socket %s, tcp %s\n", sock, off(cfg.LMTP.Listen))
	return 0
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"sealpost/certs"
	"sealpost/mailstore"
	"sealpost/mailstore/lmtp"
)

const serveUsage = `Usage: sealpost serve [--config FILE] [--data DIR] [flags]

Runs the server. With no config file it uses embedded defaults: data in
./sealpost-data, a generated self-signed certificate, and loopback listeners
IMAP 127.0.0.1:1143 (STARTTLS), IMAPS 127.0.0.1:1993, POP3 127.0.0.1:1110
(STLS), POP3S 127.0.0.1:1995 and the LMTP socket <data>/lmtp.sock.
Flags override the config file; an empty address ("") disables a listener.

Examples:
  sealpost serve
  sealpost serve --config /etc/sealpost/sealpost.toml
  sealpost serve --data /tmp/sp --imap 127.0.0.1:10143 --pop3 "" --lmtp 127.0.0.1:10024

Flags:
`

// serveFlags are the command-line overrides of the config file.
type serveFlags struct {
	config, data                   *string
	imap, imaps, pop3, pop3s, lmtp *string
	lmtpSocket, lmtpSocketGroup    *string
	logFormat, logLevel, hostname  *string
	http, https, metrics           *string
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	f := serveFlags{
		config:          fs.String("config", "", "TOML config file"),
		data:            fs.String("data", "", "data directory"),
		imap:            fs.String("imap", "", "IMAP (STARTTLS) listen address"),
		imaps:           fs.String("imaps", "", "IMAPS (implicit TLS) listen address"),
		pop3:            fs.String("pop3", "", "POP3 (STLS) listen address"),
		pop3s:           fs.String("pop3s", "", "POP3S (implicit TLS) listen address"),
		lmtp:            fs.String("lmtp", "", "LMTP TCP listen address"),
		lmtpSocket:      fs.String("lmtp-socket", "", "LMTP unix socket path"),
		lmtpSocketGroup: fs.String("lmtp-socket-group", "", "group that may connect to the LMTP socket (e.g. postfix)"),
		logFormat:       fs.String("log-format", "", "log format: text or json"),
		logLevel:        fs.String("log-level", "", "log level: debug, info, warn, error"),
		hostname:        fs.String("hostname", "", "server host name (greetings, certificate)"),
		http:            fs.String("http", "", "autoconfig HTTP listen address"),
		https:           fs.String("https", "", "autoconfig HTTPS listen address"),
		metrics:         fs.String("metrics", "", "/metrics and /healthz HTTP listen address"),
	}
	if err := fs.Parse(args); err != nil {
		return boolCode(errors.Is(err, flag.ErrHelp), 0, 2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sealpost serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := defaultConfig()
	if *f.config != "" {
		c, err := loadConfig(*f.config)
		if err != nil {
			fmt.Fprintln(stderr, "sealpost serve:", err)
			return 1
		}
		cfg = c
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	override := func(name string, dst *string, v *string) {
		if set[name] {
			*dst = *v
		}
	}
	override("data", &cfg.DataDir, f.data)
	override("imap", &cfg.IMAP.Listen, f.imap)
	override("imaps", &cfg.IMAP.TLSListen, f.imaps)
	override("pop3", &cfg.POP3.Listen, f.pop3)
	override("pop3s", &cfg.POP3.TLSListen, f.pop3s)
	override("lmtp", &cfg.LMTP.Listen, f.lmtp)
	override("log-format", &cfg.LogFormat, f.logFormat)
	override("log-level", &cfg.LogLevel, f.logLevel)
	override("hostname", &cfg.Hostname, f.hostname)
	override("lmtp-socket-group", &cfg.LMTP.SocketGroup, f.lmtpSocketGroup)
	override("http", &cfg.HTTP.Listen, f.http)
	override("https", &cfg.HTTP.TLSListen, f.https)
	override("metrics", &cfg.Metrics.Listen, f.metrics)
	if set["lmtp-socket"] {
		cfg.LMTP.Socket = *f.lmtpSocket
		cfg.lmtpSocketOff = *f.lmtpSocket == ""
	}
	if err := cfg.validate(); err != nil {
		// The file was valid on its own, so a flag brought the bad value.
		var ce *configError
		if errors.As(err, &ce) && set[keyFlags[ce.key]] {
			err = fmt.Errorf("--%s: %s", keyFlags[ce.key], ce.msg)
		}
		fmt.Fprintln(stderr, "sealpost serve:", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, stderr); err != nil {
		log.Error("sealpost serve failed", "err", err)
		fmt.Fprintln(stderr, "sealpost serve:", err)
		return 1
	}
	return 0
}

// keyFlags names the flag that overrides a config key.
var keyFlags = map[string]string{
	"data_dir": "data", "imap.listen": "imap", "imap.tls_listen": "imaps",
	"pop3.listen": "pop3", "pop3.tls_listen": "pop3s", "lmtp.listen": "lmtp",
	"log_format": "log-format", "log_level": "log-level",
}

// server is one running protocol server that listeners feed.
type server interface {
	Shutdown(ctx context.Context) error
}

type listener struct {
	name, addr string
	l          net.Listener
	serve      func(net.Listener) error
}

// serve is the composition root: it opens the store and the certificate,
// binds every listener (failing before serving anything if one cannot be
// bound), then serves until ctx is done and shuts down gracefully.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) error {
	// 0700 always: nothing below is for anyone but the server's user. The
	// LMTP socket is shared through its own directory (lmtpsock.go).
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	stopPprof, err := startPprof(log)
	if err != nil {
		return err
	}
	defer stopPprof()
	cm, err := certs.New(certs.Options{
		CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key,
		GenerateDir: filepath.Join(cfg.DataDir, "tls"),
		Hostname:    cfg.Hostname, Logger: log.With("component", "certs"),
	})
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	m := newMetrics(cfg, log)
	st, err := mailstore.Open(cfg.DataDir, mailstore.Options{
		MaxMessageSize: int64(cfg.Limits.MaxMessageSize), Logger: log.With("component", "store"),
		Observer: storeObserver(m), AuthCacheTTL: time.Duration(cfg.Limits.AuthCacheTTL),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	tlsConf := cm.TLSConfig()

	var (
		ls      []listener
		servers []server
	)
	defer func() {
		for _, l := range ls {
			l.l.Close()
		}
	}()
	bind := func(name, network, addr string, serveFn func(net.Listener) error) error {
		if addr == "" {
			return nil
		}
		var l net.Listener
		var err error
		if network == "unix" {
			l, err = listenLMTPSocket(addr, cfg.DataDir, cfg.LMTP.SocketGroup, log)
		} else {
			l, err = net.Listen(network, addr)
		}
		if err != nil {
			return fmt.Errorf("%s: cannot listen on %s: %w", name, addr, err)
		}
		ls = append(ls, listener{name: name, addr: l.Addr().String(), l: l, serve: serveFn})
		return nil
	}

	lm, err := lmtp.New(lmtp.Options{
		Store: st, Domains: cfg.Domains, RecipientDelimiter: cfg.LMTP.RecipientDelimiter,
		Hostname: cfg.Hostname, MaxMessageSize: int64(cfg.Limits.MaxMessageSize),
		SpoolDir: filepath.Join(cfg.DataDir, "tmp"), Logger: log, Metrics: lmtpMetrics(m),
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "tmp"), 0o700); err != nil {
		return err
	}
	servers = append(servers, lm)
	sock := cfg.LMTP.Socket
	if sock == "" && !cfg.lmtpSocketOff {
		sock = filepath.Join(cfg.DataDir, "lmtp.sock")
	}
	if err := bind("lmtp", "unix", sock, lm.Serve); err != nil {
		return err
	}
	if err := bind("lmtp", "tcp", cfg.LMTP.Listen, lm.Serve); err != nil {
		return err
	}
	fe, err := startFrontends(cfg, st, tlsConf, m, log, bind)
	if err != nil {
		return err
	}
	servers = append(servers, fe...)
	// Last: it needs the bound ports, and shuts down last, so /healthz
	// answers 503 while the mail servers drain.
	ws, health, err := startWeb(cfg, st, tlsConf, m, log, ls, bind)
	if err != nil {
		return err
	}
	servers = append(servers, ws...)
	cl, err := listenControl(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer cl.Close()
	go serveControl(ctx, cl, st, log.With("component", "control"))

	go cm.Watch(ctx)
	fmt.Fprintf(out, "sealpost %s: data in %s, certificate %s\n", version, cfg.DataDir, certDesc(cm))
	var wg sync.WaitGroup
	for _, l := range ls {
		fmt.Fprintf(out, "  %-6s listening on %s\n", l.name, l.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.serve(l.l); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Error("listener stopped", "proto", l.name, "addr", l.addr, "err", err)
				health.ListenerDown(l.name)
			}
		}()
	}
	log.Info("sealpost ready")
	<-ctx.Done()
	log.Info("shutting down")
	health.Stopping()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	for _, l := range ls {
		l.l.Close()
	}
	wg.Wait()
	return nil
}

func certDesc(cm *certs.Manager) string {
	leaf := cm.Leaf()
	if leaf == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q (expires %s)", leaf.Subject.CommonName, leaf.NotAfter.Format("2006-01-02"))
}

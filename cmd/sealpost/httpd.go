package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"sealpost/cmd/sealpost/metrics"
	"sealpost/cmd/sealpost/web"
	"sealpost/imapd"
	"sealpost/mailstore"
	"sealpost/mailstore/lmtp"
)

// This file wires the optional HTTP side: the autoconfig file on [http]
// listen/tls_listen and /metrics + /healthz on [metrics] listen. They are
// separate listeners because autoconfig must be public (clients fetch it
// from autoconfig.<domain>) while metrics should not be.

// validateHTTP checks the [http] keys besides the listen addresses.
func (c *Config) validateHTTP() error {
	if c.HTTP.SMTP != "" {
		if _, _, err := splitHostPort(c.HTTP.SMTP); err != nil {
			return badKey("http.smtp", "%v", err)
		}
	}
	switch c.HTTP.SMTPTLS {
	case "", "starttls", "implicit":
	default:
		return badKey("http.smtp_tls", "%q is neither starttls nor implicit", c.HTTP.SMTPTLS)
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("bad address %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// newMetrics returns the registry when [metrics] listen is set, else nil:
// without it nothing is observed at all.
func newMetrics(cfg *Config, log *slog.Logger) *metrics.Metrics {
	if cfg.Metrics.Listen == "" {
		return nil
	}
	return metrics.New(log.With("component", "metrics"))
}

// The hook adapters return an untyped nil without metrics, never an
// interface holding a nil pointer.

func storeObserver(m *metrics.Metrics) mailstore.Observer {
	if m == nil {
		return nil
	}
	return m.StoreObserver()
}

func lmtpMetrics(m *metrics.Metrics) lmtp.Metrics {
	if m == nil {
		return nil
	}
	return m.LMTP()
}

// frontendMetrics serves both imapd.Options.Metrics and pop3d's (same
// method set).
func frontendMetrics(m *metrics.Metrics, proto string) imapd.Metrics {
	if m == nil {
		return nil
	}
	return m.Frontend(proto)
}

// accountLogin is the shared login path (login.Authenticator) as the
// frontends use it.
type accountLogin interface {
	Login(ctx context.Context, remote netip.Addr, username, password string) (*mailstore.Account, error)
}

// countedLogin counts the outcome of each check by protocol; the login
// package itself serves both protocols and does not know which is asking.
type countedLogin struct {
	login accountLogin
	m     *metrics.Metrics
	proto string
}

func (c countedLogin) Login(ctx context.Context, remote netip.Addr, username, password string) (*mailstore.Account, error) {
	a, err := c.login.Login(ctx, remote, username, password)
	c.m.Login(c.proto, err)
	return a, err
}

func withLoginMetrics(l accountLogin, m *metrics.Metrics, proto string) accountLogin {
	if m == nil {
		return l
	}
	return countedLogin{login: l, m: m, proto: proto}
}

type bindFunc func(name, network, addr string, serve func(net.Listener) error) error

// startWeb binds the HTTP listeners. It runs after the mail listeners are
// bound, so the autoconfig file names their real ports. health is nil
// without [metrics] listen.
func startWeb(cfg *Config, st *mailstore.Store, tc *tls.Config, m *metrics.Metrics, log *slog.Logger,
	ls []listener, bind bindFunc) (servers []server, health *web.Health, err error) {
	if cfg.HTTP.Listen != "" || cfg.HTTP.TLSListen != "" {
		ac, err := autoconfig(cfg, ls, log)
		if err != nil {
			return nil, nil, err
		}
		srv := web.NewServer(web.AutoconfigMux(ac), tc, log.With("proto", "http"))
		servers = append(servers, srv)
		if err := bind("http", "tcp", cfg.HTTP.Listen, srv.Serve); err != nil {
			return nil, nil, err
		}
		if err := bind("https", "tcp", cfg.HTTP.TLSListen, srv.ServeTLS); err != nil {
			return nil, nil, err
		}
	}
	if m != nil {
		m.WatchStore(st, 0)
		health = web.NewHealth(func(ctx context.Context) error { return storeProbe(ctx, st) })
		srv := web.NewServer(web.OpsMux(m.Handler(), health), nil, log.With("proto", "metrics"))
		servers = append(servers, srv)
		if err := bind("metrics", "tcp", cfg.Metrics.Listen, srv.Serve); err != nil {
			return nil, nil, err
		}
	}
	return servers, health, nil
}

// storeProbe is /healthz's store check: one read of the global database.
func storeProbe(ctx context.Context, st *mailstore.Store) error {
	_, err := st.LookupUser(ctx, "postmaster")
	if err == nil || errors.Is(err, mailstore.ErrNoSuchUser) {
		return nil
	}
	return err
}

// autoconfig describes the bound IMAP and POP3 listeners.
func autoconfig(cfg *Config, ls []listener, log *slog.Logger) (*web.Autoconfig, error) {
	ac := &web.Autoconfig{Hostname: cfg.Hostname, Domains: cfg.Domains, SMTPHost: cfg.Hostname, SMTPPort: 587}
	local := strings.EqualFold(cfg.Hostname, "localhost")
	for _, l := range ls {
		host, p, err := net.SplitHostPort(l.addr)
		if err != nil {
			continue // the LMTP unix socket
		}
		port, _ := strconv.Atoi(p)
		var dst *int
		switch l.name {
		case "imap":
			dst = &ac.IMAP
		case "imaps":
			dst = &ac.IMAPS
		case "pop3":
			dst = &ac.POP3
		case "pop3s":
			dst = &ac.POP3S
		default:
			continue
		}
		*dst = port
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() && !local {
			log.Warn("autoconfig names a listener that only accepts local connections", "proto", l.name, "addr", l.addr)
		}
	}
	if cfg.HTTP.SMTP != "" {
		host, port, err := splitHostPort(cfg.HTTP.SMTP)
		if err != nil {
			return nil, fmt.Errorf("http.smtp: %w", err)
		}
		if host != "" {
			ac.SMTPHost = host
		}
		ac.SMTPPort = port
	}
	ac.SMTPImplicitTLS = cfg.HTTP.SMTPTLS == "implicit" || cfg.HTTP.SMTPTLS == "" && ac.SMTPPort == 465
	if local {
		log.Warn("autoconfig names host localhost: set hostname for clients on other machines")
	}
	if err := ac.Validate(); err != nil {
		return nil, fmt.Errorf("[http]: %w", err)
	}
	return ac, nil
}

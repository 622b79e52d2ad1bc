package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"sealpost/cmd/sealpost/metrics"
	"sealpost/imapd"
	"sealpost/mailstore"
	"sealpost/mailstore/auth"
	"sealpost/mailstore/login"
	"sealpost/pop3d"
)

// startFrontends builds the IMAP and POP3 servers and binds their
// listeners. Both share one login path, so throttling spans protocols.
func startFrontends(cfg *Config, st *mailstore.Store, tc *tls.Config, m *metrics.Metrics, log *slog.Logger,
	bind func(name, network, addr string, serve func(net.Listener) error) error) ([]server, error) {
	lim := &cfg.Limits
	la := login.New(login.Options{
		Store: st, Domains: cfg.Domains, Logger: log.With("component", "login"),
		Throttle: auth.NewThrottle(auth.ThrottleOptions{
			BaseDelay: time.Duration(lim.LoginDelay), MaxDelay: time.Duration(lim.LoginMaxDelay),
			IPLimit: lim.LoginBlockAfter, Window: time.Duration(lim.LoginBlockTime),
		}),
	})
	var servers []server
	if cfg.IMAP.Listen != "" || cfg.IMAP.TLSListen != "" {
		im, err := imapd.New(imapd.Options{
			Auth: withLoginMetrics(la, m, "imap"), TLSConfig: tc, Logger: log, Metrics: frontendMetrics(m, "imap"),
			IdleKeepalive: time.Duration(cfg.IMAP.IdleKeepalive),
			AppendLimit:   int64(cfg.Limits.MaxMessageSize),
			MaxConns:      lim.MaxConnections, MaxConnsPerIP: lim.MaxConnectionsPerIP,
			MaxConnsPerUserIP: lim.MaxConnectionsPerUserIP,
			LoginTimeout:      time.Duration(lim.LoginTimeout),
			HandshakeTimeout:  time.Duration(lim.TLSHandshakeTimeout),
		})
		if err != nil {
			return nil, err
		}
		servers = append(servers, im)
		if err := bind("imap", "tcp", cfg.IMAP.Listen, im.Serve); err != nil {
			return nil, err
		}
		if err := bind("imaps", "tcp", cfg.IMAP.TLSListen, im.ServeTLS); err != nil {
			return nil, err
		}
	}
	if cfg.POP3.Listen != "" || cfg.POP3.TLSListen != "" {
		pp, err := pop3d.New(pop3d.Options{
			Auth: pop3Auth{login: withLoginMetrics(la, m, "pop3")}, TLSConfig: tc, Logger: log, Hostname: cfg.Hostname,
			Metrics: frontendMetrics(m, "pop3"),
			// One session per user at a time (the maildrop lock), so
			// POP3 needs no per-user cap.
			MaxConns: lim.MaxConnections, MaxConnsPerIP: lim.MaxConnectionsPerIP,
			LoginTimeout:     time.Duration(lim.LoginTimeout),
			HandshakeTimeout: time.Duration(lim.TLSHandshakeTimeout),
		})
		if err != nil {
			return nil, err
		}
		servers = append(servers, pp)
		if err := bind("pop3", "tcp", cfg.POP3.Listen, pp.Serve); err != nil {
			return nil, err
		}
		if err := bind("pop3s", "tcp", cfg.POP3.TLSListen, pp.ServeTLS); err != nil {
			return nil, err
		}
	}
	return servers, nil
}

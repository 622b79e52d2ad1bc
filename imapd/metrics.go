package imapd

import (
	"crypto/tls"
	"sync/atomic"
)

// Metrics observes connections and their TLS state. Set Options.Metrics;
// nil observes nothing. Methods must be fast and safe for concurrent use.
//
// A connection's TLS state is "implicit" (accepted by ServeTLS), "none"
// (accepted by Serve, no STARTTLS yet) or "starttls" (upgraded).
type Metrics interface {
	// ConnOpened counts an accepted connection in its first state,
	// "implicit" or "none".
	ConnOpened(tls string)
	// ConnStartTLS moves a connection from "none" to "starttls".
	ConnStartTLS()
	// ConnClosed counts a closed connection in its last state.
	ConnClosed(tls string)
}

const (
	tlsNone     = "none"
	tlsImplicit = "implicit"
	tlsStartTLS = "starttls"
)

// connMetrics follows one connection for Options.Metrics. A nil
// *connMetrics (no Metrics configured) does nothing.
type connMetrics struct {
	m        Metrics
	implicit bool
	upgraded atomic.Bool
}

func (s *Server) connOpened(implicitTLS bool) *connMetrics {
	if s.opts.Metrics == nil {
		return nil
	}
	cm := &connMetrics{m: s.opts.Metrics, implicit: implicitTLS}
	cm.m.ConnOpened(cm.state())
	return cm
}

func (cm *connMetrics) state() string {
	switch {
	case cm.implicit:
		return tlsImplicit
	case cm.upgraded.Load():
		return tlsStartTLS
	}
	return tlsNone
}

func (cm *connMetrics) closed() {
	if cm != nil {
		cm.m.ConnClosed(cm.state())
	}
}

// startTLSConfig returns the TLS config imapserver uses for STARTTLS on
// this connection. imapserver has no hook for a finished STARTTLS, so with
// Metrics set it gets a copy whose VerifyConnection (which crypto/tls calls
// on every server handshake, client certificate or not, once the keys are
// agreed) records the upgrade.
func (cm *connMetrics) startTLSConfig(base *tls.Config) *tls.Config {
	if cm == nil || cm.implicit {
		return base
	}
	tc := base.Clone()
	prev := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		if !cm.upgraded.Swap(true) {
			cm.m.ConnStartTLS()
		}
		return nil
	}
	return tc
}

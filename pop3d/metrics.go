package pop3d

import "sync/atomic"

// Metrics observes connections and their TLS state. Set Options.Metrics;
// nil observes nothing. Methods must be fast and safe for concurrent use.
//
// A connection's TLS state is "implicit" (accepted by ServeTLS), "none"
// (accepted by Serve, no STLS yet) or "starttls" (upgraded by STLS).
type Metrics interface {
	// ConnOpened counts an accepted connection in its first state,
	// "implicit" or "none".
	ConnOpened(tls string)
	// ConnStartTLS moves a connection from "none" to "starttls".
	ConnStartTLS()
	// ConnClosed counts a closed connection in its last state.
	ConnClosed(tls string)
}

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
		return "implicit"
	case cm.upgraded.Load():
		return "starttls"
	}
	return "none"
}

func (cm *connMetrics) startTLS() {
	if cm != nil && !cm.implicit && !cm.upgraded.Swap(true) {
		cm.m.ConnStartTLS()
	}
}

func (cm *connMetrics) closed() {
	if cm != nil {
		cm.m.ConnClosed(cm.state())
	}
}

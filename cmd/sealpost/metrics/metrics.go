// Package metrics turns Sealpost's observation hooks into Prometheus
// metrics: imapd.Metrics and pop3d.Metrics (connections by TLS state),
// login outcomes, lmtp.Metrics (deliveries by result), mailstore.Observer
// (store latencies) and store totals. Everything lives in one registry
// owned by a Metrics value; nothing is global, and no other package imports
// Prometheus.
package metrics

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sealpost/mailstore"
	"sealpost/mailstore/login"
)

// Metrics holds Sealpost's collectors and their registry.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	connsOpen  *prometheus.GaugeVec   // proto, tls
	connsTotal *prometheus.CounterVec // proto, tls (at accept)
	startTLS   *prometheus.CounterVec // proto
	logins     *prometheus.CounterVec // proto, result
	deliveries *prometheus.CounterVec // result, reason
	storeDur   *prometheus.HistogramVec
}

// Protocols and label values known in advance; their series exist from the
// start (at zero), so rate() and alerts work before the first event.
var (
	protocols    = []string{"imap", "pop3"}
	loginResults = []string{"ok", "failed", "throttled", "error"}
	storeOps     = []string{"deliver", "commit", "fetch"}
)

// durationBuckets span a cached read (sub-millisecond) to a slow fsync of a
// large message (seconds).
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns Metrics with Go runtime and process metrics registered.
// logger (nil: discard) receives scrape errors.
func New(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: logger}
	m.connsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sealpost_connections_open",
		Help: `Open IMAP and POP3 connections by TLS state: "implicit" (IMAPS/POP3S port), "starttls" (upgraded) or "none" (plaintext, not yet upgraded).`,
	}, []string{"proto", "tls"})
	m.connsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealpost_connections_total",
		Help: `Accepted IMAP and POP3 connections by TLS state at accept: "implicit" or "none" (plaintext port; see sealpost_starttls_total).`,
	}, []string{"proto", "tls"})
	m.startTLS = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealpost_starttls_total",
		Help: "Connections upgraded to TLS by STARTTLS (IMAP) or STLS (POP3).",
	}, []string{"proto"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealpost_logins_total",
		Help: `Credential checks by result: "ok", "failed" (wrong user or password), "throttled" (refused unchecked after too many failures) or "error".`,
	}, []string{"proto", "result"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealpost_deliveries_total",
		Help: `LMTP recipients by final reply: result "250", "4xx" or "5xx", with the reason.`,
	}, []string{"result", "reason"})
	m.storeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sealpost_store_duration_seconds",
		Help:    `Store latency: "deliver" (one LMTP recipient, from the end of DATA: body write, fsync, commit), "commit" (one write transaction with fsync), "fetch" (one read of up to 1024 message records).`,
		Buckets: durationBuckets,
	}, []string{"op"})
	m.reg.MustRegister(m.connsOpen, m.connsTotal, m.startTLS, m.logins, m.deliveries, m.storeDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, p := range protocols {
		for _, t := range []string{"implicit", "starttls", "none"} {
			m.connsOpen.WithLabelValues(p, t)
		}
		m.connsTotal.WithLabelValues(p, "implicit")
		m.connsTotal.WithLabelValues(p, "none")
		m.startTLS.WithLabelValues(p)
		for _, r := range loginResults {
			m.logins.WithLabelValues(p, r)
		}
	}
	m.deliveries.WithLabelValues("250", "delivered")
	for _, op := range storeOps {
		m.storeDur.WithLabelValues(op)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails is logged and left out; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		Timeout:           20 * time.Second,
		EnableOpenMetrics: false,
	})
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Frontend observes one protocol's connections; it implements
// imapd.Metrics and pop3d.Metrics.
type Frontend struct {
	open     map[string]prometheus.Gauge
	total    map[string]prometheus.Counter
	startTLS prometheus.Counter
}

// Frontend returns the connection observer for proto ("imap" or "pop3").
func (m *Metrics) Frontend(proto string) *Frontend {
	f := &Frontend{open: map[string]prometheus.Gauge{}, total: map[string]prometheus.Counter{},
		startTLS: m.startTLS.WithLabelValues(proto)}
	for _, t := range []string{"implicit", "starttls", "none"} {
		f.open[t] = m.connsOpen.WithLabelValues(proto, t)
	}
	for _, t := range []string{"implicit", "none"} {
		f.total[t] = m.connsTotal.WithLabelValues(proto, t)
	}
	return f
}

// ConnOpened implements imapd.Metrics and pop3d.Metrics.
func (f *Frontend) ConnOpened(tls string) {
	if c, ok := f.total[tls]; ok {
		c.Inc()
		f.open[tls].Inc()
	}
}

// ConnStartTLS implements imapd.Metrics and pop3d.Metrics.
func (f *Frontend) ConnStartTLS() {
	f.open["none"].Dec()
	f.open["starttls"].Inc()
	f.startTLS.Inc()
}

// ConnClosed implements imapd.Metrics and pop3d.Metrics.
func (f *Frontend) ConnClosed(tls string) {
	if g, ok := f.open[tls]; ok {
		g.Dec()
	}
}

// LoginResult names the outcome of login.Authenticator.Login.
func LoginResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, login.ErrThrottled):
		return "throttled"
	case errors.Is(err, mailstore.ErrAuthFailed):
		return "failed"
	}
	return "error"
}

// Login counts one credential check of proto that ended with err.
func (m *Metrics) Login(proto string, err error) {
	m.logins.WithLabelValues(proto, LoginResult(err)).Inc()
}

// LMTP returns the delivery observer; it implements lmtp.Metrics.
func (m *Metrics) LMTP() *LMTP { return &LMTP{m: m, deliver: m.storeDur.WithLabelValues("deliver")} }

// LMTP observes deliveries.
type LMTP struct {
	m       *Metrics
	deliver prometheus.Observer
}

// Recipient implements lmtp.Metrics.
func (l *LMTP) Recipient(result, reason string) {
	l.m.deliveries.WithLabelValues(result, reason).Inc()
}

// StoreDelivery implements lmtp.Metrics.
func (l *LMTP) StoreDelivery(d time.Duration) { l.deliver.Observe(d.Seconds()) }

// StoreObserver returns the store latency observer; it implements
// mailstore.Observer.
func (m *Metrics) StoreObserver() *StoreObserver {
	return &StoreObserver{commit: m.storeDur.WithLabelValues("commit"), fetch: m.storeDur.WithLabelValues("fetch")}
}

// StoreObserver observes store latencies.
type StoreObserver struct{ commit, fetch prometheus.Observer }

// ObserveCommit implements mailstore.Observer.
func (s *StoreObserver) ObserveCommit(d time.Duration) { s.commit.Observe(d.Seconds()) }

// ObserveFetch implements mailstore.Observer.
func (s *StoreObserver) ObserveFetch(d time.Duration) { s.fetch.Observe(d.Seconds()) }

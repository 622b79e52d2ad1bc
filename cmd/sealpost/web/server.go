package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// HTTP limits. Nothing served here needs a body or a long request, so the
// limits are tight; WriteTimeout leaves a slow scrape time to finish.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 20 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// AutoconfigMux routes the two autoconfig paths to a; anything else is 404
// and methods other than GET and HEAD are 405.
func AutoconfigMux(a *Autoconfig) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+AutoconfigPath, a)
	mux.Handle("GET "+AutoconfigWellKnownPath, a)
	return mux
}

// OpsMux routes /metrics and /healthz.
func OpsMux(metrics http.Handler, health *Health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /healthz", health)
	return mux
}

// Server is a pair of http.Servers with Sealpost's limits, one for plain
// HTTP and one for HTTPS: net/http sets HTTP/2 up once per http.Server,
// for whichever of Serve and ServeTLS runs first, so sharing one would
// leave HTTPS offering h2 without serving it. Serve and ServeTLS may each
// serve several listeners; Shutdown closes them all gracefully.
type Server struct{ plain, tls *http.Server }

// NewServer returns a Server for h. tc (may be nil without ServeTLS) is
// copied for HTTPS; with certs.Manager's GetCertificate a reloaded
// certificate applies to new connections. logger receives the server's own
// errors; TLS handshake failures (scanners, clients rejecting the
// certificate) are routine and logged at debug level.
func NewServer(h http.Handler, tc *tls.Config, logger *slog.Logger) *Server {
	mk := func() *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(httpLogHandler{logger.Handler()}, slog.LevelWarn),
		}
	}
	s := &Server{plain: mk()}
	if tc != nil {
		s.tls = mk()
		s.tls.TLSConfig = tc.Clone()
	}
	return s
}

// Serve serves plain HTTP on l until Shutdown, then returns nil.
func (s *Server) Serve(l net.Listener) error { return closedOK(s.plain.Serve(l)) }

// ServeTLS serves HTTPS on l, a plain TCP listener; net/http runs the
// handshake under ReadHeaderTimeout.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.tls == nil {
		return errors.New("web: ServeTLS without a TLS config")
	}
	return closedOK(s.tls.ServeTLS(l, "", ""))
}

// Shutdown stops accepting and waits for requests in flight, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.plain.Shutdown(ctx)
	if s.tls != nil {
		err = errors.Join(err, s.tls.Shutdown(ctx))
	}
	return err
}

func closedOK(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// httpLogHandler demotes net/http's "TLS handshake error" lines to debug.
type httpLogHandler struct{ slog.Handler }

func (h httpLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "TLS handshake error") {
		r.Level = slog.LevelDebug
		if !h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

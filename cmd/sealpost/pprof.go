package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime"
	"time"
)

// pprofEnv names a hidden switch for profiling a running server (no flag,
// no config key, off unless set): SEALPOST_PPROF=127.0.0.1:6060 serves
// net/http/pprof there, and turns on mutex and block profiling, which cost
// a little on every contended lock. Only loopback addresses are accepted:
// profiles show message sizes, user names in stacks, and timing.
const pprofEnv = "SEALPOST_PPROF"

// startPprof starts the profiling listener when pprofEnv is set. The
// returned stop closes it.
func startPprof(log *slog.Logger) (stop func(), err error) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return func() {}, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s=%q: want a loopback address and port, e.g. 127.0.0.1:6060", pprofEnv, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofEnv, err)
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	log.Warn("profiling enabled", "addr", l.Addr().String(), "env", pprofEnv)
	return func() { srv.Close() }, nil
}

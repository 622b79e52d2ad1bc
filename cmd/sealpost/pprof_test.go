package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

func TestPprofSwitch(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "localhost", "x"} {
		t.Setenv(pprofEnv, bad)
		if _, err := startPprof(log); err == nil {
			t.Errorf("%s=%q accepted", pprofEnv, bad)
		}
	}
	t.Setenv(pprofEnv, "")
	stop, err := startPprof(log)
	if err != nil {
		t.Fatal(err)
	}
	stop()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv(pprofEnv, addr)
	stop, err = startPprof(log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Errorf("goroutine profile: %s, %d bytes", resp.Status, len(body))
	}
}

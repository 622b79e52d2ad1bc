package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sealpost/mailstore"
)

func TestHealth(t *testing.T) {
	st, err := mailstore.Open(t.TempDir(), mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	probe := func(ctx context.Context) error {
		_, err := st.LookupUser(ctx, "postmaster")
		if errors.Is(err, mailstore.ErrNoSuchUser) {
			return nil
		}
		return err
	}
	check := func(h *Health, wantCode int, wantBody string) {
		t.Helper()
		srv := httptest.NewServer(OpsMux(http.NotFoundHandler(), h))
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantCode || !strings.Contains(string(b), wantBody) {
			t.Errorf("healthz: %s %q, want %d %q", resp.Status, b, wantCode, wantBody)
		}
	}
	h := NewHealth(probe)
	check(h, 200, "ok")
	h.ListenerDown("imaps")
	check(h, 503, "listener stopped: imaps")

	h = NewHealth(probe)
	h.Stopping()
	check(h, 503, "shutting down")

	h = NewHealth(probe)
	st.Close()
	check(h, 503, "store:")

	var nilHealth *Health // no [metrics] listen: serve calls these anyway
	nilHealth.ListenerDown("imap")
	nilHealth.Stopping()
}

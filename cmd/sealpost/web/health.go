package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Health answers /healthz: 200 "ok" while the store answers a read and
// every listener is serving; 503 with the reason once a listener has
// stopped, the store fails, or shutdown has begun (so a load balancer
// drains the server before it goes away).
type Health struct {
	probe   func(ctx context.Context) error
	timeout time.Duration

	mu       sync.Mutex
	down     []string
	stopping bool
}

// NewHealth returns a Health that calls probe (a cheap store read) on
// every request, under a 2 s deadline.
func NewHealth(probe func(ctx context.Context) error) *Health {
	return &Health{probe: probe, timeout: 2 * time.Second}
}

// ListenerDown records that a listener stopped serving unexpectedly. A nil
// *Health (no health endpoint) ignores it.
func (h *Health) ListenerDown(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = append(h.down, name)
}

// Stopping records that shutdown has begun. A nil *Health ignores it.
func (h *Health) Stopping() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// Check returns nil when healthy, else the reason.
func (h *Health) Check(ctx context.Context) error {
	h.mu.Lock()
	stopping, down := h.stopping, strings.Join(h.down, ", ")
	h.mu.Unlock()
	switch {
	case stopping:
		return fmt.Errorf("shutting down")
	case down != "":
		return fmt.Errorf("listener stopped: %s", down)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := h.probe(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Check(r.Context()); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

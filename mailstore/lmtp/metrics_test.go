package lmtp

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// recorder is a Metrics that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	results map[string]int // "result reason"
	stored  int
}

func (r *recorder) Recipient(result, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results[result+" "+reason]++
}

func (r *recorder) StoreDelivery(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d > 0 {
		r.stored++
	}
}

func TestMetrics(t *testing.T) {
	rec := &recorder{results: map[string]int{}}
	env := start(t, Options{Domains: []string{"example.com"}, MaxMessageSize: 1000, Metrics: rec})
	ctx := context.Background()
	// bcrypt cost 4: nobody logs in here, and argon2id under -race is slow.
	hash, err := bcrypt.GenerateFromPassword([]byte("unused"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	env.store.ImportUser(ctx, "ann", string(hash), 0)
	env.store.ImportUser(ctx, "full", string(hash), 10)
	got := send(t, "tcp", env.addr, []string{"ann@example.com", "nobody@example.com", "ann@other.org", "full@example.com"}, body)
	if got["ann@example.com"] != 250 || got["full@example.com"] != 452 {
		t.Fatalf("replies %v", got)
	}
	got = send(t, "unix", env.sock, []string{"ann@example.com"}, body+strings.Repeat(strings.Repeat("x", 70)+"\r\n", 30))
	if got["ann@example.com"] != 552 {
		t.Fatalf("oversize: %v", got)
	}
	env.store.Close()
	if got = send(t, "tcp", env.addr, []string{"ann@example.com"}, body); got["ann@example.com"] != 451 {
		t.Fatalf("closed store: %v", got)
	}
	want := map[string]int{
		"250 delivered": 1, "5xx unknown_user": 1, "5xx bad_domain": 1, "4xx over_quota": 1,
		"5xx too_big": 1, "4xx temporary": 1,
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !maps.Equal(rec.results, want) {
		t.Errorf("recipients %v\nwant       %v", rec.results, want)
	}
	if rec.stored != 2 { // ann and full reached the store; the others did not
		t.Errorf("store deliveries timed: %d, want 2", rec.stored)
	}
}

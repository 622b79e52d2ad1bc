package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"sealpost/imapd"
	"sealpost/mailstore"
	"sealpost/mailstore/lmtp"
	"sealpost/mailstore/login"
	"sealpost/pop3d"
)

// The adapters satisfy the hook interfaces of the packages they observe.
var (
	_ imapd.Metrics      = (*Frontend)(nil)
	_ pop3d.Metrics      = (*Frontend)(nil)
	_ lmtp.Metrics       = (*LMTP)(nil)
	_ mailstore.Observer = (*StoreObserver)(nil)
)

func TestFrontendStates(t *testing.T) {
	m := New(nil)
	f := m.Frontend("imap")
	f.ConnOpened("none")
	f.ConnOpened("none")
	f.ConnOpened("implicit")
	f.ConnStartTLS()
	open := func(tls string) float64 { return testutil.ToFloat64(m.connsOpen.WithLabelValues("imap", tls)) }
	total := func(tls string) float64 { return testutil.ToFloat64(m.connsTotal.WithLabelValues("imap", tls)) }
	if open("none") != 1 || open("starttls") != 1 || open("implicit") != 1 {
		t.Errorf("open none/starttls/implicit = %v/%v/%v, want 1/1/1", open("none"), open("starttls"), open("implicit"))
	}
	if total("none") != 2 || total("implicit") != 1 || testutil.ToFloat64(m.startTLS.WithLabelValues("imap")) != 1 {
		t.Errorf("totals none %v implicit %v starttls %v, want 2 1 1", total("none"), total("implicit"),
			testutil.ToFloat64(m.startTLS.WithLabelValues("imap")))
	}
	f.ConnClosed("starttls")
	f.ConnClosed("none")
	f.ConnClosed("implicit")
	if open("none") != 0 || open("starttls") != 0 || open("implicit") != 0 {
		t.Errorf("after closing all: %v/%v/%v", open("none"), open("starttls"), open("implicit"))
	}
	if v := testutil.ToFloat64(m.connsOpen.WithLabelValues("pop3", "none")); v != 0 {
		t.Errorf("pop3 moved with imap: %v", v)
	}
}

func TestLoginResult(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{mailstore.ErrAuthFailed, "failed"},
		{fmt.Errorf("login ann: %w", mailstore.ErrAuthFailed), "failed"},
		{login.ErrThrottled, "throttled"},
		{context.Canceled, "error"},
		{errors.New("disk on fire"), "error"},
	} {
		if got := LoginResult(tc.err); got != tc.want {
			t.Errorf("LoginResult(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	m := New(nil)
	m.Login("pop3", mailstore.ErrAuthFailed)
	m.Login("pop3", nil)
	m.Login("pop3", nil)
	if v := testutil.ToFloat64(m.logins.WithLabelValues("pop3", "ok")); v != 2 {
		t.Errorf("pop3 ok logins = %v, want 2", v)
	}
	if v := testutil.ToFloat64(m.logins.WithLabelValues("imap", "failed")); v != 0 {
		t.Errorf("imap failed logins = %v, want 0", v)
	}
}

func newStore(t *testing.T, obs mailstore.Observer) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(t.TempDir(), mailstore.Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// cheapHash is a bcrypt hash of cost 4: these tests never log in, and
// argon2id under the race detector takes seconds.
func cheapHash(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte("unused"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func deliver(t *testing.T, st *mailstore.Store, user, body string) {
	t.Helper()
	if _, err := st.Deliver(context.Background(), user, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

const msg = "Subject: hi\r\n\r\nhello\r\n" // 22 octets

func TestStoreTotalsAndLatency(t *testing.T) {
	m := New(nil)
	st := newStore(t, m.StoreObserver())
	ctx := context.Background()
	for _, u := range []string{"ann", "bob"} {
		if _, err := st.ImportUser(ctx, u, cheapHash(t), 0); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t, st, "ann", msg)
	deliver(t, st, "ann", msg)
	deliver(t, st, "bob", msg)
	tot, err := ComputeTotals(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := st.Account(ctx, "ann")
	boxes, _ := a.Mailboxes(ctx)
	want := StoreTotals{Users: 2, Mailboxes: 2 * int64(len(boxes)), Messages: 3, Bytes: 3 * int64(len(msg))}
	if tot != want {
		t.Fatalf("totals %+v, want %+v", tot, want)
	}

	m.WatchStore(st, time.Hour)
	gauge := func(name string) float64 {
		t.Helper()
		return scrape(t, m)[name][0].GetGauge().GetValue()
	}
	if got := gauge("sealpost_store_messages"); got != 3 {
		t.Errorf("sealpost_store_messages = %v, want 3", got)
	}
	deliver(t, st, "bob", msg)
	if got := gauge("sealpost_store_messages"); got != 3 {
		t.Errorf("cached sealpost_store_messages = %v, want still 3 within max age", got)
	}
	if got := gauge("sealpost_store_bytes"); got != float64(want.Bytes) {
		t.Errorf("sealpost_store_bytes = %v, want %v", got, want.Bytes)
	}

	// Deliveries commit; Fetch reads: both show in the latency histogram.
	info, err := a.Mailbox(ctx, mailstore.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fetch(ctx, info.ID, nil, mailstore.FetchWant{}, func(*mailstore.MessageMeta) error { return nil }); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mm := range scrape(t, m)["sealpost_store_duration_seconds"] {
		for _, l := range mm.GetLabel() {
			counts[l.GetValue()] = mm.GetHistogram().GetSampleCount()
		}
	}
	if counts["commit"] < 4 || counts["fetch"] < 1 {
		t.Errorf("histogram counts %v, want commit >= 4 (4 deliveries), fetch >= 1", counts)
	}
}

func TestStoreTotalsRefresh(t *testing.T) {
	m := New(nil)
	st := newStore(t, nil)
	if _, err := st.ImportUser(context.Background(), "ann", cheapHash(t), 0); err != nil {
		t.Fatal(err)
	}
	m.WatchStore(st, time.Nanosecond)
	deliver(t, st, "ann", msg)
	if got := scrape(t, m)["sealpost_store_messages"][0].GetGauge().GetValue(); got != 1 {
		t.Fatalf("messages %v, want 1", got)
	}
	deliver(t, st, "ann", msg)
	if got := scrape(t, m)["sealpost_store_messages"][0].GetGauge().GetValue(); got != 2 {
		t.Errorf("messages %v after max age, want 2", got)
	}
	// A closed store: the totals are left out, the rest is still served.
	st.Close()
	fams := scrape(t, m)
	if _, ok := fams["sealpost_store_messages"]; ok {
		t.Error("totals of a closed store were served")
	}
	if _, ok := fams["sealpost_logins_total"]; !ok {
		t.Error("other metrics missing when the store fails")
	}
}

func TestLMTPAndLint(t *testing.T) {
	m := New(nil)
	l := m.LMTP()
	l.Recipient("250", "delivered")
	l.Recipient("5xx", "unknown_user")
	l.StoreDelivery(3 * time.Millisecond)
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("5xx", "unknown_user")); v != 1 {
		t.Errorf("5xx unknown_user = %v", v)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sealpost_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// scrape fetches the handler's output over HTTP and parses it as
// Prometheus does.
func scrape(t *testing.T, m *Metrics) map[string][]*dto.Metric {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	out := map[string][]*dto.Metric{}
	for name, f := range fams {
		out[name] = f.GetMetric()
	}
	return out
}

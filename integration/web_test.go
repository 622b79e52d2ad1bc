package integration

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// webServer runs sealpost with the autoconfig listeners (HTTP and HTTPS)
// and the metrics listener, configured from a file plus flags.
type webServer struct {
	*Server
	HTTP, HTTPS, Metrics string
}

func startWeb(t *testing.T) *webServer {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sealpost.toml")
	err := os.WriteFile(conf, []byte(`hostname = "localhost"
domains = ["example.com", "example.org"]
[http]
smtp = "smtp.example.com:465"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w := &webServer{HTTP: freePort(t), HTTPS: freePort(t), Metrics: freePort(t)}
	w.Server = Start(t, Config{Extra: []string{"--config", conf,
		"--http", w.HTTP, "--https", w.HTTPS, "--metrics", w.Metrics}})
	return w
}

// httpGet returns the status and body of url; client may be nil.
func httpGet(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

// autoconfigFile is what Thunderbird reads from the file.
type autoconfigFile struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Provider struct {
		ID       string             `xml:"id,attr"`
		Domains  []string           `xml:"domain"`
		Incoming []autoconfigServer `xml:"incomingServer"`
		Outgoing []autoconfigServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type autoconfigServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     string `xml:"port"`
	Socket   string `xml:"socketType"`
	Auth     string `xml:"authentication"`
	Username string `xml:"username"`
}

func (s autoconfigServer) String() string {
	return fmt.Sprintf("%s %s:%s %s %s %s", s.Type, s.Hostname, s.Port, s.Socket, s.Auth, s.Username)
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAutoconfig fetches the autoconfig file the ways Thunderbird does
// (autoconfig.<domain>/mail/… and <domain>/.well-known/…, over HTTP and
// HTTPS, with ?emailaddress=) and checks it against the real listeners.
func TestAutoconfig(t *testing.T) {
	s := startWeb(t)
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
	q := "?emailaddress=" + url.QueryEscape("ann@example.org")
	for _, u := range []struct {
		url    string
		client *http.Client
	}{
		{"http://" + s.HTTP + "/mail/config-v1.1.xml" + q, nil},
		{"http://" + s.HTTP + "/.well-known/autoconfig/mail/config-v1.1.xml" + q, nil},
		{"https://" + s.HTTPS + "/mail/config-v1.1.xml" + q, tlsClient},
		{"https://" + s.HTTPS + "/.well-known/autoconfig/mail/config-v1.1.xml" + q, tlsClient},
	} {
		code, body := httpGet(t, u.client, u.url)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u.url, code, body)
		}
		var f autoconfigFile
		if err := xml.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("GET %s: %v\n%s", u.url, err, body)
		}
		const pc = "password-cleartext ann@example.org"
		want := []string{
			"imap localhost:" + port(t, s.IMAPS) + " SSL " + pc,
			"imap localhost:" + port(t, s.IMAP) + " STARTTLS " + pc,
			"pop3 localhost:" + port(t, s.POP3S) + " SSL " + pc,
			"pop3 localhost:" + port(t, s.POP3) + " STARTTLS " + pc,
		}
		var got []string
		for _, in := range f.Provider.Incoming {
			got = append(got, in.String())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("GET %s: incoming servers\n%s\nwant\n%s", u.url, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(f.Provider.Outgoing) != 1 || f.Provider.Outgoing[0].String() != "smtp smtp.example.com:465 SSL "+pc {
			t.Errorf("GET %s: outgoing %v", u.url, f.Provider.Outgoing)
		}
		if f.Provider.ID != "example.com" || strings.Join(f.Provider.Domains, " ") != "example.com example.org" {
			t.Errorf("GET %s: provider %q domains %q", u.url, f.Provider.ID, f.Provider.Domains)
		}
	}
	// Without an address the username is Thunderbird's placeholder.
	_, body := httpGet(t, nil, "http://"+s.HTTP+"/mail/config-v1.1.xml")
	if !strings.Contains(body, "<username>%EMAILADDRESS%</username>") {
		t.Errorf("no placeholder username without ?emailaddress=:\n%s", body)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/mail/config-v1.1.xml?emailaddress=ann@elsewhere.net", 404},
		{"/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape("ann@<x>.com"), 400},
		{"/metrics", 404}, // metrics stay off the public listener
		{"/healthz", 404},
	} {
		if code, body := httpGet(t, nil, "http://"+s.HTTP+tc.path); code != tc.code {
			t.Errorf("GET %s: %d %q, want %d", tc.path, code, body, tc.code)
		}
	}
	// The settings in the file work: log in with them over IMAP.
	s.AddUser("ann", "s3cret")
	c := s.loginIMAP(t, modeImplicitTLS, "ann@example.org", "s3cret", nil)
	c.Logout().Wait()
}

// scrape reads /metrics and returns Sealpost's samples keyed
// name{label="value",…} (labels in the exposition's order, by name).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, nil, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "sealpost_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = sampleValue(f.GetType(), m)
		}
	}
	return out
}

// sampleValue is a gauge's or counter's value, a histogram's count.
func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// TestMetricsAndHealth drives logins and deliveries through the binary
// and checks that /metrics counted them, then that /healthz turns 503 as
// soon as shutdown begins.
func TestMetricsAndHealth(t *testing.T) {
	s := startWeb(t)
	if code, body := httpGet(t, nil, "http://"+s.Metrics+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	s.AddUser("ann", "s3cret")

	codes := lmtpSend(t, "tcp", s.LMTP, "sender@example.net",
		[]string{"ann@example.com", "nobody@example.com"}, testMessage("metrics", "counted"))
	if codes["ann@example.com"] != 250 || codes["nobody@example.com"] != 550 {
		t.Fatalf("LMTP replies %v", codes)
	}
	ok := s.loginIMAP(t, modeStartTLS, "ann", "s3cret", nil) // stays open below
	bad := s.dialIMAP(t, modeImplicitTLS, nil)
	if err := bad.Login("ann", "wrong").Wait(); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	bad.Close()
	pop := dialWirePOP(t, s.POP3S, s.TLSConfig())
	pop.login("ann", "s3cret")
	pop.expectOK("QUIT")

	m := scrape(t, s.Metrics)
	for key, want := range map[string]float64{
		`sealpost_logins_total{proto="imap",result="ok"}`:               1,
		`sealpost_logins_total{proto="imap",result="failed"}`:           1,
		`sealpost_logins_total{proto="pop3",result="ok"}`:               1,
		`sealpost_logins_total{proto="pop3",result="failed"}`:           0,
		`sealpost_deliveries_total{reason="delivered",result="250"}`:    1,
		`sealpost_deliveries_total{reason="unknown_user",result="5xx"}`: 1,
		`sealpost_connections_open{proto="imap",tls="starttls"}`:        1, // ok, still logged in
		`sealpost_store_users`:                                          1,
		`sealpost_store_messages`:                                       1,
		`sealpost_store_duration_seconds{op="deliver"}`:                 1,
	} {
		if got, found := m[key]; !found || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, found, want)
		}
	}
	for key, atLeast := range map[string]float64{
		// Start's readiness probes also connect, so these are lower bounds.
		`sealpost_connections_total{proto="imap",tls="none"}`:     1,
		`sealpost_connections_total{proto="imap",tls="implicit"}`: 1,
		`sealpost_connections_total{proto="pop3",tls="implicit"}`: 1,
		`sealpost_starttls_total{proto="imap"}`:                   1,
		`sealpost_store_duration_seconds{op="commit"}`:            1,
		`sealpost_store_duration_seconds{op="fetch"}`:             1, // POP3's maildrop snapshot
		`sealpost_store_bytes`:                                    float64(len(testMessage("metrics", "counted"))),
	} {
		if m[key] < atLeast {
			t.Errorf("%s = %v, want at least %v", key, m[key], atLeast)
		}
	}
	ok.Logout().Wait()
	deadline := time.Now().Add(5 * time.Second)
	for m[`sealpost_connections_open{proto="imap",tls="starttls"}`] != 0 || m[`sealpost_connections_open{proto="pop3",tls="implicit"}`] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open after logout: imap starttls %v, pop3 implicit %v",
				m[`sealpost_connections_open{proto="imap",tls="starttls"}`], m[`sealpost_connections_open{proto="pop3",tls="implicit"}`])
		}
		time.Sleep(20 * time.Millisecond)
		m = scrape(t, s.Metrics)
	}

	// An LMTP session in progress holds the shutdown open (go-smtp waits
	// for sessions); meanwhile /healthz must say 503 so a balancer drains.
	lc, err := net.DialTimeout("tcp", s.LMTP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	io.WriteString(lc, "LHLO test\r\n")
	lc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	if _, err := lc.Read(buf); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body := httpGet(t, nil, "http://"+s.Metrics+"/healthz")
		if code == 503 {
			if !strings.Contains(body, "shutting down") {
				t.Errorf("/healthz during shutdown: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %q 5 s after SIGTERM", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lc.Close()
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after the LMTP session closed")
	}
	if _, err := net.DialTimeout("tcp", s.Metrics, time.Second); err == nil {
		t.Error("metrics listener still accepts after exit")
	}
}

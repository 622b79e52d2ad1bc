package web

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// parsed is the autoconfig file as a client reads it back.
type parsed struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string         `xml:"id,attr"`
		Domains  []string       `xml:"domain"`
		Display  string         `xml:"displayName"`
		Incoming []parsedServer `xml:"incomingServer"`
		Outgoing []parsedServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type parsedServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Auth     string `xml:"authentication"`
	Username string `xml:"username"`
}

// short renders a server as "imap mail.example.com:993 SSL user".
func (s parsedServer) short() string {
	return strings.Join([]string{s.Type, s.Hostname + ":" + strconv.Itoa(s.Port), s.Socket, s.Auth, s.Username}, " ")
}

func parse(t *testing.T, doc []byte) parsed {
	t.Helper()
	if !strings.HasPrefix(string(doc), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.60q", doc)
	}
	var p parsed
	if err := xml.Unmarshal(doc, &p); err != nil {
		t.Fatalf("parse back: %v\n%s", err, doc)
	}
	return p
}

func TestAutoconfigDocument(t *testing.T) {
	const pc = "password-cleartext"
	for _, tc := range []struct {
		name    string
		ac      Autoconfig
		address string
		domains []string
		in      []string
		out     string
	}{{
		name: "all four listeners, standard ports",
		ac: Autoconfig{Hostname: "mail.example.com", Domains: []string{"example.com", "example.org"},
			IMAPS: 993, IMAP: 143, POP3S: 995, POP3: 110, SMTPHost: "mail.example.com", SMTPPort: 587},
		address: "ann@example.org",
		domains: []string{"example.com", "example.org"},
		in: []string{
			"imap mail.example.com:993 SSL " + pc + " ann@example.org",
			"imap mail.example.com:143 STARTTLS " + pc + " ann@example.org",
			"pop3 mail.example.com:995 SSL " + pc + " ann@example.org",
			"pop3 mail.example.com:110 STARTTLS " + pc + " ann@example.org",
		},
		out: "smtp mail.example.com:587 STARTTLS " + pc + " ann@example.org",
	}, {
		name: "no address: Thunderbird's placeholder",
		ac: Autoconfig{Hostname: "mx.example.net", Domains: []string{"example.net"}, IMAPS: 10993,
			SMTPHost: "smtp.example.net", SMTPPort: 465, SMTPImplicitTLS: true},
		domains: []string{"example.net"},
		in:      []string{"imap mx.example.net:10993 SSL " + pc + " %EMAILADDRESS%"},
		out:     "smtp smtp.example.net:465 SSL " + pc + " %EMAILADDRESS%",
	}, {
		name:    "POP3 STARTTLS only, no domains configured: the address's domain",
		ac:      Autoconfig{Hostname: "localhost", POP3: 1110, SMTPHost: "localhost", SMTPPort: 587},
		address: "  Bob.Smith@Example.COM ",
		domains: []string{"example.com"},
		in:      []string{"pop3 localhost:1110 STARTTLS " + pc + " Bob.Smith@Example.COM"},
		out:     "smtp localhost:587 STARTTLS " + pc + " Bob.Smith@Example.COM",
	}, {
		name:    "no domains, no address: the host name",
		ac:      Autoconfig{Hostname: "mail.example.com", IMAP: 143, SMTPHost: "mail.example.com", SMTPPort: 587},
		domains: []string{"mail.example.com"},
		in:      []string{"imap mail.example.com:143 STARTTLS " + pc + " %EMAILADDRESS%"},
		out:     "smtp mail.example.com:587 STARTTLS " + pc + " %EMAILADDRESS%",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ac.Validate(); err != nil {
				t.Fatal(err)
			}
			doc, err := tc.ac.Document(tc.address)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, doc)
			if p.Version != "1.1" || p.Provider.ID != tc.domains[0] || strings.Join(p.Provider.Domains, ",") != strings.Join(tc.domains, ",") {
				t.Errorf("version %q, id %q, domains %q; want 1.1, %q, %q", p.Version, p.Provider.ID, p.Provider.Domains, tc.domains[0], tc.domains)
			}
			var in []string
			for _, s := range p.Provider.Incoming {
				in = append(in, s.short())
			}
			if strings.Join(in, "\n") != strings.Join(tc.in, "\n") {
				t.Errorf("incoming servers:\n%s\nwant:\n%s", strings.Join(in, "\n"), strings.Join(tc.in, "\n"))
			}
			if len(p.Provider.Outgoing) != 1 || p.Provider.Outgoing[0].short() != tc.out {
				t.Errorf("outgoing servers %v, want [%s]", p.Provider.Outgoing, tc.out)
			}
		})
	}
}

func TestAutoconfigRefusals(t *testing.T) {
	ac := Autoconfig{Hostname: "mail.example.com", Domains: []string{"example.com"}, IMAPS: 993,
		SMTPHost: "mail.example.com", SMTPPort: 587}
	for _, tc := range []struct {
		address string
		want    error
	}{
		{"ann@example.org", ErrForeignDomain},
		{"ann", ErrBadAddress},
		{"@example.com", ErrBadAddress},
		{"ann@", ErrBadAddress},
		{"ann@@example.com", ErrBadAddress},
		{"a<b>@example.com", ErrBadAddress},
		{"ann@exa</domain>mple.com", ErrBadAddress},
		{"ann@-example.com", ErrBadAddress},
		{"ann@exa mple.com", ErrBadAddress},
		{"ann+tag@example.com", ErrBadAddress}, // login would refuse the name
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 100) + "com", ErrBadAddress},
	} {
		if _, err := ac.Document(tc.address); !errors.Is(err, tc.want) {
			t.Errorf("Document(%q) = %v, want %v", tc.address, err, tc.want)
		}
	}
	if err := (&Autoconfig{Hostname: "h", SMTPHost: "h", SMTPPort: 587}).Validate(); err == nil {
		t.Error("Validate accepted a config without IMAP or POP3")
	}
}

func TestAutoconfigHTTP(t *testing.T) {
	ac := &Autoconfig{Hostname: "mail.example.com", Domains: []string{"example.com"}, IMAPS: 993, IMAP: 143,
		SMTPHost: "mail.example.com", SMTPPort: 587}
	srv := httptest.NewServer(AutoconfigMux(ac))
	defer srv.Close()
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	q := "?emailaddress=" + url.QueryEscape("ann@example.com")
	for _, path := range []string{AutoconfigPath, AutoconfigWellKnownPath} {
		resp, body := get("GET", path+q)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Fatalf("GET %s: %s %q", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if p := parse(t, []byte(body)); p.Provider.Incoming[0].Username != "ann@example.com" {
			t.Errorf("GET %s: username %q", path, p.Provider.Incoming[0].Username)
		}
		if resp, body := get("HEAD", path); resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD %s: %s, %d body bytes", path, resp.Status, len(body))
		}
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", AutoconfigPath + "?emailaddress=ann@example.org", 404},
		{"GET", AutoconfigPath + "?emailaddress=" + url.QueryEscape("<x>"), 400},
		{"POST", AutoconfigPath, 405},
		{"GET", "/", 404},
		{"GET", "/metrics", 404},
		{"GET", "/mail/config-v1.1.xml/../../etc/passwd", 404},
	} {
		if resp, _ := get(tc.method, tc.path); resp.StatusCode != tc.code {
			t.Errorf("%s %s: %s, want %d", tc.method, tc.path, resp.Status, tc.code)
		}
	}
}

// FuzzAutoconfigAddress: any ?emailaddress= either is refused or yields a
// well-formed file whose username is the address, never other markup.
func FuzzAutoconfigAddress(f *testing.F) {
	for _, s := range []string{"ann@example.com", "", "a@b", "x@example.com</username><x>", "ä@example.com", "a@ex\x00ample.com", "a@b.c."} {
		f.Add(s)
	}
	ac := Autoconfig{Hostname: "mail.example.com", IMAPS: 993, POP3: 110, SMTPHost: "mail.example.com", SMTPPort: 587}
	f.Fuzz(func(t *testing.T, address string) {
		doc, err := ac.Document(address)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) && !errors.Is(err, ErrForeignDomain) {
				t.Fatalf("Document(%q): unexpected error %v", address, err)
			}
			return
		}
		var p parsed
		if err := xml.Unmarshal(doc, &p); err != nil {
			t.Fatalf("Document(%q) is not XML: %v", address, err)
		}
		want := strings.TrimSpace(address)
		if want == "" {
			want = "%EMAILADDRESS%"
		}
		if len(p.Provider.Incoming) != 2 || p.Provider.Incoming[0].Username != want || len(p.Provider.Domains) != 1 {
			t.Fatalf("Document(%q): %+v", address, p.Provider)
		}
	})
}

// Package web serves Sealpost's optional HTTP endpoints: the Mozilla
// autoconfig file that Thunderbird (and K-9/Thunderbird for Android,
// Evolution, KMail) fetch to set up an account, and the operator's
// /healthz and /metrics. It holds no mail and takes no credentials.
package web

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sealpost/mailstore"
)

// Autoconfig paths: Thunderbird asks autoconfig.<domain> for the first and
// <domain> itself for the second, passing ?emailaddress=.
const (
	AutoconfigPath          = "/mail/config-v1.1.xml"
	AutoconfigWellKnownPath = "/.well-known/autoconfig/mail/config-v1.1.xml"
)

// Autoconfig describes the server in the format of
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat.
type Autoconfig struct {
	Hostname string   // the name clients connect to (the configured hostname)
	Domains  []string // mail domains served; empty: any (the asked address's)
	// Ports of the listeners; 0: not offered.
	IMAPS, IMAP, POP3S, POP3 int
	// The submission server clients send through. Sealpost does not send
	// mail, but Thunderbird refuses a file without an outgoingServer.
	SMTPHost        string
	SMTPPort        int
	SMTPImplicitTLS bool
}

// Errors of Document, mapped to 400 and 404 by ServeHTTP.
var (
	ErrBadAddress    = errors.New("autoconfig: not a valid e-mail address")
	ErrForeignDomain = errors.New("autoconfig: domain not served here")
)

// maxAddress is the longest address accepted (RFC 5321 §4.5.3.1.3 path
// limit minus the angle brackets).
const maxAddress = 254

// Validate reports a configuration that cannot produce a usable file.
func (a *Autoconfig) Validate() error {
	if a.IMAPS == 0 && a.IMAP == 0 && a.POP3S == 0 && a.POP3 == 0 {
		return errors.New("autoconfig: no IMAP or POP3 listener to describe")
	}
	if a.Hostname == "" || a.SMTPHost == "" || a.SMTPPort <= 0 {
		return errors.New("autoconfig: host names and the SMTP port must be set")
	}
	return nil
}

// The XML document. Element names and values are those Thunderbird's
// readFromXML accepts: incomingServer type imap|pop3, socketType
// SSL|STARTTLS, authentication password-cleartext (the password travels
// inside TLS; Sealpost refuses it otherwise).
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string         `xml:"id,attr"`
	Domains          []string       `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []serverConfig `xml:"incomingServer"`
	Outgoing         []serverConfig `xml:"outgoingServer"`
}

type serverConfig struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// Document returns the autoconfig XML for address (may be empty: the
// username is then Thunderbird's %EMAILADDRESS% placeholder). The username
// is the full address: mailstore/login accepts "user@domain" for every
// configured domain (any domain when none is configured), so it works
// whichever address of the user the client was given. An address of a
// domain not served here is ErrForeignDomain: its login would fail.
func (a *Autoconfig) Document(address string) ([]byte, error) {
	username := "%EMAILADDRESS%"
	domains := a.Domains
	if address = strings.TrimSpace(address); address != "" {
		domain, err := a.checkAddress(address)
		if err != nil {
			return nil, err
		}
		username = address
		if len(domains) == 0 {
			domains = []string{domain}
		}
	}
	if len(domains) == 0 {
		domains = []string{a.Hostname}
	}
	p := emailProvider{
		ID: domains[0], Domains: domains, DisplayName: domains[0] + " (Sealpost)", DisplayShortName: domains[0],
	}
	in := func(typ string, port int, socket string) {
		if port > 0 {
			p.Incoming = append(p.Incoming, serverConfig{
				Type: typ, Hostname: a.Hostname, Port: port, SocketType: socket,
				Authentication: "password-cleartext", Username: username,
			})
		}
	}
	// Thunderbird takes the first as the default and offers the others:
	// implicit TLS first (RFC 8314 §3.3 prefers it), IMAP before POP3.
	in("imap", a.IMAPS, "SSL")
	in("imap", a.IMAP, "STARTTLS")
	in("pop3", a.POP3S, "SSL")
	in("pop3", a.POP3, "STARTTLS")
	smtpSocket := "STARTTLS"
	if a.SMTPImplicitTLS {
		smtpSocket = "SSL"
	}
	p.Outgoing = []serverConfig{{
		Type: "smtp", Hostname: a.SMTPHost, Port: a.SMTPPort, SocketType: smtpSocket,
		Authentication: "password-cleartext", Username: username,
	}}
	out, err := xml.MarshalIndent(clientConfig{Version: "1.1", Provider: p}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("autoconfig: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// checkAddress validates an ?emailaddress= value and returns its domain.
// It does not look the user up: the answer must not tell who exists.
func (a *Autoconfig) checkAddress(address string) (string, error) {
	local, domain, ok := strings.Cut(address, "@")
	if !ok || len(address) > maxAddress || !validDomain(domain) {
		return "", ErrBadAddress
	}
	// NormalizeUser trims spaces; the address is echoed, so refuse them.
	if _, err := mailstore.NormalizeUser(local); err != nil || strings.TrimSpace(local) != local {
		return "", ErrBadAddress // login would refuse it too
	}
	if len(a.Domains) == 0 {
		return strings.ToLower(domain), nil
	}
	for _, d := range a.Domains {
		if strings.EqualFold(d, domain) {
			return d, nil
		}
	}
	return "", ErrForeignDomain
}

// ServeHTTP answers GET and HEAD on the autoconfig paths.
func (a *Autoconfig) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	doc, err := a.Document(r.URL.Query().Get("emailaddress"))
	switch {
	case errors.Is(err, ErrBadAddress):
		http.Error(w, "emailaddress is not a valid address for this server", http.StatusBadRequest)
		return
	case errors.Is(err, ErrForeignDomain):
		http.Error(w, "this server does not handle mail for that domain", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(doc)
}

// validDomain accepts DNS names: dot-separated labels of ASCII letters,
// digits and inner hyphens (IDNs in their xn-- form).
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(d, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

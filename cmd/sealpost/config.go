package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is sealpost's configuration file (TOML). Every key is optional;
// the zero file runs on the embedded defaults below.
type Config struct {
	DataDir   string   `toml:"data_dir"`
	Hostname  string   `toml:"hostname"`
	Domains   []string `toml:"domains"`
	LogFormat string   `toml:"log_format"` // text or json
	LogLevel  string   `toml:"log_level"`  // debug, info, warn, error

	TLS struct {
		Cert string `toml:"cert"`
		Key  string `toml:"key"`
	} `toml:"tls"`

	IMAP struct {
		Listen        string   `toml:"listen"`         // plaintext + STARTTLS; "" disables
		TLSListen     string   `toml:"tls_listen"`     // implicit TLS; "" disables
		IdleKeepalive Duration `toml:"idle_keepalive"` // "* OK Still here" interval during IDLE
	} `toml:"imap"`

	POP3 struct {
		Listen    string `toml:"listen"`
		TLSListen string `toml:"tls_listen"`
	} `toml:"pop3"`

	LMTP struct {
		Socket             string `toml:"socket"`       // unix socket; "" = <data_dir>/lmtp.sock
		SocketGroup        string `toml:"socket_group"` // group given the socket (e.g. "postfix"); "" = the server's
		Listen             string `toml:"listen"`       // TCP; "" disables
		RecipientDelimiter string `toml:"recipient_delimiter"`
	} `toml:"lmtp"`

	Limits struct {
		MaxMessageSize Size `toml:"max_message_size"`
		// Connection caps, each applied to IMAP and to POP3 separately.
		MaxConnections          int `toml:"max_connections"`
		MaxConnectionsPerIP     int `toml:"max_connections_per_ip"`
		MaxConnectionsPerUserIP int `toml:"max_connections_per_user_ip"` // IMAP, checked at login
		// LoginTimeout: a connection not logged in this long after it
		// opened is closed (IMAP and POP3, TLS handshake included).
		LoginTimeout        Duration `toml:"login_timeout"`
		TLSHandshakeTimeout Duration `toml:"tls_handshake_timeout"`
		// Failed-login throttling (mailstore/auth.ThrottleOptions).
		LoginDelay      Duration `toml:"login_delay"`
		LoginMaxDelay   Duration `toml:"login_max_delay"`
		LoginBlockAfter int      `toml:"login_block_after"`
		LoginBlockTime  Duration `toml:"login_block_time"`
		// AuthCacheTTL: how long a successful login is remembered
		// (mailstore.Options.AuthCacheTTL); zero disables the cache.
		AuthCacheTTL Duration `toml:"auth_cache_ttl"`
	} `toml:"limits"`

	// HTTP serves the Thunderbird autoconfig file (httpd.go).
	HTTP struct {
		Listen    string `toml:"listen"`     // plain HTTP; "" disables
		TLSListen string `toml:"tls_listen"` // HTTPS with the [tls] certificate; "" disables
		SMTP      string `toml:"smtp"`       // submission server named in the file, host:port; "" = <hostname>:587
		SMTPTLS   string `toml:"smtp_tls"`   // "starttls" or "implicit"; "" = implicit for port 465
	} `toml:"http"`

	Metrics struct {
		Listen string `toml:"listen"` // /metrics and /healthz, plain HTTP; "" disables
	} `toml:"metrics"`

	// DisableSocket is set by --lmtp-socket "" (no TOML key).
	lmtpSocketOff bool
}

func defaultConfig() *Config {
	c := &Config{DataDir: "./sealpost-data", Hostname: "localhost", LogFormat: "text", LogLevel: "info"}
	c.IMAP.Listen = "127.0.0.1:1143"
	c.IMAP.TLSListen = "127.0.0.1:1993"
	c.IMAP.IdleKeepalive = Duration(2 * time.Minute)
	c.POP3.Listen = "127.0.0.1:1110"
	c.POP3.TLSListen = "127.0.0.1:1995"
	c.LMTP.RecipientDelimiter = "+"
	c.Limits.MaxMessageSize = 64 << 20
	c.Limits.MaxConnections = 2000
	c.Limits.MaxConnectionsPerIP = 100
	c.Limits.MaxConnectionsPerUserIP = 20
	c.Limits.LoginTimeout = Duration(time.Minute)
	c.Limits.TLSHandshakeTimeout = Duration(15 * time.Second)
	c.Limits.LoginDelay = Duration(time.Second)
	c.Limits.LoginMaxDelay = Duration(15 * time.Second)
	c.Limits.LoginBlockAfter = 50
	c.Limits.LoginBlockTime = Duration(15 * time.Minute)
	c.Limits.AuthCacheTTL = Duration(10 * time.Minute)
	return c
}

// loadConfig reads a TOML file over the defaults. Unknown keys and bad
// values are errors that name the key and its line.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseConfig(string(data))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes and validates a config document.
func parseConfig(doc string) (*Config, error) {
	c := defaultConfig()
	md, err := toml.Decode(doc, c)
	lines := scanKeyLines(doc)
	if err != nil {
		return nil, decodeError(err, doc, lines)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, fmt.Errorf("line %d: %s: unknown key", lines.lineOf(k), k)
	}
	// TOML keys are case-sensitive, but toml.Decode also fills a field
	// from a key that differs only in case ("Data_Dir"): refuse those.
	known := configKeys(reflect.TypeFor[Config](), "", map[string]bool{})
	for _, k := range md.Keys() {
		if !known[k.String()] {
			return nil, fmt.Errorf("line %d: %s: unknown key (keys are case-sensitive)", lines.lineOf(k), k)
		}
	}
	if err := c.validate(); err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			if n := lines.lineOf(toml.Key(strings.Split(ce.key, "."))); n > 0 {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		}
		return nil, err
	}
	return c, nil
}

// configKeys lists the dotted keys a struct type accepts, from its toml tags.
func configKeys(t reflect.Type, prefix string, into map[string]bool) map[string]bool {
	for f := range t.Fields() {
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		into[prefix+name] = true
		if f.Type.Kind() == reflect.Struct {
			configKeys(f.Type, prefix+name+".", into)
		}
	}
	return into
}

// badType matches BurntSushi/toml's type mismatch errors, which are not
// ParseErrors: `toml: line 3 (last key "imap.listen"): incompatible types: ...`.
var badType = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*)"\): (.*)$`)

// decodeError rewrites toml.Decode's errors as "line N: key: problem".
func decodeError(err error, doc string, lines keyLines) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// toml counts one line short for an error at the end of the file
		// (line 0 on a one-line file); the error's byte offset cannot be
		// past it, so the larger of the two is the line.
		line := pe.Position.Line
		if start := min(max(pe.Position.Start, 0), len(doc)); start > 0 || line == 0 {
			line = max(line, 1+strings.Count(doc[:start], "\n"))
		}
		// A value our types refused (e.g. a bad size) comes with its key.
		// A syntax error comes with the last key parsed, which is only
		// worth naming if it is on the line of the error.
		msg := strings.ReplaceAll(pe.Message, "\x00", "") // toml's stand-in for the end of the file
		if pe.LastKey != "" && lines.lineOf(toml.Key(strings.Split(pe.LastKey, "."))) == line {
			return fmt.Errorf("line %d: %s: %s", line, pe.LastKey, msg)
		}
		return fmt.Errorf("line %d: %s", line, msg)
	}
	if m := badType.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("line %s: %s: %s", m[1], m[2], m[3])
	}
	return err
}

// configError is a bad value of one key, named as in the file.
type configError struct {
	key string // dotted: "lmtp.recipient_delimiter"
	msg string
}

func (e *configError) Error() string { return e.key + ": " + e.msg }

func badKey(key, format string, args ...any) error {
	return &configError{key: key, msg: fmt.Sprintf(format, args...)}
}

// validate checks the values toml could not; errors are *configError.
func (c *Config) validate() error {
	for _, a := range []struct{ key, addr string }{
		{"imap.listen", c.IMAP.Listen}, {"imap.tls_listen", c.IMAP.TLSListen},
		{"pop3.listen", c.POP3.Listen}, {"pop3.tls_listen", c.POP3.TLSListen},
		{"lmtp.listen", c.LMTP.Listen},
		{"http.listen", c.HTTP.Listen}, {"http.tls_listen", c.HTTP.TLSListen},
		{"metrics.listen", c.Metrics.Listen},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return badKey(a.key, "bad address %q: %v", a.addr, err)
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return badKey("log_format", "%q is neither text nor json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return badKey("log_level", "%v", err)
	}
	if c.TLS.Cert != "" && c.TLS.Key == "" {
		return badKey("tls.cert", "set tls.key too, or neither (to use a generated certificate)")
	}
	if c.TLS.Key != "" && c.TLS.Cert == "" {
		return badKey("tls.key", "set tls.cert too, or neither (to use a generated certificate)")
	}
	if c.DataDir == "" {
		return badKey("data_dir", "must not be empty")
	}
	if err := checkDelimiters(c.LMTP.RecipientDelimiter); err != nil {
		return badKey("lmtp.recipient_delimiter", "%v", err)
	}
	if c.Limits.MaxMessageSize <= 0 {
		return badKey("limits.max_message_size", "must be positive")
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	return c.validateHTTP()
}

// checkDelimiters accepts a set of delimiter characters like Postfix's
// recipient_delimiter ("+-": split at the first of either).
func checkDelimiters(d string) error {
	if d == "" {
		return errors.New(`must not be empty (e.g. "+", or "+-" for either)`)
	}
	for _, r := range d {
		if r <= ' ' || r >= 0x7f || r == '@' || r == '"' || r == '\\' {
			return fmt.Errorf("%q: %q cannot separate an address extension", d, r)
		}
	}
	return nil
}

func (c *Config) validateLimits() error {
	l := &c.Limits
	for _, v := range []struct {
		key string
		n   int
	}{
		{"max_connections", l.MaxConnections}, {"max_connections_per_ip", l.MaxConnectionsPerIP},
		{"max_connections_per_user_ip", l.MaxConnectionsPerUserIP}, {"login_block_after", l.LoginBlockAfter},
	} {
		if v.n <= 0 {
			return badKey("limits."+v.key, "must be positive, got %d", v.n)
		}
	}
	for _, v := range []struct {
		key string
		d   Duration
	}{
		{"login_timeout", l.LoginTimeout}, {"tls_handshake_timeout", l.TLSHandshakeTimeout},
		{"login_delay", l.LoginDelay}, {"login_max_delay", l.LoginMaxDelay}, {"login_block_time", l.LoginBlockTime},
	} {
		if v.d <= 0 {
			return badKey("limits."+v.key, "must be positive")
		}
	}
	switch {
	case l.MaxConnectionsPerIP > l.MaxConnections:
		return badKey("limits.max_connections_per_ip", "%d exceeds max_connections (%d)", l.MaxConnectionsPerIP, l.MaxConnections)
	case l.MaxConnectionsPerUserIP > l.MaxConnectionsPerIP:
		return badKey("limits.max_connections_per_user_ip", "%d exceeds max_connections_per_ip (%d)", l.MaxConnectionsPerUserIP, l.MaxConnectionsPerIP)
	case l.LoginMaxDelay < l.LoginDelay:
		return badKey("limits.login_max_delay", "%s is shorter than login_delay (%s)",
			time.Duration(l.LoginMaxDelay), time.Duration(l.LoginDelay))
	case l.TLSHandshakeTimeout > l.LoginTimeout:
		return badKey("limits.tls_handshake_timeout", "%s exceeds login_timeout (%s)",
			time.Duration(l.TLSHandshakeTimeout), time.Duration(l.LoginTimeout))
	}
	return nil
}

// Duration is a time.Duration written as "90s" or "2m" in TOML.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("bad duration %q (want e.g. \"90s\", \"2m\")", b)
	}
	*d = Duration(v)
	return nil
}

// Size is a byte count written as 1048576, "512KB", "64MB" or "2GB"
// (binary multiples).
type Size int64

func (s *Size) UnmarshalText(b []byte) error {
	v, err := parseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

func parseSize(str string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(str))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 1048576, \"512KB\", \"64MB\", \"2GB\")", str)
	}
	return n * mult, nil
}

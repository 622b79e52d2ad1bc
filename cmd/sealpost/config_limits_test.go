package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigLimits(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		err        string // substring; "" = valid
	}{
		{"defaults", "", ""},
		{"all keys", `[limits]
max_connections = 500
max_connections_per_ip = 50
max_connections_per_user_ip = 10
login_timeout = "30s"
tls_handshake_timeout = "5s"
login_delay = "500ms"
login_max_delay = "10s"
login_block_after = 20
login_block_time = "1h"
auth_cache_ttl = "5m"
`, ""},
		{"auth cache off", "[limits]\nauth_cache_ttl = \"0\"\n", ""},
		{"negative auth cache", "[limits]\nauth_cache_ttl = \"-1m\"\n", "bad duration"},
		{"zero conns", "[limits]\nmax_connections = 0\n", "limits.max_connections: must be positive"},
		{"negative per ip", "[limits]\nmax_connections_per_ip = -1\n", "limits.max_connections_per_ip: must be positive"},
		{"per ip over total", "[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\nmax_connections_per_user_ip = 5\n", "exceeds max_connections"},
		{"per user over per ip", "[limits]\nmax_connections_per_ip = 5\n", "limits.max_connections_per_user_ip: 20 exceeds max_connections_per_ip (5)"},
		{"zero timeout", "[limits]\nlogin_timeout = \"0s\"\n", "limits.login_timeout: must be positive"},
		{"handshake over login", "[limits]\nlogin_timeout = \"10s\"\n", "limits.tls_handshake_timeout: 15s exceeds login_timeout (10s)"},
		{"max under base", "[limits]\nlogin_delay = \"2s\"\nlogin_max_delay = \"1s\"\n", "shorter than login_delay"},
		{"bad duration", "[limits]\nlogin_delay = \"soon\"\n", "bad duration"},
		{"zero block", "[limits]\nlogin_block_after = 0\n", "limits.login_block_after: must be positive"},
		{"unknown key", "[limits]\nlogin_delays = \"1s\"\n", "line 2: limits.login_delays: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(p)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.name == "all keys" && (c.Limits.MaxConnectionsPerUserIP != 10 || time.Duration(c.Limits.LoginDelay) != 500*time.Millisecond ||
					time.Duration(c.Limits.AuthCacheTTL) != 5*time.Minute) {
					t.Errorf("keys not applied: %+v", c.Limits)
				}
				want := map[string]time.Duration{"defaults": 10 * time.Minute, "auth cache off": 0}
				if w, ok := want[tc.name]; ok && time.Duration(c.Limits.AuthCacheTTL) != w {
					t.Errorf("auth_cache_ttl = %v, want %v", time.Duration(c.Limits.AuthCacheTTL), w)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

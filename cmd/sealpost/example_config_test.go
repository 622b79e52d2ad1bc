package main

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configKeys lists the TOML keys of a config struct ("imap.listen").
// leafConfigKeys lists the keys of Config that take values (not tables),
// sorted.
func leafConfigKeys() []string {
	all := configKeys(reflect.TypeFor[Config](), "", map[string]bool{})
	var keys []string
	for k := range all {
		table := false
		for o := range all {
			if strings.HasPrefix(o, k+".") {
				table = true
				break
			}
		}
		if !table {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// The documented production example loads with the real loader, sets
// every key of Config, and explains each one in a comment right above it
// (or on its line). Adding a key to Config without documenting it here
// fails this test.
func TestExampleConfig(t *testing.T) {
	const path = "sealpost.example.toml"
	if _, err := loadConfig(path); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	header := regexp.MustCompile(`^\[([a-z0-9_.]+)\]\s*(#.*)?$`)
	assign := regexp.MustCompile(`^([a-z0-9_]+)\s*=\s*(.*)$`)
	documented := map[string]bool{}
	table, prevComment := "", false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			prevComment = true
			continue
		case line == "":
		case header.MatchString(line):
			table = header.FindStringSubmatch(line)[1] + "."
		case assign.MatchString(line):
			m := assign.FindStringSubmatch(line)
			key := table + m[1]
			if !prevComment && !strings.Contains(m[2], "#") {
				t.Errorf("%s:%d: %s has no comment", path, n, key)
			}
			documented[key] = true
		default:
			t.Errorf("%s:%d: unexpected line %q", path, n, line)
		}
		prevComment = false
	}
	for _, k := range leafConfigKeys() {
		if !documented[k] {
			t.Errorf("config key %s is missing from %s", k, path)
		}
	}
}

func TestConfigKeysSeesEveryField(t *testing.T) {
	keys := leafConfigKeys()
	for _, k := range []string{"data_dir", "tls.cert", "imap.idle_keepalive", "lmtp.recipient_delimiter", "limits.max_message_size"} {
		if !strings.Contains(strings.Join(keys, " "), k) {
			t.Errorf("configKeys misses %s: %q", k, keys)
		}
	}
}

// The systemd unit keeps its hardening, and its command lines are ones
// this binary accepts. (integration/ops_test.go also runs systemd-analyze
// verify and security on it.)
func TestServiceUnit(t *testing.T) {
	b, err := os.ReadFile("dist/sealpost.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"User=sealpost", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"ReadWritePaths=/var/lib/sealpost", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "StateDirectory=sealpost",
	} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}
	for _, line := range strings.Split(unit, "\n") {
		cmd, ok := strings.CutPrefix(line, "ExecStart=/usr/local/bin/sealpost ")
		if !ok {
			cmd, ok = strings.CutPrefix(line, "ExecStartPre=/usr/local/bin/sealpost ")
		}
		if !ok {
			continue
		}
		args := strings.Fields(cmd)
		if !slices.Contains(args, "/etc/sealpost/sealpost.toml") {
			t.Errorf("%s: not using /etc/sealpost/sealpost.toml", line)
		}
		// The same arguments with --help must be accepted by this binary.
		if _, _, code := runCLI(append(args, "--help")...); code != 0 {
			t.Errorf("%s: the binary rejects these arguments (exit %d)", line, code)
		}
	}
}

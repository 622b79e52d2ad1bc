package main

import (
	"io"
	"os"
	"slices"
	"testing"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\tdovecot\nVmPeak:\t  9000 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    3072 kB\nThreads:\t1\n"
	rss, hwm, err := parseStatus([]byte(status))
	if err != nil || rss != 3072<<10 || hwm != 4096<<10 {
		t.Errorf("parseStatus = %d, %d, %v", rss, hwm, err)
	}
	if _, _, err := parseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Error("a kernel thread (no VmRSS) gave no error")
	}
	if _, _, err := parseStatus([]byte("VmRSS:\t  12 MB\n")); err == nil {
		t.Error("a unit other than kB was accepted")
	}
}

func TestParseStatPPID(t *testing.T) {
	for _, tc := range []struct {
		stat string
		ppid int
		ok   bool
	}{
		{"1234 (imap) S 19916 19916 19916 0 -1", 19916, true},
		{"1234 (odd) name (x)) R 77 1 1 0", 77, true}, // comm may contain ") "
		{"garbage", 0, false},
		{"12 (x)", 0, false},
	} {
		ppid, ok := parseStatPPID([]byte(tc.stat))
		if ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStatPPID(%q) = %d, %v", tc.stat, ppid, ok)
		}
	}
}

func TestProcessTreeAndMemory(t *testing.T) {
	self := os.Getpid()
	tree := processTree(os.Getppid())
	if !slices.Contains(tree, self) {
		t.Fatalf("processTree(parent) = %v lacks this process %d", tree, self)
	}
	tg := &target{name: "self", pids: func() []int { return []int{self} }}
	rss, _, n, err := tg.memory()
	if err != nil || n != 1 || rss < 1<<20 {
		t.Errorf("memory() = %d bytes over %d processes, %v", rss, n, err)
	}
}

func TestParseUsersAndRoles(t *testing.T) {
	u, err := parseUsers("41-50")
	if err != nil || len(u) != 10 || u[0] != "user41" || u[9] != "user50" {
		t.Fatalf("parseUsers = %v, %v", u, err)
	}
	for _, bad := range []string{"", "x", "5-3", "0-2", "1-"} {
		if _, err := parseUsers(bad); err == nil {
			t.Errorf("parseUsers(%q) accepted", bad)
		}
	}
	r := assignRoles(u, []int{10000, 100000})
	if r.mailbox[10000] != "user50" || r.mailbox[100000] != "user49" || r.big != "user41" || r.pop3 != "user42" ||
		!slices.Equal(r.shared, []string{"user43", "user44", "user45", "user46", "user47", "user48"}) {
		t.Errorf("roles %+v", r)
	}
	// One size fewer: nobody changes jobs (user49 is left alone).
	if r1 := assignRoles(u, []int{1000}); r1.mailbox[1000] != "user50" || r1.pop3 != r.pop3 || !slices.Equal(r1.shared, r.shared) {
		t.Errorf("roles with one size %+v", r1)
	}
	// Three sizes take one shared user.
	if r3 := assignRoles(u, []int{1, 2, 3}); r3.mailbox[3] != "user48" || len(r3.shared) != 5 {
		t.Errorf("roles with three sizes %+v", r3)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "lmtp,imap", "-mailbox-sizes", "100000,1000", "-lmtp-users", "41-50"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.only["lmtp"] || !o.only["imap"] || o.only["conns"] || !slices.Equal(o.mailboxSizes, []int{1000, 100000}) || len(o.lmtpUsers) != 10 {
		t.Errorf("options %+v", o)
	}
	for _, bad := range [][]string{
		{"-only", "lmtp,nope"},
		{"-sealpost-only", "-dovecot-only"},
		{"-runs", "0"},
		{"-bench-users", "47-50"},
		{"-conns-mode", "busy"},
		{"stray"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

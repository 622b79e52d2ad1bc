package main

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The socket gets the configured group and 0660, a missing socket
// directory is created setgid for the group, and a socket inside the data
// dir (which stays 0700) is refused with a message that says why.
func TestListenLMTPSocket(t *testing.T) {
	gid := os.Getgid() // a group we may always chgrp our own files to
	group := strconv.Itoa(gid)
	cases := []struct {
		name    string
		sock    func(data, other string) string
		group   string
		wantErr string
		wantDir fs.FileMode // mode of a directory serve created; 0: not checked
	}{
		{"default, no group", func(data, _ string) string { return filepath.Join(data, "lmtp.sock") }, "", "", 0},
		{"own dir created", func(_, other string) string { return filepath.Join(other, "sock", "lmtp.sock") }, group, "", 0o750 | fs.ModeSetgid | fs.ModeDir},
		{"existing dir", func(_, other string) string { return filepath.Join(other, "lmtp.sock") }, group, "", 0},
		{"inside data dir", func(data, _ string) string { return filepath.Join(data, "lmtp.sock") }, group, "inside the data dir", 0},
		{"below data dir", func(data, _ string) string { return filepath.Join(data, "x", "lmtp.sock") }, group, "inside the data dir", 0},
		{"unknown group", func(_, other string) string { return filepath.Join(other, "lmtp.sock") }, "no-such-group-sealpost", "unknown group", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, other := t.TempDir(), t.TempDir()
			path := tc.sock(data, other)
			var logs bytes.Buffer
			l, err := listenLMTPSocket(path, data, tc.group, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
				t.Errorf("socket mode %v, want socket 0660", fi.Mode())
			}
			if tc.group != "" && statGID(fi) != gid {
				t.Errorf("socket gid %d, want %d", statGID(fi), gid)
			}
			if tc.wantDir != 0 {
				di, _ := os.Stat(filepath.Dir(path))
				if di.Mode() != tc.wantDir {
					t.Errorf("socket dir mode %v, want %v", di.Mode(), tc.wantDir)
				}
			}
		})
	}
}

// A directory on the way that the group cannot search is named.
func TestUnreachableDir(t *testing.T) {
	gid := os.Getgid()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	open := filepath.Join(root, "open")
	closed := filepath.Join(root, "closed")
	for d, m := range map[string]fs.FileMode{open: 0o750, closed: 0o700} {
		os.Mkdir(d, 0o700)
		os.Chmod(d, m)
	}
	// t.TempDir's parents may be 0700, so only the part below root is
	// predictable: a group-searchable dir must never be the one named.
	if got, _ := unreachableDir(open, gid); got == open {
		t.Errorf("%s reported although the group may search it", open)
	}
	for _, dir := range []string{closed, filepath.Join(root, "missing")} {
		if got, _ := unreachableDir(dir, gid); got != dir {
			t.Errorf("unreachableDir(%s) = %q, want itself", dir, got)
		}
	}
}

func TestInside(t *testing.T) {
	for _, tc := range []struct {
		dir, base string
		want      bool
	}{
		{"/var/lib/sealpost", "/var/lib/sealpost", true},
		{"/var/lib/sealpost/x", "/var/lib/sealpost", true},
		{"/var/lib/sealpost-run", "/var/lib/sealpost", false},
		{"/var/spool/postfix/sealpost", "/var/lib/sealpost", false},
		{"/var/lib", "/var/lib/sealpost", false},
	} {
		if got := inside(tc.dir, tc.base); got != tc.want {
			t.Errorf("inside(%q, %q) = %v", tc.dir, tc.base, got)
		}
	}
}

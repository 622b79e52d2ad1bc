package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Who may connect to the LMTP socket. The data dir is always 0700: only
// the server's user may enter it, so message files and databases stay
// private whatever their own modes. An MTA that runs as another user
// (Postfix's lmtp(8) client runs as "postfix") reaches the socket through a
// directory of its own instead: lmtp.socket_group names the MTA's group,
// serve gives the socket that group and mode 0660, and creates a missing
// socket directory as 02750 with that group. Postfix runs its delivery
// agents without supplementary groups, so the socket's group must be the
// MTA's own primary group; adding "postfix" to the sealpost group does not
// work.

// lookupGroup resolves a group name or number; "" means none (-1).
func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("lmtp.socket_group: unknown group %q", name)
	}
	return strconv.Atoi(g.Gid)
}

// listenLMTPSocket listens on the LMTP unix socket at path with mode 0660.
// With a group the socket gets that group, and a directory on the way that
// denies the group is logged as a warning.
func listenLMTPSocket(path, dataDir string, group string, log *slog.Logger) (net.Listener, error) {
	gid, err := lookupGroup(group)
	if err != nil {
		return nil, err
	}
	if gid >= 0 {
		if err := prepareSocketDir(path, dataDir, group, gid); err != nil {
			return nil, err
		}
	}
	l, err := listenUnix(path, 0o660)
	if err != nil {
		return nil, err
	}
	if gid >= 0 {
		if err := chgrp(path, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("lmtp.socket_group %q: cannot give %s to the group: %w (make its directory setgid %s, or run sealpost as a member of %s)",
				group, path, err, group, group)
		}
		if dir, fi := unreachableDir(filepath.Dir(path), gid); dir != "" {
			mode := "unknown"
			if fi != nil {
				mode = fmt.Sprintf("%04o", fi.Mode().Perm())
			}
			log.Warn("the LMTP socket's group cannot reach it: the MTA will get \"permission denied\"",
				"socket", path, "group", group, "dir", dir, "mode", mode, "dir_gid", statGID(fi))
		}
	}
	return l, nil
}

// prepareSocketDir refuses a socket inside the data dir (which the group
// can never enter) and creates a missing socket directory for the group.
func prepareSocketDir(path, dataDir, group string, gid int) error {
	dir := filepath.Dir(path)
	if inside(dir, dataDir) {
		return fmt.Errorf("lmtp.socket_group %q: the socket %s is inside the data dir, which only sealpost may enter (mode 0700); put it in a directory of its own, e.g. /var/spool/postfix/sealpost/lmtp.sock", group, path)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil // an existing directory is the admin's choice; unreachableDir checks it
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("lmtp socket directory: %w (create it: install -d -o SEALPOST_USER -g %s -m 2750 %s)", err, group, dir)
	}
	if err := chgrp(dir, gid); err != nil {
		return fmt.Errorf("lmtp.socket_group %q: cannot give %s to the group: %w", group, dir, err)
	}
	// setgid: a socket re-created here inherits the group without chown.
	return os.Chmod(dir, 0o750|fs.ModeSetgid)
}

// chgrp changes path's group unless it already has it (allowed to the
// owner even when not a member, which is what a setgid directory gives).
func chgrp(path string, gid int) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if statGID(fi) == gid {
		return nil
	}
	return os.Lchown(path, -1, gid)
}

// unreachableDir returns the first directory from dir up to the root that
// a process with only group gid cannot search, or "". It does not know the
// MTA's user, so a directory that admits it as owner is reported too.
func unreachableDir(dir string, gid int) (string, fs.FileInfo) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return d, nil
		}
		m := fi.Mode().Perm()
		if m&0o001 == 0 && !(statGID(fi) == gid && m&0o010 != 0) {
			return d, fi
		}
		if d == filepath.Dir(d) {
			return "", nil
		}
	}
}

func statGID(fi fs.FileInfo) int {
	if fi == nil {
		return -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Gid)
	}
	return -1
}

// inside reports whether dir is base or below it.
func inside(dir, base string) bool {
	a, err1 := filepath.Abs(dir)
	b, err2 := filepath.Abs(base)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

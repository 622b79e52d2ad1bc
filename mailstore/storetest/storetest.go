// Package storetest has test helpers for running the store on a real full
// disk: a small tmpfs and a file that fills it. Tests of mailstore and the
// end-to-end tests in integration/ share them.
package storetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes on a new directory, or skips the
// test: only root can mount, and CI may forbid it (the fault-injection
// unit tests in mailstore, mailstore/lmtp, imapd and cmd/sealpost cover
// the disk-full replies then). It is unmounted at cleanup, so register it
// before anything whose cleanup must run first (a server using it).
func MountTmpfs(t testing.TB, size int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sealpost-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// FillDisk writes a file in dir until the filesystem is full, to the last
// byte, and returns its path: removing it frees the space again.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Write(buf)
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		// Top up to the last byte.
		for n := n; n > 0; {
			n, _ = f.Write(buf[:1])
		}
		return p
	}
}

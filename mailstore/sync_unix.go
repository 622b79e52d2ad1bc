//go:build unix

package mailstore

import "syscall"

// syncAll flushes every file system: one call instead of an fsync per
// copied file when a backup or restore writes thousands of files.
func syncAll() { syscall.Sync() }

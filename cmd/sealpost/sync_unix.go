//go:build unix

package main

import "syscall"

// syncDisks flushes written files once at the end of an export or backup,
// instead of an fsync per file.
func syncDisks() { syscall.Sync() }

package spool

import (
	"os"
	"syscall"
)

// fdatasync skips the inode timestamp update that fsync also flushes; the
// file size, which we need, is still made durable.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

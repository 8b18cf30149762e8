//go:build linux

package warehouse

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// childSysProcAttr ties the child's life to ours: Pdeathsig SIGKILLs it when
// the forking thread (see startChild) dies, which includes our process being
// SIGKILLed; Setpgid keeps terminal signals (Ctrl-C) away from it so that
// only Stop decides how it shuts down.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// signalChild signals the child's whole process group (it leads it because
// of Setpgid), so anything clickhouse-server spawned goes down with it.
func signalChild(p *os.Process, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// signalPID signals a process we did not start (a stale server).
func signalPID(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// processCmdline returns the command line of a live process, args joined by
// spaces. ok is false when the process does not exist or is a zombie (a
// zombie's cmdline is empty), i.e. when there is nothing left to kill.
func processCmdline(pid int) (cmdline string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(bytes.TrimRight(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), " ")), true
}

// totalMemory is the machine's memory in bytes (0 if unknown).
func totalMemory() uint64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

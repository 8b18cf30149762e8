//go:build !linux

package warehouse

import (
	"errors"
	"os"
	"syscall"
)

// ClickHouse only runs on Linux; this fallback exists so the package builds
// and vets elsewhere. Without Pdeathsig the child can outlive a killed parent,
// and without /proc a stale server cannot be recognised.

func childSysProcAttr() *syscall.SysProcAttr { return nil }

func signalChild(p *os.Process, kill bool) error {
	var err error
	if kill {
		err = p.Kill()
	} else {
		err = p.Signal(syscall.SIGTERM)
	}
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

func signalPID(pid int, kill bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	return signalChild(p, kill)
}

func processCmdline(pid int) (string, bool) { return "", false }

// totalMemory is unknown off Linux: the fixed defaults apply.
func totalMemory() uint64 { return 0 }

//go:build unix

package auditlog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on f. The lock belongs to
// the open file and is released when it is closed, including when the
// process dies, so a crash never leaves a stale lock behind.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("audit log %s is in use by another process (another gatehouse is writing it)", f.Name())
		}
		if err != nil {
			return fmt.Errorf("lock audit log %s: %w", f.Name(), err)
		}
		return nil
	}
}

// InUse reports whether a writer currently holds the lock on the log at
// path, so that `gatehouse verify` can tell a live log, which has no closing
// checkpoint yet, from one that was cut short.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for {
		// A shared lock conflicts with the writer's exclusive one and with
		// nothing else, so two verifiers never see each other as writers.
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("check lock on %s: %w", path, err)
		}
		return false, nil // closing f releases the lock
	}
}

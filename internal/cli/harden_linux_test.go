package cli

import (
	"syscall"
	"testing"
)

func TestHideProcess(t *testing.T) {
	if err := hideProcess(); err != nil {
		t.Fatal(err)
	}
	const prGetDumpable = 3
	v, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 || v != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d (errno %v), want 0 after hideProcess", v, errno)
	}
}

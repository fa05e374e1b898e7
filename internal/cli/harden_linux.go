package cli

import "syscall"

// prSetDumpable is PR_SET_DUMPABLE from <linux/prctl.h>.
const prSetDumpable = 4

// hideProcess makes this process non-dumpable: its /proc entries (environ, cmdline's neighbours,
// mem) belong to root, so a server it starts under the same user cannot read the secrets in its
// environment (GATEHOUSE_AGENT_SECRET, upstream credentials) from /proc/<parent>/environ, and
// cannot ptrace it. It also turns off core dumps, which would hold the same secrets. A child's own
// exec resets the flag, so the servers are unaffected.
func hideProcess() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

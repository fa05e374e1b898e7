//go:build unix

package secretfile

import (
	"io/fs"
	"os"
	"syscall"
)

// groupMayRead says whether a secret file's group may be allowed to read it: root owns it, gatehouse
// does not run as root (where the exception would serve nothing), and the group is one gatehouse
// runs with (a Kubernetes pod's fsGroup is a supplementary group).
func groupMayRead(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	groups, _ := os.Getgroups()
	return groupException(st.Uid, st.Gid, os.Geteuid(), os.Getegid(), groups)
}

//go:build unix

package fstools

import (
	"io/fs"
	"syscall"
)

// readFlags are added to os.O_RDONLY when opening a file to read: O_NONBLOCK, so that a named pipe
// swapped in after the Lstat check cannot block the open (the check after opening then refuses it).
const readFlags = syscall.O_NONBLOCK

// linkCount returns the number of hard links to the file info describes.
func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// freeBytes returns the space an unprivileged process may still write on the file system holding
// dir, and whether it could be read.
func freeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

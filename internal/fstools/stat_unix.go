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

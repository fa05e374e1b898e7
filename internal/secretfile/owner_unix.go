//go:build unix

package secretfile

import (
	"io/fs"
	"syscall"
)

// rootOwned says whether root owns the file fi describes.
func rootOwned(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}

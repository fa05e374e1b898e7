//go:build !unix

package fstools

import "io/fs"

// readFlags are added to os.O_RDONLY when opening a file to read; none are needed off Unix.
const readFlags = 0

// linkCount returns 1: off Unix the link count is not available from fs.FileInfo, so the hard-link
// rule is only enforced on Unix, where gatehouse runs in production.
func linkCount(fs.FileInfo) uint64 { return 1 }

// freeBytes reports false: off Unix the free space is not checked.
func freeBytes(string) (int64, bool) { return 0, false }

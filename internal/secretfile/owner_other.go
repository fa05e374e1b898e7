//go:build !unix

package secretfile

import "io/fs"

// groupMayRead is false where files have no Unix owner: only the strict rule applies.
func groupMayRead(fs.FileInfo) bool { return false }

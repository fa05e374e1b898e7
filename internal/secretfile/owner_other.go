//go:build !unix

package secretfile

import "io/fs"

// rootOwned is false where files have no Unix owner: only the strict rule applies.
func rootOwned(fs.FileInfo) bool { return false }

//go:build !unix

package auditlog

import (
	"errors"
	"os"
)

var errNoLock = errors.New("audit log locking needs flock, which this platform does not have")

// lockFile fails: without a lock two writers could interleave records.
func lockFile(f *os.File) error { return errNoLock }

// InUse reports whether a writer currently holds the lock on the log at
// path; on this platform it cannot tell and returns an error.
func InUse(path string) (bool, error) { return false, errNoLock }

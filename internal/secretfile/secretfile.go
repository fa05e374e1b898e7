// Package secretfile reads files that hold a secret (a signing key, an HMAC secret, a password).
package secretfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// MaxBytes bounds what Read reads: no secret gatehouse reads is near it.
const MaxBytes = 64 << 10

// Read returns the contents of the secret file at path. Like ssh with a private key, it refuses a
// file that others may access, or that its group may access, since anyone who can read it holds the
// secret; what names the file in errors ("private key", "secret file"). The one exception is
// PostgreSQL's for its server key: a file owned by root may be readable, not writable, by its group,
// which root chose. It applies only when that group is one gatehouse runs with and gatehouse is not
// root: it is how a Kubernetes Secret volume gives a non-root process its files (root's, mode 0440,
// group the pod's fsGroup).
func Read(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat() // of the opened file, so the check and the read see the same file
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); !permitted(perm, groupMayRead(fi)) {
		return nil, fmt.Errorf("%s %s has permissions %#o: it must not be accessible by group or others (chmod 600 %s); a file root owns may also be readable by a group gatehouse runs in, when gatehouse is not root", what, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s %s is larger than %d bytes: is it the right file?", what, path, MaxBytes)
	}
	return data, nil
}

// permitted says whether a secret file with permissions perm may be read: no access for others, and
// none for its group unless groupRead (see groupMayRead) and the group may only read it.
func permitted(perm fs.FileMode, groupRead bool) bool {
	if groupRead {
		return perm&0o037 == 0
	}
	return perm&0o077 == 0
}

// groupException is groupMayRead's rule for a file owned by uid and gid, read by a process with
// effective ids euid and egid and supplementary groups.
func groupException(uid, gid uint32, euid, egid int, groups []int) bool {
	if uid != 0 || euid == 0 {
		return false
	}
	return int(gid) == egid || slices.Contains(groups, int(gid))
}

// Package secretfile reads files that hold a secret (a signing key, an HMAC secret, a password).
package secretfile

import (
	"fmt"
	"io"
	"os"
)

// MaxBytes bounds what Read reads: no secret gatehouse reads is near it.
const MaxBytes = 64 << 10

// Read returns the contents of the secret file at path. Like ssh with a private key, it refuses a
// file that group or others may access, since anyone who can read it holds the secret; what names
// the file in errors ("private key", "secret file").
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
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has permissions %#o: it must not be accessible by group or others (chmod 600 %s)", what, path, perm, path)
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

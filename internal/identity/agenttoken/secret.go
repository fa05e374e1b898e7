package agenttoken

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// MinSecretBytes is the shortest HMAC secret accepted: 256 bits, the output size of SHA-256, as
// RFC 7518 §3.2 requires for HS256.
const MinSecretBytes = 32

// maxSecretBytes bounds what ReadSecretFile reads.
const maxSecretBytes = 64 << 10

func checkSecret(secret []byte) error {
	if len(secret) < MinSecretBytes {
		return fmt.Errorf("agent token: the HMAC secret is %d bytes, want at least %d (for example: openssl rand -hex 32)", len(secret), MinSecretBytes)
	}
	return nil
}

// ParseSecret turns the contents of a secret file or environment variable into an HMAC secret: the
// bytes without trailing white space (so that a file written by `openssl rand -hex 32 > F` or an
// editor's final newline means what it looks like), at least MinSecretBytes long. Issuer and
// verifier must both read the secret through ParseSecret.
func ParseSecret(data []byte) ([]byte, error) {
	secret := bytes.TrimRight(data, " \t\r\n")
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	return secret, nil
}

// ReadSecretFile reads an HMAC secret with ParseSecret. Like an SSH private key, the file must not
// be accessible by group or others: anyone who can read the secret can mint tokens for any agent.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret file %s has permissions %#o: it must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretBytes {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes: is it the right file?", path, maxSecretBytes)
	}
	secret, err := ParseSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return secret, nil
}

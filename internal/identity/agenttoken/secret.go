package agenttoken

import (
	"bytes"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/secretfile"
)

// MinSecretBytes is the shortest HMAC secret accepted: 256 bits, the output size of SHA-256, as
// RFC 7518 §3.2 requires for HS256.
const MinSecretBytes = 32

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
	data, err := secretfile.Read(path, "secret file")
	if err != nil {
		return nil, err
	}
	secret, err := ParseSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return secret, nil
}

package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

const hashPrefix = "sha256:"

// HashAPIKey returns the form an API key is stored in: "sha256:" followed by the lowercase hex
// SHA-256 of the key. It is what `printf %s "$KEY" | sha256sum` prints, with the prefix.
//
// A plain hash suffices because API keys are random and long (generate them with
// `openssl rand -base64 32`): there is nothing to guess, so nothing to slow down with a salted,
// stretched hash, and checking a key costs one SHA-256 per request.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// parseKeyHash reads a configured hash.
func parseKeyHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(strings.ToLower(s), hashPrefix)
	if !ok {
		return sum, errors.New(`hash must start with "sha256:" (printf %s "$KEY" | sha256sum)`)
	}
	if len(hexPart) != 2*sha256.Size {
		return sum, errors.New("hash must be sha256: followed by 64 hex digits")
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, errors.New("hash must be sha256: followed by 64 hex digits")
	}
	return sum, nil
}

// apiKeySet holds the configured keys by hash.
type apiKeySet struct {
	sums []([sha256.Size]byte)
	ids  []*Identity
	// eq compares two hashes, returning 1 when equal; subtle.ConstantTimeCompare, replaced in tests
	// to prove every key is compared.
	eq func(a, b []byte) int
}

func newAPIKeySet(keys []APIKeyConfig) (*apiKeySet, error) {
	s := &apiKeySet{eq: subtle.ConstantTimeCompare}
	for _, k := range keys {
		sum, err := parseKeyHash(k.Hash)
		if err != nil {
			return nil, err
		}
		s.sums = append(s.sums, sum)
		s.ids = append(s.ids, &Identity{
			Principal: policy.Principal{ID: k.ID, Roles: append([]string{}, k.Roles...), Claims: map[string]any{}},
			Tenant:    k.Tenant,
			Method:    MethodAPIKey,
		})
	}
	return s, nil
}

// lookup returns the identity whose key hashes to sum, or nil. It compares sum with every
// configured hash, in constant time and without stopping at a match, so the time taken says
// nothing about which key (or how much of one) matched. Comparing hashes already hides the key
// itself; this keeps the number of keys and the position of the match hidden too.
func (s *apiKeySet) lookup(sum [sha256.Size]byte) *Identity {
	match := -1
	for i := range s.sums {
		match = subtle.ConstantTimeSelect(s.eq(s.sums[i][:], sum[:]), i, match)
	}
	if match < 0 {
		return nil
	}
	return s.ids[match]
}

package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// TestKeyFits is the algorithm-confusion table on its own, without jwx behind it: a key verifies
// only the algorithms of its type, curve and size.
func TestKeyFits(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := &verifyKey{kty: ktyRSA, raw: &rsaKey1().PublicKey}
	ecKey256 := &verifyKey{kty: ktyEC, crv: "P-256", raw: &ecKey().PublicKey}
	okp := &verifyKey{kty: ktyOKP, crv: "Ed25519", raw: edKey().Public()}
	secret := &verifyKey{kty: ktyOct, raw: []byte(strings.Repeat("s", 32))}
	tests := []struct {
		name string
		key  *verifyKey
		alg  string
		want string // "" when it fits
	}{
		{"RSA RS256", rsaKey, "RS256", ""},
		{"RSA PS512", rsaKey, "PS512", ""},
		{"RSA as an HMAC secret", rsaKey, "HS256", "cannot verify HS256"},
		{"RSA as ES256", rsaKey, "ES256", "cannot verify ES256"},
		{"RSA as none", rsaKey, "none", "not supported"},
		{"RSA of 1024 bits", &verifyKey{kty: ktyRSA, raw: &small.PublicKey}, "RS256", "below 2048"},
		{"P-256 ES256", ecKey256, "ES256", ""},
		{"P-256 as ES384", ecKey256, "ES384", "cannot verify ES384"},
		{"P-256 as HS256", ecKey256, "HS256", "cannot verify HS256"},
		{"Ed25519 EdDSA", okp, "EdDSA", ""},
		{"Ed25519 Ed25519", okp, "Ed25519", ""},
		{"Ed25519 as RS256", okp, "RS256", "cannot verify RS256"},
		{"secret HS256", secret, "HS256", ""},
		{"secret too short for HS384", secret, "HS384", "too short"},
		{"secret as RS256", secret, "RS256", "cannot verify RS256"},
		{"key pinned to RS384", &verifyKey{kty: ktyRSA, alg: "RS384", raw: &rsaKey1().PublicKey}, "RS256", "the key is for RS384"},
		{"key for encryption", &verifyKey{kty: ktyRSA, use: "enc", raw: &rsaKey1().PublicKey}, "RS256", "not sig"},
		{"key_ops without verify", &verifyKey{kty: ktyRSA, ops: []string{"sign"}, raw: &rsaKey1().PublicKey}, "RS256", "key_ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.fits(tc.alg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want it to fit", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

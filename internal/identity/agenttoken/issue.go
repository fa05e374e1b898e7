package agenttoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Signer holds the key tokens are issued with.
type Signer struct {
	scheme Scheme
	alg    jwa.SignatureAlgorithm
	key    any // []byte for hmac, ed25519.PrivateKey for ed25519
	kid    string
}

// NewHMACSigner returns a signer for the hmac scheme. The secret must be at least MinSecretBytes
// long; it is copied.
func NewHMACSigner(secret []byte) (*Signer, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	return &Signer{scheme: SchemeHMAC, alg: jwa.HS256(), key: append([]byte(nil), secret...)}, nil
}

// NewEd25519Signer returns a signer for the ed25519 scheme. Its tokens name the key in the "kid"
// header by KeyID, the same id gatehouse keygen prints.
func NewEd25519Signer(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("agent token: an Ed25519 private key is %d bytes, got %d", ed25519.PrivateKeySize, len(priv))
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{scheme: SchemeEd25519, alg: jwa.EdDSA(), key: priv, kid: KeyID(pub)}, nil
}

// Scheme is the scheme of the tokens s issues.
func (s *Signer) Scheme() Scheme { return s.scheme }

// KeyID names an Ed25519 public key: the first 16 hex characters of SHA-256 of its 32 bytes. It is
// the id gatehouse keygen prints and audit checkpoints carry, so one key pair has one name.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Issue signs c with s and returns the compact token. c.AgentID, c.IssuedAt and c.Expiry are
// required, Expiry must be after IssuedAt (and NotBefore, when set), and every name must pass the
// same checks Verify applies. c.Scheme is ignored: the token's scheme is the signer's. An empty
// c.ID is replaced by 128 random bits.
func Issue(c Claims, s *Signer) (string, error) {
	if s == nil {
		return "", errors.New("agent token: no signer")
	}
	if c.ID == "" {
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return "", fmt.Errorf("agent token: token id: %w", err)
		}
		c.ID = b64.EncodeToString(id[:])
	}
	if err := c.checkNames(); err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	switch {
	case c.IssuedAt.IsZero():
		return "", errors.New("agent token: IssuedAt is required")
	case c.Expiry.IsZero():
		return "", errors.New("agent token: Expiry is required: a token valid forever is not issued")
	case !c.Expiry.After(c.IssuedAt):
		return "", fmt.Errorf("agent token: Expiry %v is not after IssuedAt %v", c.Expiry, c.IssuedAt)
	case !c.NotBefore.IsZero() && !c.Expiry.After(c.NotBefore):
		return "", fmt.Errorf("agent token: Expiry %v is not after NotBefore %v", c.Expiry, c.NotBefore)
	}
	w := wireClaims{
		Sub:    c.AgentID,
		Roles:  append([]string{}, c.Roles...),
		Tenant: c.Tenant,
		Scheme: s.scheme,
		Iat:    c.IssuedAt.Unix(),
		Exp:    c.Expiry.Unix(),
		Jti:    c.ID,
	}
	if !c.NotBefore.IsZero() {
		w.Nbf = c.NotBefore.Unix()
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, Type); err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	if s.kid != "" {
		if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
			return "", fmt.Errorf("agent token: %w", err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(s.alg, s.key, jws.WithProtectedHeaders(hdr)), jws.WithCompact())
	if err != nil {
		return "", fmt.Errorf("agent token: sign: %w", err)
	}
	if len(tok) > MaxTokenBytes {
		return "", fmt.Errorf("agent token: the token is %d bytes, more than the %d a verifier reads: use fewer or shorter roles", len(tok), MaxTokenBytes)
	}
	return string(tok), nil
}

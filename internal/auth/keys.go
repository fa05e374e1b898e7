package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Key types (the JWK kty values).
const (
	ktyRSA = "RSA"
	ktyEC  = "EC"
	ktyOKP = "OKP"
	ktyOct = "oct"
)

// algSpec is what a key must be to verify one algorithm. The table is the whole defence against
// algorithm confusion: a key verifies a token only if the token's alg is allowed and the key's
// type (and curve, and size) is the one this table names for that alg. An RSA public key is never
// an HMAC secret, whatever the token's header says.
type algSpec struct {
	kty      string
	crv      string // for EC and OKP keys
	minBytes int    // for HMAC secrets (RFC 7518 §3.2: at least the hash size)
}

var algorithms = map[string]algSpec{
	"RS256": {kty: ktyRSA}, "RS384": {kty: ktyRSA}, "RS512": {kty: ktyRSA},
	"PS256": {kty: ktyRSA}, "PS384": {kty: ktyRSA}, "PS512": {kty: ktyRSA},
	"ES256": {kty: ktyEC, crv: "P-256"}, "ES384": {kty: ktyEC, crv: "P-384"}, "ES512": {kty: ktyEC, crv: "P-521"},
	"EdDSA": {kty: ktyOKP, crv: "Ed25519"}, "Ed25519": {kty: ktyOKP, crv: "Ed25519"},
	"HS256": {kty: ktyOct, minBytes: 32}, "HS384": {kty: ktyOct, minBytes: 48}, "HS512": {kty: ktyOct, minBytes: 64},
}

func supportedAlgorithms() []string {
	out := make([]string, 0, len(algorithms))
	for a := range algorithms {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// minRSABits refuses RSA keys too small to be safe (NIST SP 800-131A).
const minRSABits = 2048

// maxJWKSKeys bounds the keys taken from one JWKS document; real ones hold a handful.
const maxJWKSKeys = 100

// verifyKey is one key a token may be verified with, in the form the verifier needs.
type verifyKey struct {
	kid    string
	kty    string
	crv    string
	alg    string   // the only algorithm the key may verify; empty for any that fits
	use    string   // JWK use; empty or "sig" to verify
	ops    []string // JWK key_ops; nil for unrestricted
	raw    any      // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC)
	origin string   // where the key came from, for logs
}

// fits says why k cannot verify a token signed with alg, or returns nil if it can.
func (k *verifyKey) fits(alg string) error {
	spec, ok := algorithms[alg]
	if !ok {
		return fmt.Errorf("algorithm %q is not supported", alg)
	}
	if k.kty != spec.kty {
		return fmt.Errorf("a %s key cannot verify %s", k.kty, alg)
	}
	if spec.crv != "" && k.crv != spec.crv {
		return fmt.Errorf("a %s key cannot verify %s", k.crv, alg)
	}
	if k.alg != "" && k.alg != alg {
		return fmt.Errorf("the key is for %s, the token says %s", k.alg, alg)
	}
	if k.use != "" && k.use != "sig" {
		return fmt.Errorf("the key's use is %q, not sig", k.use)
	}
	if k.ops != nil && !slices.Contains(k.ops, "verify") {
		return fmt.Errorf("the key's key_ops do not include verify")
	}
	switch raw := k.raw.(type) {
	case *rsa.PublicKey:
		if raw.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is below %d", raw.N.BitLen(), minRSABits)
		}
	case []byte:
		if len(raw) < spec.minBytes {
			return fmt.Errorf("%d-byte secret is too short for %s (needs %d)", len(raw), alg, spec.minBytes)
		}
	}
	return nil
}

// newVerifyKey classifies a public key.
func newVerifyKey(raw any) (*verifyKey, error) {
	switch k := raw.(type) {
	case *rsa.PublicKey:
		return &verifyKey{kty: ktyRSA, raw: k}, nil
	case *ecdsa.PublicKey:
		return &verifyKey{kty: ktyEC, crv: k.Curve.Params().Name, raw: k}, nil
	case ed25519.PublicKey:
		return &verifyKey{kty: ktyOKP, crv: "Ed25519", raw: k}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", raw)
}

// fromJWK converts one key of a JWKS. Symmetric keys are refused: a JWKS is public, so a secret
// published in one would let anyone sign.
func fromJWK(k jwk.Key) (*verifyKey, error) {
	if _, ok := k.(jwk.UnsupportedKey); ok {
		return nil, fmt.Errorf("key type %q is not supported", k.KeyType().String())
	}
	switch k.KeyType() {
	case jwa.RSA(), jwa.EC(), jwa.OKP():
	case jwa.OctetSeq():
		return nil, errors.New("symmetric (oct) key refused: a key published in a JWKS is not a secret")
	default:
		return nil, fmt.Errorf("key type %q is not supported", k.KeyType().String())
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	var raw any
	if err := jwk.Export(pub, &raw); err != nil {
		return nil, err
	}
	vk, err := newVerifyKey(raw)
	if err != nil {
		return nil, err
	}
	vk.kid, _ = k.KeyID()
	if a, ok := k.Algorithm(); ok {
		vk.alg = a.String()
	}
	if u, ok := k.KeyUsage(); ok {
		vk.use = u
	}
	if ops, ok := k.KeyOps(); ok {
		vk.ops = []string{}
		for _, op := range ops {
			vk.ops = append(vk.ops, string(op))
		}
	}
	vk.origin = "jwks"
	return vk, nil
}

// parseJWKS reads a JWK Set document. Keys that cannot be used are skipped and reported; a document
// with no usable key at all is an error, so that a broken refresh never replaces a working set.
func parseJWKS(body []byte) (keys []*verifyKey, skipped []error, err error) {
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if probe.Keys == nil {
		return nil, nil, errors.New(`not a JWK set: no "keys" array`)
	}
	if len(probe.Keys) > maxJWKSKeys {
		return nil, nil, fmt.Errorf("JWK set has %d keys, more than %d", len(probe.Keys), maxJWKSKeys)
	}
	// Non-strict parsing keeps a key type jwx does not know (a post-quantum key, say) from failing
	// the whole set; such entries come back as UnsupportedKey and are skipped below.
	set, err := jwk.Parse(body, jwk.WithStrictKeySetParsing(false), jwk.WithMaxKeys(maxJWKSKeys))
	if err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		vk, err := fromJWK(k)
		if err != nil {
			kid, _ := k.KeyID()
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i+1, kid, err))
			continue
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("JWK set has no usable signing key")
	}
	return keys, skipped, nil
}

// parsePublicPEM reads exactly one public key from PEM.
func parsePublicPEM(data []byte) (any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("more than one PEM block: give one key per entry")
	}
	switch {
	case block.Type == "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, errors.New("this is a private key: give the public key (openssl pkey -pubout), the gateway only verifies")
	}
	return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
}

// loadStaticKeys reads the configured PEM keys and HMAC secrets. It is the only place that reads
// files and the environment for client authentication, so that Validate can stay pure.
func loadStaticKeys(j *JWTConfig, getenv func(string) string) ([]*verifyKey, []error) {
	var keys []*verifyKey
	var ps problems
	for i, sk := range j.Keys {
		where := fmt.Sprintf("key %d", i+1)
		data := []byte(sk.PEM)
		if sk.File != "" {
			var err error
			if data, err = os.ReadFile(sk.File); err != nil {
				ps.add("jwt.keys", "%s: %v", where, err)
				continue
			}
		}
		raw, err := parsePublicPEM(data)
		if err != nil {
			ps.add("jwt.keys", "%s: %v", where, err)
			continue
		}
		vk, err := newVerifyKey(raw)
		if err != nil {
			ps.add("jwt.keys", "%s: %v", where, err)
			continue
		}
		vk.kid, vk.alg, vk.origin = sk.ID, sk.Algorithm, "jwt.keys "+where
		if err := fitsAny(vk, j.Algorithms); err != nil {
			ps.add("jwt.keys", "%s: %v", where, err)
			continue
		}
		keys = append(keys, vk)
	}
	for i, hk := range j.HMACKeys {
		where := fmt.Sprintf("key %d", i+1)
		var secret []byte
		if hk.SecretEnv != "" {
			secret = []byte(getenv(hk.SecretEnv))
			if len(secret) == 0 {
				ps.add("jwt.hmac_keys", "%s: environment variable %s is empty or not set", where, hk.SecretEnv)
				continue
			}
		} else {
			data, err := os.ReadFile(hk.SecretFile)
			if err != nil {
				ps.add("jwt.hmac_keys", "%s: %v", where, err)
				continue
			}
			secret = bytes.TrimRight(data, "\r\n")
		}
		vk := &verifyKey{kid: hk.ID, kty: ktyOct, alg: hk.Algorithm, raw: secret, origin: "jwt.hmac_keys " + where}
		if err := fitsAny(vk, j.Algorithms); err != nil {
			ps.add("jwt.hmac_keys", "%s: %v", where, err)
			continue
		}
		keys = append(keys, vk)
	}
	return keys, ps
}

// fitsAny checks that a configured key can verify at least one allowed algorithm, so that a key that
// could never be used is a start-up error rather than a mystery.
func fitsAny(k *verifyKey, allowed []string) error {
	var last error
	for _, alg := range allowed {
		if last = k.fits(alg); last == nil {
			return nil
		}
	}
	if last == nil {
		return errors.New("no algorithm is allowed")
	}
	return fmt.Errorf("fits none of jwt.algorithms (%v)", last)
}

// keySet is an immutable set of verification keys.
type keySet struct {
	keys    []*verifyKey
	fetched time.Time // when a JWKS set was fetched; zero for static keys
}

// maxKidlessCandidates bounds the signature checks spent on one token without a kid.
const maxKidlessCandidates = 4

// candidates returns the keys that may verify a token with this kid and alg, and whether any key
// carries the kid at all (if not, the kid is unknown and a JWKS refresh may help).
func (s *keySet) candidates(kid, alg string, out []*verifyKey) ([]*verifyKey, bool, error) {
	if s == nil {
		return out, false, nil
	}
	known := false
	var lastReason error
	for _, k := range s.keys {
		if kid != "" && k.kid != kid {
			continue
		}
		known = true
		if err := k.fits(alg); err != nil {
			lastReason = err
			continue
		}
		out = append(out, k)
	}
	if len(out) == 0 && lastReason != nil {
		return out, known, lastReason
	}
	return out, known, nil
}

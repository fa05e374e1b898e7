package agenttoken

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// Fixed keys and times, so that tokens are the same on every run (HMAC and Ed25519 signatures are
// deterministic) and fuzz seeds stay meaningful.
var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	testPriv    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	otherPriv   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	testPub     = testPriv.Public().(ed25519.PublicKey)

	issuedAt = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	testNow  = issuedAt.Add(10 * time.Minute)
)

func testClaims() Claims {
	return Claims{
		AgentID:  "refund-bot",
		Roles:    []string{"support", "refunds"},
		Tenant:   "acme",
		IssuedAt: issuedAt,
		Expiry:   issuedAt.Add(time.Hour),
		ID:       "tok-1",
	}
}

func mustHMACSigner(t testing.TB, secret []byte) *Signer {
	t.Helper()
	s, err := NewHMACSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustEdSigner(t testing.TB, priv ed25519.PrivateKey) *Signer {
	t.Helper()
	s, err := NewEd25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hmacVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewHMACVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func edVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewEd25519Verifier(testPub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func issue(t testing.TB, c Claims, s *Signer) string {
	t.Helper()
	tok, err := Issue(c, s)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

var enc = base64.RawURLEncoding

// forge builds a token from a raw header and payload, signed by sign over the JWS signing input
// (nil sign leaves the signature empty). It is how the tests make tokens no honest issuer makes.
func forge(header, payload string, sign func(input []byte) []byte) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + enc.EncodeToString(sig)
}

func hmacSign(secret []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	}
}

func edSign(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte { return ed25519.Sign(priv, input) }
}

// payloadJSON is a valid claims payload with the given members replaced (a nil value deletes).
func payloadJSON(t testing.TB, scheme Scheme, edits map[string]any) string {
	t.Helper()
	m := map[string]any{
		"sub": "refund-bot", "roles": []string{"support"}, "scheme": string(scheme),
		"iat": issuedAt.Unix(), "exp": issuedAt.Add(time.Hour).Unix(), "jti": "tok-1",
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Headers of honest tokens.
var (
	hmacHeader = `{"alg":"HS256","typ":"` + Type + `"}`
	edHeader   = `{"alg":"EdDSA","kid":"` + KeyID(testPub) + `","typ":"` + Type + `"}`
)

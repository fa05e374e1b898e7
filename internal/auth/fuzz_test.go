package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzAuthenticate feeds arbitrary Authorization and API-key header values to an Authenticator
// that accepts JWTs (RSA, and HS256 with a secret the fuzzer does not know) and API keys. Nothing
// may panic, and nothing may authenticate: every input the fuzzer can make is a forgery.
func FuzzAuthenticate(f *testing.F) {
	rs := rsaSigner("rsa-1")
	good := claimsAt(t0)
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer x", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer ....", "Bearer =",
		"Bearer " + rsaSigner2("rsa-1").sign(good), // right kid, wrong key
		"Bearer " + rs.sign(with(good, "aud", "https://elsewhere.example.com")),
		"Bearer " + rs.sign(with(good, "exp", t0.Add(-time.Hour).Unix(), "iat", nil, "nbf", nil)),
		"Bearer " + (&signer{alg: "none"}).unsigned(good, ""),
		"Bearer " + (&signer{kid: "rsa-1", alg: "HS256", key: []byte(rs.publicPEM())}).sign(good),
		"Bearer " + (&signer{alg: "HS256", key: []byte("guessed-secret-guessed-secret-32")}).sign(good),
		"Bearer " + rs.sign(good, "crit", []any{"x"}, "x", 1),
		"Bearer " + strings.Repeat("A", 20000),
	} {
		f.Add(seed, "")
	}
	f.Add("", "not-the-key")
	f.Add("Bearer x", "not-the-key")

	clk := newClock()
	a, err := New(Config{
		JWT: &JWTConfig{
			Issuer:     testIssuer,
			Algorithms: []string{"RS256", "ES256", "EdDSA", "HS256"},
			Keys:       []StaticKeyConfig{{ID: "rsa-1", PEM: rs.publicPEM()}},
			HMACKeys:   []HMACKeyConfig{{ID: "hs", SecretEnv: "S"}},
			RoleClaims: []string{"realm_access.roles", "scope"},
		},
		APIKeys:  &APIKeysConfig{Header: "X-API-Key", Keys: []APIKeyConfig{{ID: "ci", Hash: HashAPIKey(ciKey)}}},
		Resource: ResourceConfig{URI: testResource},
	}, Options{Now: clk.Now, Getenv: func(string) string { return "a-secret-the-fuzzer-cannot-know!!" }})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, authz, apiKey string) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if apiKey != "" {
			r.Header["X-Api-Key"] = []string{apiKey}
		}
		p, _, err := a.Authenticate(t.Context(), r)
		if err == nil {
			t.Fatalf("authenticated %q from Authorization %q, X-API-Key %q", p.ID, authz, apiKey)
		}
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("got %T, want *Error", err)
		}
		if e.Status != 400 && e.Status != 401 && e.Status != 403 {
			t.Fatalf("got status %d", e.Status)
		}
		if _, hdr := a.ChallengeHeader(err); strings.ContainsAny(hdr, "\r\n") {
			t.Fatalf("challenge %q has a line break", hdr)
		}
	})
}

package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Tokens in these tests are signed with the standard library, not jwx, so that the verifier is
// checked against an independent implementation of JWS.

const (
	testIssuer   = "https://idp.example.com/realms/acme"
	testResource = "https://mcp.example.com/mcp"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signer is a private key that mints test tokens.
type signer struct {
	kid, alg string
	key      any // *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or []byte
}

var (
	rsaKey1 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaSigner(kid string) *signer  { return &signer{kid: kid, alg: "RS256", key: rsaKey1()} }
func rsaSigner2(kid string) *signer { return &signer{kid: kid, alg: "RS256", key: rsaKey2()} }
func ecSigner(kid string) *signer   { return &signer{kid: kid, alg: "ES256", key: ecKey()} }
func edSigner(kid string) *signer   { return &signer{kid: kid, alg: "EdDSA", key: edKey()} }

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sign mints a token with the signer's alg and kid in the header, plus extra header members (a nil
// value deletes one).
func (s *signer) sign(claims map[string]any, extra ...any) string {
	hdr := map[string]any{"alg": s.alg, "typ": "at+jwt"}
	if s.kid != "" {
		hdr["kid"] = s.kid
	}
	for i := 0; i+1 < len(extra); i += 2 {
		name := extra[i].(string)
		if extra[i+1] == nil {
			delete(hdr, name)
		} else {
			hdr[name] = extra[i+1]
		}
	}
	input := b64url(mustJSON(hdr)) + "." + b64url(mustJSON(claims))
	alg, _ := hdr["alg"].(string)
	if alg == "" {
		alg = s.alg
	}
	return input + "." + b64url(rawSign(alg, s.key, []byte(input)))
}

// rawSign computes a JWS signature (RFC 7518 §3) over input.
func rawSign(alg string, key any, input []byte) []byte {
	hashed := sha256.Sum256(input)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		var sig []byte
		var err error
		if alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, hashed[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, hashed[:])
		}
		if err != nil {
			panic(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, hashed[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write(input)
		return m.Sum(nil)
	}
	panic(fmt.Sprintf("rawSign: %T", key))
}

// jwk is the public JWK of the signer, as an identity provider publishes it.
func (s *signer) jwk(extra ...any) map[string]any {
	var out map[string]any
	switch k := s.key.(type) {
	case *rsa.PrivateKey:
		out = map[string]any{"kty": "RSA", "n": b64url(k.N.Bytes()), "e": b64url(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		x, y := make([]byte, 32), make([]byte, 32)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		out = map[string]any{"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)}
	case ed25519.PrivateKey:
		out = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url(k.Public().(ed25519.PublicKey))}
	default:
		panic("jwk")
	}
	out["kid"], out["use"], out["alg"] = s.kid, "sig", s.alg
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(out, extra[i].(string))
		} else {
			out[extra[i].(string)] = extra[i+1]
		}
	}
	return out
}

// publicPEM is the PEM of the signer's public key.
func (s *signer) publicPEM() string {
	pub := s.key.(crypto.Signer).Public()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// claimsAt are good claims for a token issued at now, valid for an hour.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":          testIssuer,
		"aud":          []any{"https://other.example.com", testResource},
		"sub":          "alice",
		"iat":          now.Unix(),
		"nbf":          now.Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"realm_access": map[string]any{"roles": []any{"admin", "reader"}},
		"groups":       []any{"eng", "reader"},
		"tenant":       "acme",
		"scope":        "mcp:tools files:read",
	}
}

// with returns a copy of claims with changes (a nil value deletes).
func with(claims map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// jwksServer is an identity provider's JWKS endpoint that counts its requests.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []map[string]any
	status int
	body   []byte        // served instead of the keys when set
	delay  time.Duration // before answering
	hits   atomic.Int64
}

func newJWKSServer(t *testing.T, signers ...*signer) *jwksServer {
	t.Helper()
	j := &jwksServer{status: http.StatusOK}
	j.setKeys(signers...)
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		status, body, delay := j.status, j.body, j.delay
		if body == nil {
			body = mustJSON(map[string]any{"keys": j.keys})
		}
		j.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) setKeys(signers ...*signer) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = nil
	for _, s := range signers {
		j.keys = append(j.keys, s.jwk())
	}
}

func (j *jwksServer) setRaw(keys ...map[string]any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

// set changes the server's behaviour under its lock.
func (j *jwksServer) set(change func(*jwksServer)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	change(j)
}

// jwtConfig is a JWT configuration against a JWKS URL, with roles and tenant from claims.
func jwtConfig(jwksURL string) Config {
	return Config{
		JWT: &JWTConfig{
			Issuer:      testIssuer,
			JWKS:        &JWKSConfig{URL: jwksURL},
			RoleClaims:  []string{"realm_access.roles", "groups"},
			TenantClaim: "tenant",
		},
		Resource: ResourceConfig{URI: testResource, ScopesSupported: []string{"mcp:tools"}},
	}
}

// fixture is an Authenticator with its clock and metrics registry.
type fixture struct {
	a   *Authenticator
	clk *clock
	reg *prometheus.Registry
}

func newFixture(t *testing.T, cfg Config, env ...string) *fixture {
	t.Helper()
	f := &fixture{clk: newClock(), reg: prometheus.NewRegistry()}
	vars := map[string]string{}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	a, err := New(cfg, Options{Now: f.clk.Now, Registerer: f.reg, Getenv: func(k string) string { return vars[k] }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.a = a
	return f
}

// auth authenticates a request with the given header pairs.
func (f *fixture) auth(t *testing.T, headers ...string) (*Identity, *Error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	id, err := f.a.Identify(t.Context(), r)
	if err == nil {
		if id == nil {
			t.Fatal("Identify returned neither an identity nor an error")
		}
		return id, nil
	}
	if id != nil {
		t.Fatal("Identify returned both an identity and an error")
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Identify returned %T, want *Error", err)
	}
	return nil, e
}

func (f *fixture) bearer(t *testing.T, token string) (*Identity, *Error) {
	t.Helper()
	return f.auth(t, "Authorization", "Bearer "+token)
}

func (f *fixture) requests(method, result string) float64 {
	return testutil.ToFloat64(f.a.m.requests.WithLabelValues(method, result))
}

func (f *fixture) refreshes(result string) float64 {
	return testutil.ToFloat64(f.a.m.refreshes.WithLabelValues(result))
}

// waitFetches waits until no JWKS fetch is in flight, so a background refresh has landed.
func (f *fixture) waitFetches(t *testing.T) {
	t.Helper()
	src := f.a.jwt.jwks
	deadline := time.Now().Add(5 * time.Second)
	for {
		src.mu.Lock()
		idle := src.inflight == nil
		src.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("JWKS fetch still in flight after 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

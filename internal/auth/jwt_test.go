package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJWTGoodToken(t *testing.T) {
	for _, s := range []*signer{rsaSigner("rsa-1"), ecSigner("ec-1"), edSigner("ed-1")} {
		t.Run(s.alg, func(t *testing.T) {
			idp := newJWKSServer(t, rsaSigner("rsa-1"), ecSigner("ec-1"), edSigner("ed-1"))
			f := newFixture(t, jwtConfig(idp.URL))
			id, err := f.bearer(t, s.sign(claimsAt(t0)))
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if id.Principal.ID != "alice" {
				t.Errorf("got principal %q, want alice", id.Principal.ID)
			}
			// realm_access.roles then groups, in order, without the duplicate "reader".
			if diff := cmp.Diff([]string{"admin", "reader", "eng"}, id.Principal.Roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if id.Tenant != "acme" {
				t.Errorf("got tenant %q, want acme", id.Tenant)
			}
			if diff := cmp.Diff([]string{"mcp:tools", "files:read"}, id.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if id.Method != MethodJWT {
				t.Errorf("got method %q, want jwt", id.Method)
			}
			if want := t0.Add(time.Hour); !id.Expires.Equal(want) {
				t.Errorf("got expiry %s, want %s", id.Expires, want)
			}
			if got := id.Principal.Claims["iss"]; got != testIssuer {
				t.Errorf("got claims[iss] %v, want %s", got, testIssuer)
			}
			if got := f.requests("jwt", "ok"); got != 1 {
				t.Errorf("got %v ok jwt requests in the metric, want 1", got)
			}
		})
	}
}

// TestJWTRefused is the table of tokens that must not authenticate. Every one is answered 401
// invalid_token with a generic description: none of the detail in the cause reaches the client.
func TestJWTRefused(t *testing.T) {
	rs := rsaSigner("rsa-1")
	now := t0
	good := claimsAt(now)
	tamper := func(tok string, part int, f func(string) string) string {
		p := strings.Split(tok, ".")
		p[part] = f(p[part])
		return strings.Join(p, ".")
	}
	tests := []struct {
		name       string
		token      string
		wantDesc   string
		wantResult string
		wantCause  string
	}{
		{"wrong audience", rs.sign(with(good, "aud", "https://other.example.com/mcp")), descInvalid, "invalid", "audience"},
		{"audience missing", rs.sign(with(good, "aud", nil)), descInvalid, "invalid", "aud is missing"},
		{"audience prefix is not the audience", rs.sign(with(good, "aud", testResource+"/extra")), descInvalid, "invalid", "audience"},
		{"wrong issuer", rs.sign(with(good, "iss", "https://evil.example.com/realms/acme")), descInvalid, "invalid", "issuer"},
		{"issuer differs by a trailing slash", rs.sign(with(good, "iss", testIssuer+"/")), descInvalid, "invalid", "issuer"},
		{"expired beyond the skew", rs.sign(with(good, "exp", now.Add(-31*time.Second).Unix(), "iat", now.Add(-time.Hour).Unix())), descExpired, "expired", "expired"},
		{"exp missing", rs.sign(with(good, "exp", nil)), descInvalid, "invalid", "exp is missing"},
		{"exp not a number", rs.sign(with(good, "exp", "tomorrow")), descInvalid, "invalid", "not a number"},
		{"exp absurdly far", rs.sign(with(good, "exp", 1e300)), descInvalid, "invalid", "not a valid date"},
		{"not yet valid", rs.sign(with(good, "nbf", now.Add(time.Minute).Unix())), descInvalid, "invalid", "not valid before"},
		{"issued in the future", rs.sign(with(good, "iat", now.Add(time.Minute).Unix())), descInvalid, "invalid", "issued in the future"},
		{"expires before issued", rs.sign(with(good, "iat", now.Add(20*time.Second).Unix(), "exp", now.Add(10*time.Second).Unix())), descInvalid, "invalid", "expires before"},
		{"subject missing", rs.sign(with(good, "sub", nil)), descInvalid, "invalid", "sub is missing"},
		{"subject not a string", rs.sign(with(good, "sub", 42)), descInvalid, "invalid", "sub is missing"},
		{"alg none, empty signature", (&signer{alg: "none"}).unsigned(good, ""), descInvalid, "invalid", "part 3"},
		{"alg none, any signature", (&signer{alg: "none"}).unsigned(good, "AAAA"), descInvalid, "invalid", `"none" is not allowed`},
		{"alg None", (&signer{alg: "None"}).unsigned(good, "AAAA"), descInvalid, "invalid", "not allowed"},
		{"HS256 signed with the RSA public key PEM", (&signer{kid: "rsa-1", alg: "HS256", key: []byte(rs.publicPEM())}).sign(good), descInvalid, "invalid", `"HS256" is not allowed`},
		{"alg not in the allow-list", (&signer{kid: "rsa-1", alg: "RS256", key: rsaKey1()}).sign(good, "alg", "RS1"), descInvalid, "invalid", "not allowed"},
		{"alg missing", rs.sign(good, "alg", nil), descInvalid, "invalid", "no alg"},
		{"RSA kid with an EC algorithm", (&signer{kid: "rsa-1", alg: "ES256", key: ecKey()}).sign(good), descInvalid, "invalid", "cannot verify ES256"},
		{"tampered signature", tamper(rs.sign(good), 2, func(s string) string { return flip(s) }), descInvalid, "invalid", "signature"},
		{"tampered claims", tamper(rs.sign(good), 1, func(string) string { return b64url(mustJSON(with(good, "sub", "admin"))) }), descInvalid, "invalid", "signature"},
		{"signed by another key with the same kid", rsaSigner2("rsa-1").sign(good), descInvalid, "invalid", "signature"},
		{"crit header", rs.sign(good, "crit", []any{"exp"}, "exp", 1), descInvalid, "invalid", "crit"},
		{"b64 header", rs.sign(good, "b64", false), descInvalid, "invalid", "b64"},
		{"kid not a string", rs.sign(good, "kid", 7), descInvalid, "invalid", "kid is not a string"},
		{"two parts", strings.Join(strings.Split(rs.sign(good), ".")[:2], "."), descInvalid, "invalid", "three dot-separated"},
		{"four parts", rs.sign(good) + ".AAAA", descInvalid, "invalid", "three dot-separated"},
		{"padding in a part", tamper(rs.sign(good), 0, func(s string) string { return s + "==" }), descInvalid, "invalid", "b64token"},
		{"non-base64url character", tamper(rs.sign(good), 0, func(s string) string { return s[:4] + "+" + s[5:] }), descInvalid, "invalid", "base64url"},
		{"header not JSON", "bm90IGpzb24." + strings.SplitN(rs.sign(good), ".", 2)[1], descInvalid, "invalid", "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idp := newJWKSServer(t, rs, ecSigner("ec-1"))
			f := newFixture(t, jwtConfig(idp.URL))
			id, err := f.bearer(t, tc.token)
			if err == nil {
				t.Fatalf("got identity %q, want a refusal", id.Principal.ID)
			}
			if err.Status != http.StatusUnauthorized || err.Code != CodeInvalidToken {
				t.Errorf("got %d %q, want 401 invalid_token", err.Status, err.Code)
			}
			if err.Description != tc.wantDesc {
				t.Errorf("got description %q, want %q", err.Description, tc.wantDesc)
			}
			if !strings.Contains(err.Unwrap().Error(), tc.wantCause) {
				t.Errorf("got cause %q, want it to mention %q", err.Unwrap(), tc.wantCause)
			}
			if got := f.requests("jwt", tc.wantResult); got != 1 {
				t.Errorf("got %v in gatehouse_auth_requests_total{jwt,%s}, want 1", got, tc.wantResult)
			}
			_, hdr := f.a.ChallengeHeader(err)
			if strings.Contains(hdr, err.Unwrap().Error()) || strings.Contains(hdr, "signature") {
				t.Errorf("challenge %q leaks the cause %q", hdr, err.Unwrap())
			}
		})
	}
}

// unsigned mints a token whose signature part is sig, for alg none.
func (s *signer) unsigned(claims map[string]any, sig string) string {
	return b64url(mustJSON(map[string]any{"alg": s.alg, "typ": "JWT"})) + "." + b64url(mustJSON(claims)) + "." + sig
}

// flip changes the first character of a base64url string to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestJWTClockSkew(t *testing.T) {
	rs := rsaSigner("rsa-1")
	tests := []struct {
		name   string
		claims map[string]any
		skew   time.Duration
		ok     bool
	}{
		{"expired 29s ago, skew 30s", with(claimsAt(t0), "exp", t0.Add(-29*time.Second).Unix(), "iat", t0.Add(-time.Hour).Unix()), 30 * time.Second, true},
		{"expired 29s ago, skew 0", with(claimsAt(t0), "exp", t0.Add(-29*time.Second).Unix(), "iat", t0.Add(-time.Hour).Unix()), 0, false},
		{"expires exactly now, skew 0", with(claimsAt(t0), "exp", t0.Unix()), 0, false},
		{"iat 20s ahead, skew 30s", with(claimsAt(t0), "iat", t0.Add(20*time.Second).Unix()), 30 * time.Second, true},
		{"nbf 20s ahead, skew 30s", with(claimsAt(t0), "nbf", t0.Add(20*time.Second).Unix()), 30 * time.Second, true},
		{"nbf 20s ahead, skew 10s", with(claimsAt(t0), "nbf", t0.Add(20*time.Second).Unix()), 10 * time.Second, false},
		{"fractional exp", with(claimsAt(t0), "exp", float64(t0.Unix())+0.5), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idp := newJWKSServer(t, rs)
			cfg := jwtConfig(idp.URL)
			cfg.JWT.ClockSkew = &tc.skew
			f := newFixture(t, cfg)
			_, err := f.bearer(t, rs.sign(tc.claims))
			if got := err == nil; got != tc.ok {
				t.Errorf("got accepted=%v (%v), want %v", got, err, tc.ok)
			}
		})
	}
}

// TestKeyConfusion has HS256 enabled on purpose, with an RSA public key configured beside the HMAC
// secret: the classic attack signs an HS256 token with the RSA key's PEM bytes as the secret.
func TestKeyConfusion(t *testing.T) {
	rs := rsaSigner("rsa-1")
	secret := strings.Repeat("s", 32)
	cfg := Config{
		JWT: &JWTConfig{
			Issuer:     testIssuer,
			Algorithms: []string{"RS256", "HS256"},
			Keys:       []StaticKeyConfig{{ID: "rsa-1", PEM: rs.publicPEM()}},
			HMACKeys:   []HMACKeyConfig{{ID: "hs-1", SecretEnv: "HS_SECRET"}},
		},
		Resource: ResourceConfig{URI: testResource},
	}
	pemBytes := []byte(rs.publicPEM())
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"HS256 with the RSA kid, keyed with its PEM", (&signer{kid: "rsa-1", alg: "HS256", key: pemBytes}).sign(claimsAt(t0)), false},
		{"HS256 without kid, keyed with the RSA PEM", (&signer{alg: "HS256", key: pemBytes}).sign(claimsAt(t0)), false},
		{"HS256 with the HMAC kid, keyed with the RSA PEM", (&signer{kid: "hs-1", alg: "HS256", key: pemBytes}).sign(claimsAt(t0)), false},
		{"RS256 with the HMAC kid", (&signer{kid: "hs-1", alg: "RS256", key: rsaKey1()}).sign(claimsAt(t0)), false},
		// The controls: each key works for what it is.
		{"HS256 with the real secret", (&signer{kid: "hs-1", alg: "HS256", key: []byte(secret)}).sign(claimsAt(t0)), true},
		{"RS256 with the RSA key", rs.sign(claimsAt(t0)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, cfg, "HS_SECRET", secret)
			_, err := f.bearer(t, tc.token)
			if got := err == nil; got != tc.ok {
				t.Fatalf("got accepted=%v (%v), want %v", got, err, tc.ok)
			}
		})
	}
}

// TestJWKSKeyFit checks that a JWKS key is used only for what it says it is for.
func TestJWKSKeyFit(t *testing.T) {
	rs := rsaSigner("rsa-1")
	tests := []struct {
		name string
		key  map[string]any
		ok   bool
	}{
		{"plain", rs.jwk(), true},
		{"no alg, no use", rs.jwk("alg", nil, "use", nil), true},
		{"key_ops verify", rs.jwk("key_ops", []any{"verify"}), true},
		{"alg RS384 on the key", rs.jwk("alg", "RS384"), false},
		{"use enc", rs.jwk("use", "enc"), false},
		{"key_ops without verify", rs.jwk("key_ops", []any{"encrypt"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idp := newJWKSServer(t)
			idp.setRaw(tc.key)
			f := newFixture(t, jwtConfig(idp.URL))
			_, err := f.bearer(t, rs.sign(claimsAt(t0)))
			if got := err == nil; got != tc.ok {
				t.Fatalf("got accepted=%v (%v), want %v", got, err, tc.ok)
			}
		})
	}
}

func TestJWKSRefusesSymmetricKeys(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	idp := newJWKSServer(t, rsaSigner("rsa-1"))
	idp.setRaw(rsaSigner("rsa-1").jwk(), map[string]any{"kty": "oct", "kid": "hs", "k": b64url(secret)})
	cfg := jwtConfig(idp.URL)
	f := newFixture(t, cfg)
	// Even with HS256 allowed nowhere, the oct key must not even be in the set.
	if _, err := f.bearer(t, rsaSigner("rsa-1").sign(claimsAt(t0))); err != nil {
		t.Fatalf("the RSA key should still work: %v", err)
	}
	f.a.jwt.jwks.mu.Lock()
	defer f.a.jwt.jwks.mu.Unlock()
	for _, k := range f.a.jwt.jwks.set.keys {
		if k.kty == ktyOct {
			t.Fatalf("an oct key from the JWKS is in the key set")
		}
	}
}

func TestJWTClaimMapping(t *testing.T) {
	rs := rsaSigner("rsa-1")
	claims := with(claimsAt(t0),
		"https://example.com/roles", []any{"ns-role"},
		"org", map[string]any{"tenant": map[string]any{"id": "t-9"}},
		"client_id", "agent-7",
		"scp", []any{"a", "b"},
	)
	idp := newJWKSServer(t, rs)
	cfg := jwtConfig(idp.URL)
	cfg.JWT.RoleClaims = []string{"https://example.com/roles", "scope", "missing.path", "realm_access"}
	cfg.JWT.TenantClaim = "org.tenant.id"
	cfg.JWT.SubjectClaim = "client_id"
	cfg.JWT.ScopeClaim = "scp"
	f := newFixture(t, cfg)
	id, err := f.bearer(t, rs.sign(claims))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ns-role", "mcp:tools", "files:read"}, id.Principal.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if id.Tenant != "t-9" || id.Principal.ID != "agent-7" {
		t.Errorf("got tenant %q and id %q, want t-9 and agent-7", id.Tenant, id.Principal.ID)
	}
	if diff := cmp.Diff([]string{"a", "b"}, id.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestJWTTokenTypes(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	cfg := jwtConfig(idp.URL)
	cfg.JWT.TokenTypes = []string{"at+jwt"}
	f := newFixture(t, cfg)
	for _, tc := range []struct {
		typ any
		ok  bool
	}{{"at+jwt", true}, {"application/AT+JWT", true}, {"JWT", false}, {nil, false}} {
		_, err := f.bearer(t, rs.sign(claimsAt(t0), "typ", tc.typ))
		if got := err == nil; got != tc.ok {
			t.Errorf("typ %v: got accepted=%v (%v), want %v", tc.typ, got, err, tc.ok)
		}
	}
}

func TestRequiredScopes(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	cfg := jwtConfig(idp.URL)
	cfg.JWT.RequiredScopes = []string{"mcp:tools", "mcp:admin"}
	f := newFixture(t, cfg)
	_, err := f.bearer(t, rs.sign(claimsAt(t0)))
	if err == nil || err.Status != http.StatusForbidden || err.Code != CodeInsufficientScope {
		t.Fatalf("got %v, want 403 insufficient_scope", err)
	}
	if got := f.requests("jwt", "insufficient_scope"); got != 1 {
		t.Errorf("got %v insufficient_scope in the metric, want 1", got)
	}
	if _, err := f.bearer(t, rs.sign(with(claimsAt(t0), "scope", "mcp:admin mcp:tools"))); err != nil {
		t.Errorf("got %v with both scopes, want success", err)
	}
}

func TestStaticKeysOnly(t *testing.T) {
	ec := ecSigner("")
	ed := edSigner("ed")
	cfg := Config{
		JWT: &JWTConfig{Issuer: testIssuer, Keys: []StaticKeyConfig{
			{PEM: ec.publicPEM()},
			{ID: "ed", PEM: ed.publicPEM(), Algorithm: "EdDSA"},
		}},
		Resource: ResourceConfig{URI: testResource},
	}
	f := newFixture(t, cfg)
	if _, err := f.bearer(t, ec.sign(claimsAt(t0))); err != nil {
		t.Errorf("EC token without kid: got %v, want success", err)
	}
	if _, err := f.bearer(t, ed.sign(claimsAt(t0))); err != nil {
		t.Errorf("Ed25519 token: got %v, want success", err)
	}
	if _, err := f.bearer(t, (&signer{kid: "other", alg: "ES256", key: ecKey()}).sign(claimsAt(t0))); err == nil {
		t.Error("a kid no static key has was accepted")
	}
}

func TestStaticKeyErrors(t *testing.T) {
	priv := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ3g\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		name string
		key  StaticKeyConfig
		want string
	}{
		{"private key", StaticKeyConfig{PEM: priv}, "private key"},
		{"not PEM", StaticKeyConfig{PEM: "hello"}, "no PEM block"},
		{"two keys", StaticKeyConfig{PEM: ecSigner("").publicPEM() + rsaSigner("").publicPEM()}, "more than one"},
		{"missing file", StaticKeyConfig{File: "/nonexistent/key.pem"}, "no such file"},
		{"EC key pinned to an RSA alg", StaticKeyConfig{PEM: ecSigner("").publicPEM(), Algorithm: "RS256"}, "fits none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{JWT: &JWTConfig{Issuer: testIssuer, Keys: []StaticKeyConfig{tc.key}}, Resource: ResourceConfig{URI: testResource}}
			_, err := New(cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHMACSecretTooShort(t *testing.T) {
	cfg := Config{JWT: &JWTConfig{Issuer: testIssuer, Algorithms: []string{"HS256"},
		HMACKeys: []HMACKeyConfig{{SecretEnv: "S"}}}, Resource: ResourceConfig{URI: testResource}}
	_, err := New(cfg, Options{Getenv: func(string) string { return "short" }})
	if err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("got %v, want a too-short secret refused", err)
	}
}

package auth

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTokenCache: a second request with the same token is answered from the cache (no signature
// check, no JWKS fetch), and nothing is answered from the cache once the token has expired.
func TestTokenCache(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	f := newFixture(t, jwtConfig(idp.URL))
	token := rs.sign(with(claimsAt(t0), "exp", t0.Add(10*time.Minute).Unix()))

	for i := range 3 {
		id, err := f.bearer(t, token)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if id.Principal.ID != "alice" {
			t.Fatalf("request %d: got %q, want alice", i+1, id.Principal.ID)
		}
		// The caller owns what it gets: changing it must not change the next answer.
		id.Principal.Roles[0] = "root"
		id.Principal.Claims["sub"] = "mallory"
	}
	if got := f.a.jwt.verifications.Load(); got != 1 {
		t.Errorf("got %d signature checks for 3 requests with one token, want 1", got)
	}
	if got := idp.hits.Load(); got != 1 {
		t.Errorf("got %d JWKS fetches, want 1", got)
	}

	// Still inside exp + skew: cached.
	f.clk.Add(10*time.Minute + DefaultClockSkew - time.Second)
	if _, err := f.bearer(t, token); err != nil {
		t.Fatalf("just before exp+skew: got %v, want success", err)
	}
	if got := f.a.jwt.verifications.Load(); got != 1 {
		t.Errorf("got %d signature checks, want still 1", got)
	}

	// Past exp + skew: not served from the cache, verified again, and refused as expired.
	f.clk.Add(time.Second)
	_, err := f.bearer(t, token)
	if err == nil || err.Description != descExpired {
		t.Fatalf("after expiry: got %v, want expired", err)
	}
	if got := f.a.jwt.verifications.Load(); got != 2 {
		t.Errorf("got %d signature checks after expiry, want 2 (re-verified, not cached)", got)
	}
}

// TestFailureCache: a bad token is verified once and then refused from the cache, but only for the
// failure TTL.
func TestFailureCache(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	f := newFixture(t, jwtConfig(idp.URL))
	bad := rsaSigner2("rsa-1").sign(claimsAt(t0)) // right kid, wrong key

	for range 3 {
		if _, err := f.bearer(t, bad); err == nil {
			t.Fatal("bad token accepted")
		}
	}
	if got := f.a.jwt.verifications.Load(); got != 1 {
		t.Errorf("got %d signature checks for 3 tries of one bad token, want 1", got)
	}
	f.clk.Add(DefaultFailureCacheTTL)
	if _, err := f.bearer(t, bad); err == nil {
		t.Fatal("bad token accepted")
	}
	if got := f.a.jwt.verifications.Load(); got != 2 {
		t.Errorf("got %d signature checks after the failure TTL, want 2", got)
	}
}

// TestUnknownKidNotCached: a token refused for an unknown kid is not remembered as bad, because the
// kid may be published a moment later.
func TestUnknownKidNotCached(t *testing.T) {
	old, rotated := rsaSigner("old"), ecSigner("new")
	idp := newJWKSServer(t, old)
	f := newFixture(t, jwtConfig(idp.URL))
	token := rotated.sign(claimsAt(t0))
	if _, err := f.bearer(t, token); err == nil {
		t.Fatal("unknown kid accepted")
	}
	idp.setKeys(old, rotated)
	f.clk.Add(DefaultMinRefreshInterval)
	if _, err := f.bearer(t, token); err != nil {
		t.Fatalf("after the key was published: got %v, want success", err)
	}
}

func TestCacheBounded(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	cfg := jwtConfig(idp.URL)
	cfg.CacheSize = 3
	f := newFixture(t, cfg)
	var tokens []string
	for i := range 10 {
		tok := rs.sign(with(claimsAt(t0), "jti", fmt.Sprint(i)))
		tokens = append(tokens, tok)
		if _, err := f.bearer(t, tok); err != nil {
			t.Fatal(err)
		}
		if got := f.a.cache.len(); got > 3 {
			t.Fatalf("cache holds %d entries, want at most 3", got)
		}
	}
	// The most recent is still cached; the oldest was evicted and is verified again.
	before := f.a.jwt.verifications.Load()
	if _, err := f.bearer(t, tokens[9]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.bearer(t, tokens[0]); err != nil {
		t.Fatal(err)
	}
	if got := f.a.jwt.verifications.Load() - before; got != 1 {
		t.Errorf("got %d signature checks for one cached and one evicted token, want 1", got)
	}
}

// TestCacheHoldsNoToken: the cache is keyed by SHA-256 and holds nothing from which the token could
// be rebuilt.
func TestCacheHoldsNoToken(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	f := newFixture(t, jwtConfig(idp.URL))
	token := rs.sign(claimsAt(t0))
	if _, err := f.bearer(t, token); err != nil {
		t.Fatal(err)
	}
	sig := token[strings.LastIndexByte(token, '.')+1:]
	f.a.cache.mu.Lock()
	defer f.a.cache.mu.Unlock()
	for el := f.a.cache.ll.Front(); el != nil; el = el.Next() {
		e := el.Value.(*cacheEntry)
		if e.key != sha256.Sum256([]byte(token)) {
			t.Errorf("cache key is not the SHA-256 of the token")
		}
		dump := fmt.Sprintf("%+v %+v", *e, *e.id)
		if strings.Contains(dump, sig) || strings.Contains(dump, token[:40]) {
			t.Errorf("cache entry holds token material: %s", dump)
		}
	}
}

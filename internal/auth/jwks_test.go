package auth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJWKSRotation: a token signed with a key the cached set lacks triggers exactly one fetch, and
// succeeds once the identity provider publishes the key.
func TestJWKSRotation(t *testing.T) {
	old, rotated := rsaSigner("2026-10"), ecSigner("2026-11")
	idp := newJWKSServer(t, old)
	f := newFixture(t, jwtConfig(idp.URL))

	if _, err := f.bearer(t, old.sign(claimsAt(t0))); err != nil {
		t.Fatalf("old key: got %v, want success", err)
	}
	if got := idp.hits.Load(); got != 1 {
		t.Fatalf("got %d JWKS fetches after the first token, want 1", got)
	}

	idp.setKeys(old, rotated)
	f.clk.Add(DefaultMinRefreshInterval + time.Second)
	if _, err := f.bearer(t, rotated.sign(claimsAt(f.clk.Now()))); err != nil {
		t.Fatalf("rotated key: got %v, want success", err)
	}
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("got %d JWKS fetches after the rotation, want exactly 2", got)
	}
	// Both keys are now known: neither causes another fetch.
	for _, s := range []*signer{old, rotated} {
		if _, err := f.bearer(t, s.sign(with(claimsAt(f.clk.Now()), "jti", s.kid))); err != nil {
			t.Errorf("%s: got %v, want success", s.kid, err)
		}
	}
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("got %d JWKS fetches after using both keys, want 2", got)
	}
	if got := f.refreshes("ok"); got != 2 {
		t.Errorf("got %v successful refreshes in the metric, want 2", got)
	}
}

// TestJWKSUnknownKidFlood: random kids cannot make gatehouse fetch the JWKS more than once per
// min_refresh_interval.
func TestJWKSUnknownKidFlood(t *testing.T) {
	rs := rsaSigner("real")
	idp := newJWKSServer(t, rs)
	f := newFixture(t, jwtConfig(idp.URL))
	attack := func(n int, tag string) {
		for i := range n {
			forged := (&signer{kid: fmt.Sprintf("%s-%d", tag, i), alg: "RS256", key: rsaKey2()}).sign(claimsAt(f.clk.Now()))
			if _, err := f.bearer(t, forged); err == nil {
				t.Fatal("a forged token was accepted")
			}
		}
	}

	// The first token fetches the set (there is none yet); its unknown kid, and every later one,
	// would refresh it again, but the last fetch is too recent.
	attack(200, "a")
	if got := idp.hits.Load(); got != 1 {
		t.Fatalf("got %d JWKS fetches for 200 unknown kids, want 1", got)
	}
	if got := f.refreshes("rate_limited"); got != 200 {
		t.Errorf("got %v rate-limited refreshes in the metric, want 200", got)
	}

	f.clk.Add(DefaultMinRefreshInterval)
	attack(200, "b") // one fetch allowed, then rate-limited again
	if got := idp.hits.Load(); got != 2 {
		t.Fatalf("got %d JWKS fetches after the interval passed, want 2", got)
	}
	// The real key still works throughout.
	if _, err := f.bearer(t, rs.sign(claimsAt(f.clk.Now()))); err != nil {
		t.Errorf("real key during the flood: got %v, want success", err)
	}
}

// TestJWKSConcurrentUnknownKid: many requests naming the same new kid at once share one fetch.
func TestJWKSConcurrentUnknownKid(t *testing.T) {
	old, rotated := rsaSigner("old"), edSigner("new")
	idp := newJWKSServer(t, old)
	f := newFixture(t, jwtConfig(idp.URL))
	if _, err := f.bearer(t, old.sign(claimsAt(t0))); err != nil {
		t.Fatal(err)
	}
	idp.setKeys(old, rotated)
	idp.set(func(j *jwksServer) { j.delay = 50 * time.Millisecond })
	f.clk.Add(time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			if _, err := f.bearer(t, rotated.sign(with(claimsAt(f.clk.Now()), "jti", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("got %v, want success", err)
	}
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("got %d JWKS fetches for 20 concurrent tokens with a new kid, want 2", got)
	}
}

// TestJWKSDown: with no key set and the JWKS URL failing, tokens are refused (401) — never
// accepted unverified — and the failure is counted.
func TestJWKSDown(t *testing.T) {
	rs := rsaSigner("rsa-1")
	for _, tc := range []struct {
		name  string
		setup func(*jwksServer)
	}{
		{"500", func(j *jwksServer) { j.set(func(j *jwksServer) { j.status = http.StatusInternalServerError }) }},
		{"not a JWKS", func(j *jwksServer) { j.set(func(j *jwksServer) { j.body = []byte(`{"hello":"world"}`) }) }},
		{"no usable key", func(j *jwksServer) {
			j.set(func(j *jwksServer) { j.body = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) })
		}},
		{"connection refused", func(j *jwksServer) { j.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := newJWKSServer(t, rs)
			tc.setup(idp)
			f := newFixture(t, jwtConfig(idp.URL))
			_, err := f.bearer(t, rs.sign(claimsAt(t0)))
			if err == nil {
				t.Fatal("got success with the JWKS down, want a refusal")
			}
			if err.Status != http.StatusUnauthorized || err.Code != CodeInvalidToken {
				t.Errorf("got %d %q, want 401 invalid_token", err.Status, err.Code)
			}
			if got := f.requests("jwt", "unavailable"); got != 1 {
				t.Errorf("got %v unavailable in gatehouse_auth_requests_total, want 1", got)
			}
			if got := f.refreshes("error"); got != 1 {
				t.Errorf("got %v errors in gatehouse_auth_jwks_refreshes_total, want 1", got)
			}
			// Not cached as a token failure: once the JWKS is back (and the interval passed), the
			// same token works.
			if tc.name == "connection refused" {
				return
			}
			idp.set(func(j *jwksServer) { j.status, j.body = http.StatusOK, nil })
			f.clk.Add(DefaultMinRefreshInterval)
			if _, err := f.bearer(t, rs.sign(claimsAt(t0))); err != nil {
				t.Errorf("after recovery: got %v, want success", err)
			}
		})
	}
}

// TestJWKSStaleSet: a failing scheduled refresh keeps the last good set until it is twice the
// refresh interval old, then tokens are refused.
func TestJWKSStaleSet(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	f := newFixture(t, jwtConfig(idp.URL))
	if _, err := f.bearer(t, rs.sign(claimsAt(t0))); err != nil {
		t.Fatal(err)
	}
	idp.set(func(j *jwksServer) { j.status = http.StatusServiceUnavailable })

	f.clk.Add(DefaultRefreshInterval + time.Second)
	if _, err := f.bearer(t, rs.sign(claimsAt(f.clk.Now()))); err != nil {
		t.Errorf("refresh due, IdP down: got %v, want the last good set to still verify", err)
	}
	f.waitFetches(t)
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("got %d fetches, want the due refresh to have been tried (2)", got)
	}

	f.clk.Add(DefaultRefreshInterval)
	_, err := f.bearer(t, rs.sign(claimsAt(f.clk.Now())))
	if err == nil {
		t.Fatal("a key set twice the refresh interval old is still trusted")
	}
	if got := f.requests("jwt", "unavailable"); got != 1 {
		t.Errorf("got %v unavailable, want 1", got)
	}
}

// TestJWKSScheduledRefresh: a due refresh happens in the background and picks up new keys without
// any unknown kid.
func TestJWKSScheduledRefresh(t *testing.T) {
	a, b := rsaSigner("a"), ecSigner("b")
	idp := newJWKSServer(t, a)
	f := newFixture(t, jwtConfig(idp.URL))
	if _, err := f.bearer(t, a.sign(claimsAt(t0))); err != nil {
		t.Fatal(err)
	}
	idp.setKeys(b) // a is retired
	f.clk.Add(DefaultRefreshInterval)
	if _, err := f.bearer(t, a.sign(claimsAt(f.clk.Now()))); err != nil {
		t.Fatalf("the request that notices the refresh is due is served from the current set: %v", err)
	}
	f.waitFetches(t)
	if _, err := f.bearer(t, a.sign(with(claimsAt(f.clk.Now()), "jti", "x"))); err == nil {
		t.Error("a key removed from the JWKS still verifies after the refresh")
	}
	if _, err := f.bearer(t, b.sign(claimsAt(f.clk.Now()))); err != nil {
		t.Errorf("new key after the refresh: got %v, want success", err)
	}
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("got %d fetches, want 2", got)
	}
}

func TestJWKSLimits(t *testing.T) {
	rs := rsaSigner("rsa-1")
	t.Run("size", func(t *testing.T) {
		idp := newJWKSServer(t, rs)
		idp.set(func(j *jwksServer) { j.body = []byte(`{"keys":[` + strings.Repeat(" ", 4096) + `]}`) })
		cfg := jwtConfig(idp.URL)
		cfg.JWT.JWKS.MaxBytes = 4096
		f := newFixture(t, cfg)
		if _, err := f.bearer(t, rs.sign(claimsAt(t0))); err == nil || !strings.Contains(err.Unwrap().Error(), "larger than 4096") {
			t.Fatalf("got %v, want the oversize JWKS refused", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		idp := newJWKSServer(t, rs)
		idp.set(func(j *jwksServer) { j.delay = 2 * time.Second })
		cfg := jwtConfig(idp.URL)
		cfg.JWT.JWKS.Timeout = 50 * time.Millisecond
		f := newFixture(t, cfg)
		start := time.Now()
		_, err := f.bearer(t, rs.sign(claimsAt(t0)))
		if err == nil {
			t.Fatal("got success from a JWKS URL that never answered")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %s, want the fetch cut off at its 50ms timeout", d)
		}
	})
	t.Run("too many keys", func(t *testing.T) {
		idp := newJWKSServer(t)
		keys := make([]map[string]any, maxJWKSKeys+1)
		for i := range keys {
			keys[i] = rsaSigner(fmt.Sprint(i)).jwk()
		}
		idp.setRaw(keys...)
		f := newFixture(t, jwtConfig(idp.URL))
		if _, err := f.bearer(t, rs.sign(claimsAt(t0))); err == nil {
			t.Fatal("got success from an oversized key set")
		}
	})
}

// TestJWKSKidlessTokens: a token without a kid is tried against a few fitting keys, not hundreds.
func TestJWKSKidlessTokens(t *testing.T) {
	idp := newJWKSServer(t)
	var keys []map[string]any
	for i := range maxKidlessCandidates + 1 {
		keys = append(keys, rsaSigner2(fmt.Sprint("k", i)).jwk())
	}
	idp.setRaw(keys...)
	f := newFixture(t, jwtConfig(idp.URL))
	_, err := f.bearer(t, rsaSigner2("").sign(claimsAt(t0)))
	if err == nil || !strings.Contains(err.Unwrap().Error(), "refusing to try them all") {
		t.Fatalf("got %v, want the kid-less token refused", err)
	}
	if got := f.a.jwt.verifications.Load(); got != 0 {
		t.Errorf("got %d signature checks, want 0", got)
	}
}

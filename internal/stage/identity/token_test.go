package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

var (
	testPriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	secret   = []byte("0123456789abcdef0123456789abcdef")
	issuedAt = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	now      = issuedAt.Add(10 * time.Minute)
)

func edToken(t *testing.T, edit func(*agenttoken.Claims)) string {
	t.Helper()
	s, err := agenttoken.NewEd25519Signer(testPriv)
	if err != nil {
		t.Fatal(err)
	}
	c := agenttoken.Claims{AgentID: "refund-bot", Roles: []string{"support"}, Tenant: "acme",
		IssuedAt: issuedAt, Expiry: issuedAt.Add(time.Hour), ID: "tok-1"}
	if edit != nil {
		edit(&c)
	}
	tok, err := agenttoken.Issue(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func edVerifier(t *testing.T) *agenttoken.Verifier {
	t.Helper()
	v, err := agenttoken.NewEd25519Verifier(testPriv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// stubNext records whether the chain continued.
type stubNext struct{ called int }

func (s *stubNext) handle(context.Context, *pipeline.Call) error { s.called++; return nil }

func TestTokenStage(t *testing.T) {
	valid := edToken(t, nil)
	hmacSigner, _ := agenttoken.NewHMACSigner(secret)
	hmacTok, _ := agenttoken.Issue(agenttoken.Claims{AgentID: "x", IssuedAt: issuedAt, Expiry: issuedAt.Add(time.Hour)}, hmacSigner)
	wantPrincipal := policy.Principal{ID: "refund-bot", Roles: []string{"support"}, Claims: map[string]any{
		"scheme": "ed25519", "tenant": "acme", "jti": "tok-1",
		"iat": json.Number("1795168800"), "exp": json.Number("1795172400"),
	}}

	tests := []struct {
		name      string
		token     string
		optional  bool
		at        time.Time
		wantNext  bool
		wantAgent policy.Principal
		wantCode  policy.Code
		reason    string // part of the refusal reason
	}{
		{name: "valid token", token: valid, at: now, wantNext: true, wantAgent: wantPrincipal},
		{name: "missing token", token: "", at: now, wantCode: policy.CodeUnauthenticated, reason: "agent token is missing (token_empty)"},
		{name: "missing token, optional", token: "", optional: true, at: now, wantNext: true},
		{name: "expired token", token: valid, at: issuedAt.Add(2 * time.Hour), wantCode: policy.CodeUnauthenticated, reason: "token_expired"},
		{name: "expired token, optional", token: valid, optional: true, at: issuedAt.Add(2 * time.Hour), wantCode: policy.CodeUnauthenticated, reason: "token_expired"},
		{name: "hmac token to ed25519 gatehouse", token: hmacTok, at: now, wantCode: policy.CodeUnauthenticated, reason: "token_wrong_scheme"},
		{name: "garbage", token: "not-a-token", at: now, wantCode: policy.CodeUnauthenticated, reason: "token_malformed"},
		{name: "tampered", token: valid[:len(valid)-2] + "AA", at: now, wantCode: policy.CodeUnauthenticated, reason: "token_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage, err := NewToken(TokenOptions{
				Verifier: edVerifier(t), Source: StaticToken(tt.token), Optional: tt.optional,
				Now: func() time.Time { return tt.at },
			})
			if err != nil {
				t.Fatal(err)
			}
			c := &pipeline.Call{}
			next := &stubNext{}
			if err := stage.Handle(context.Background(), c, next.handle); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if got := next.called == 1; got != tt.wantNext {
				t.Fatalf("next called %d times, want called=%v", next.called, tt.wantNext)
			}
			if tt.wantNext {
				if diff := cmp.Diff(tt.wantAgent, c.Input.Agent); diff != "" {
					t.Errorf("agent (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantAgent, c.Input.User); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
				if got, want := c.Input.Tenant, tt.wantAgent.Claims["tenant"]; want != nil && got != want {
					t.Errorf("tenant = %q, want %v", got, want)
				}
				if c.Decision.Effect != "" {
					t.Errorf("decision = %+v, want none", c.Decision)
				}
				return
			}
			d := c.Decision
			if d.Effect != policy.EffectDeny || d.Code != tt.wantCode || d.Engine != "identity" {
				t.Errorf("decision = %s/%s by %q, want deny/%s by identity", d.Effect, d.Code, d.Engine, tt.wantCode)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tt.reason)
			}
			if c.Input.Agent.ID != "" || c.Input.User.ID != "" {
				t.Errorf("a refused call has agent %q user %q, want none", c.Input.Agent.ID, c.Input.User.ID)
			}
		})
	}
}

// TestTokenStageExpiresMidSession shows the cached token is re-checked on every call: the same
// token that was accepted is refused once its expiry passes.
func TestTokenStageExpiresMidSession(t *testing.T) {
	clock := now
	stage, err := NewToken(TokenOptions{Verifier: edVerifier(t), Source: StaticToken(edToken(t, nil)), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	call := func() *pipeline.Call {
		c := &pipeline.Call{}
		next := &stubNext{}
		if err := stage.Handle(context.Background(), c, next.handle); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for range 3 {
		if c := call(); c.Input.Agent.ID != "refund-bot" {
			t.Fatalf("call before expiry: agent %q, decision %+v", c.Input.Agent.ID, c.Decision)
		}
	}
	clock = issuedAt.Add(time.Hour + agenttoken.ClockSkew)
	if c := call(); c.Decision.Code != policy.CodeUnauthenticated || !strings.Contains(c.Decision.Reason, "token_expired") {
		t.Errorf("call after expiry: decision %+v, want unauthenticated token_expired", c.Decision)
	}
}

func TestVerifyToken(t *testing.T) {
	p, claims, err := VerifyToken(edVerifier(t), edToken(t, nil), now)
	if err != nil || p.ID != "refund-bot" || claims.Tenant != "acme" {
		t.Errorf("VerifyToken = %+v, %+v, %v", p, claims, err)
	}
	_, _, err = VerifyToken(edVerifier(t), edToken(t, func(c *agenttoken.Claims) { c.Expiry = issuedAt.Add(time.Minute) }), now)
	if !errors.Is(err, &agenttoken.Error{Code: agenttoken.CodeExpired}) {
		t.Errorf("expired token at start-up: %v, want token_expired", err)
	}
}

func TestNewTokenNeedsVerifierAndSource(t *testing.T) {
	if _, err := NewToken(TokenOptions{Source: StaticToken("x")}); err == nil {
		t.Error("no verifier: got no error")
	}
	if _, err := NewToken(TokenOptions{Verifier: edVerifier(t)}); err == nil {
		t.Error("no source: got no error")
	}
}

func TestPrincipalOfCopiesRoles(t *testing.T) {
	c := &agenttoken.Claims{AgentID: "a", Roles: []string{"r"}, Scheme: agenttoken.SchemeHMAC, Expiry: issuedAt}
	p := PrincipalOf(c)
	c.Roles[0] = "changed"
	if p.Roles[0] != "r" {
		t.Errorf("principal roles alias the claims: %v", p.Roles)
	}
	if _, ok := p.Claims["tenant"]; ok {
		t.Errorf("claims has a tenant for a token without one: %v", p.Claims)
	}
}

// BenchmarkTokenStage measures the per-call cost on stdio: the same token on every call, verified
// once and then only re-checked for expiry.
func BenchmarkTokenStage(b *testing.B) {
	s, _ := agenttoken.NewEd25519Signer(testPriv)
	tok, _ := agenttoken.Issue(agenttoken.Claims{AgentID: "a", Roles: []string{"r"}, IssuedAt: issuedAt, Expiry: issuedAt.Add(time.Hour)}, s)
	v, _ := agenttoken.NewEd25519Verifier(testPriv.Public().(ed25519.PublicKey))
	stage, _ := NewToken(TokenOptions{Verifier: v, Source: StaticToken(tok), Now: func() time.Time { return now }})
	next := func(context.Context, *pipeline.Call) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		c := &pipeline.Call{}
		if err := stage.Handle(context.Background(), c, next); err != nil || c.Input.Agent.ID != "a" {
			b.Fatal(err, c.Decision)
		}
	}
}

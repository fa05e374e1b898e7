package agenttoken

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		signer   *Signer
		verifier *Verifier
		scheme   Scheme
	}{
		{"hmac", mustHMACSigner(t, testSecret), hmacVerifier(t), SchemeHMAC},
		{"ed25519", mustEdSigner(t, testPriv), edVerifier(t), SchemeEd25519},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testClaims()
			in.NotBefore = issuedAt.Add(time.Minute)
			in.Scheme = "ignored"
			tok := issue(t, in, tt.signer)
			got, err := tt.verifier.Verify(tok, testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			want.Scheme = tt.scheme
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenFormat(t *testing.T) {
	tok := issue(t, testClaims(), mustEdSigner(t, testPriv))
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("got %d parts, want 3", len(parts))
	}
	var hdr, claims map[string]any
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	wantHdr := map[string]any{"alg": "EdDSA", "typ": Type, "kid": auditlog.KeyID(testPub)}
	if diff := cmp.Diff(wantHdr, hdr); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	wantClaims := map[string]any{
		"sub": "refund-bot", "roles": []any{"support", "refunds"}, "tenant": "acme", "scheme": "ed25519",
		"iat": float64(issuedAt.Unix()), "exp": float64(issuedAt.Add(time.Hour).Unix()), "jti": "tok-1",
	}
	if diff := cmp.Diff(wantClaims, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestKeyIDMatchesAuditKeyID(t *testing.T) {
	if got, want := KeyID(testPub), auditlog.KeyID(testPub); got != want {
		t.Errorf("KeyID = %s, want %s (the id gatehouse keygen prints)", got, want)
	}
	if got, want := edVerifier(t).KeyID(), auditlog.KeyID(testPub); got != want {
		t.Errorf("Verifier.KeyID = %s, want %s", got, want)
	}
}

func TestIssueMakesUniqueIDs(t *testing.T) {
	s := mustHMACSigner(t, testSecret)
	c := testClaims()
	c.ID = ""
	seen := map[string]bool{}
	for range 20 {
		got, err := hmacVerifier(t).Verify(issue(t, c, s), testNow)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ID) < 20 || seen[got.ID] {
			t.Fatalf("token id %q is short or repeated", got.ID)
		}
		seen[got.ID] = true
	}
}

func TestIssueRefuses(t *testing.T) {
	s := mustHMACSigner(t, testSecret)
	tests := []struct {
		name string
		edit func(*Claims)
		want string
	}{
		{"no agent", func(c *Claims) { c.AgentID = "" }, "agent id is empty"},
		{"control character in agent", func(c *Claims) { c.AgentID = "bot\x1b[31m" }, "control or format character"},
		{"zero-width in role", func(c *Claims) { c.Roles = []string{"ad\u200bmin"} }, "control or format character"},
		{"padded role", func(c *Claims) { c.Roles = []string{" admin"} }, "white space"},
		{"duplicate role", func(c *Claims) { c.Roles = []string{"a", "a"} }, "listed twice"},
		{"too many roles", func(c *Claims) { c.Roles = make([]string, MaxRoles+1) }, "roles, more than"},
		{"long tenant", func(c *Claims) { c.Tenant = strings.Repeat("t", MaxNameBytes+1) }, "more than 256"},
		{"no issued-at", func(c *Claims) { c.IssuedAt = time.Time{} }, "IssuedAt is required"},
		{"no expiry", func(c *Claims) { c.Expiry = time.Time{} }, "Expiry is required"},
		{"expiry before issue", func(c *Claims) { c.Expiry = c.IssuedAt }, "not after IssuedAt"},
		{"expiry before not-before", func(c *Claims) { c.NotBefore = c.Expiry.Add(time.Second) }, "not after NotBefore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(&c)
			_, err := Issue(c, s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Issue(testClaims(), nil); err == nil {
		t.Error("Issue with a nil signer: got no error")
	}
}

func TestKeysAndSecrets(t *testing.T) {
	if _, err := NewHMACSigner(testSecret[:31]); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("31-byte secret signer: got %v, want a length error", err)
	}
	if _, err := NewHMACVerifier(nil); err == nil {
		t.Error("empty secret verifier: got no error")
	}
	if _, err := NewEd25519Verifier(testPub[:31]); err == nil {
		t.Error("short public key: got no error")
	}
	if _, err := NewEd25519Signer(testPriv[:63]); err == nil {
		t.Error("short private key: got no error")
	}
	// The verifier keeps its own copy: zeroing the caller's secret changes nothing.
	secret := append([]byte(nil), testSecret...)
	v, err := NewHMACVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	clear(secret)
	if _, err := v.Verify(issue(t, testClaims(), mustHMACSigner(t, testSecret)), testNow); err != nil {
		t.Errorf("after the caller zeroed its secret: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"trailing newline", strings.Repeat("a", 32) + "\n", strings.Repeat("a", 32), ""},
		{"crlf and spaces", strings.Repeat("b", 40) + " \r\n", strings.Repeat("b", 40), ""},
		{"leading space kept", " " + strings.Repeat("c", 32), " " + strings.Repeat("c", 32), ""},
		{"short after trimming", strings.Repeat("d", 31) + "\n\n", "", "31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecret([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	if err := os.WriteFile(good, append(testSecret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSecretFile(good); err != nil || string(got) != string(testSecret) {
		t.Errorf("ReadSecretFile = %q, %v; want the secret", got, err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, testSecret, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable secret: got %v, want a permissions error", err)
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: got no error")
	}
}

func TestErrorIsAndCodeOf(t *testing.T) {
	_, err := hmacVerifier(t).Verify("", testNow)
	if !errors.Is(err, &Error{Code: CodeEmpty}) {
		t.Errorf("errors.Is(%v, token_empty) = false", err)
	}
	if errors.Is(err, &Error{Code: CodeExpired}) {
		t.Errorf("errors.Is(%v, token_expired) = true", err)
	}
	if got := CodeOf(err); got != CodeEmpty {
		t.Errorf("CodeOf = %q, want %q", got, CodeEmpty)
	}
	if got := CodeOf(errors.New("other")); got != "" {
		t.Errorf("CodeOf(other) = %q, want empty", got)
	}
	if msg := err.Error(); msg != "agent token is missing (token_empty)" {
		t.Errorf("message = %q", msg)
	}
}

func TestParseScheme(t *testing.T) {
	for _, s := range []string{"hmac", "ed25519"} {
		if got, err := ParseScheme(s); err != nil || string(got) != s {
			t.Errorf("ParseScheme(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "HMAC", "none", "HS256"} {
		if _, err := ParseScheme(s); err == nil {
			t.Errorf("ParseScheme(%q): got no error", s)
		}
	}
}

package agenttoken

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Type is the "typ" header of every agent token. A verifier refuses any other type, so that a JWT
// minted for another purpose with the same key is not accepted as an agent token.
const Type = "gatehouse-agent+jwt"

// MaxTokenBytes is the longest token Verify reads. A longer one is refused before it is split or
// decoded, so a hostile client cannot make the verifier spend memory or time on it.
const MaxTokenBytes = 8 << 10

// ClockSkew is how far the clocks of the issuer and gatehouse may disagree: a token is still
// accepted up to ClockSkew after its expiry and from ClockSkew before its not-before time.
const ClockSkew = 30 * time.Second

// Limits on the names a token carries. They keep agent ids, roles and tenants printable and short
// enough for logs, audit records and kill-switch scopes.
const (
	MaxNameBytes = 256
	MaxRoles     = 64
)

// Scheme names how a token is signed and, so, which verifier accepts it.
type Scheme string

// The schemes.
const (
	// SchemeHMAC is HMAC-SHA256 (JWS alg HS256) over a shared secret of at least MinSecretBytes.
	SchemeHMAC Scheme = "hmac"
	// SchemeEd25519 is Ed25519 (JWS alg EdDSA): the issuer holds the private key, gatehouse only the
	// public key.
	SchemeEd25519 Scheme = "ed25519"
)

// ParseScheme maps the spelling of a scheme on the command line or in configuration to a Scheme.
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(s) {
	case SchemeHMAC, SchemeEd25519:
		return Scheme(s), nil
	}
	return "", fmt.Errorf("unknown token scheme %q: want hmac or ed25519", s)
}

// Alg is the JWS algorithm of the scheme: HS256 or EdDSA.
func (s Scheme) Alg() string {
	switch s {
	case SchemeHMAC:
		return "HS256"
	case SchemeEd25519:
		return "EdDSA"
	}
	return ""
}

// schemeOfAlg is the scheme a JWS algorithm belongs to, "" for none.
func schemeOfAlg(alg string) Scheme {
	for _, s := range []Scheme{SchemeHMAC, SchemeEd25519} {
		if s.Alg() == alg {
			return s
		}
	}
	return ""
}

// Claims are what a token says about its agent. Times are whole seconds (JWT NumericDate).
type Claims struct {
	// AgentID is the agent (JWT "sub"). Rules match it with agents and agent.id.
	AgentID string
	// Roles are the agent's roles ("roles"). Rules match them with require_roles.
	Roles []string
	// Tenant is the engagement the agent works for ("tenant"); empty when the token names none.
	Tenant string
	// Scheme is how the token is signed ("scheme"). Verify sets it; Issue takes it from the Signer.
	Scheme Scheme
	// IssuedAt ("iat") is required by Issue. Expiry ("exp") is required everywhere. NotBefore
	// ("nbf") is optional: zero means the token is valid from IssuedAt.
	IssuedAt, NotBefore, Expiry time.Time
	// ID is the token's unique id ("jti"), for revocation lists and audit; Issue makes a random one
	// when it is empty.
	ID string
}

// wireClaims is the JSON payload of a token. Field order is the order of the encoding.
type wireClaims struct {
	Sub    string   `json:"sub"`
	Roles  []string `json:"roles"`
	Tenant string   `json:"tenant,omitempty"`
	Scheme Scheme   `json:"scheme"`
	Iat    int64    `json:"iat"`
	Nbf    int64    `json:"nbf,omitempty"`
	Exp    int64    `json:"exp"`
	Jti    string   `json:"jti"`
}

// checkName reports why s is not acceptable as an agent id, role, tenant or token id: it must be
// 1 to MaxNameBytes bytes of valid UTF-8, without control or format characters (which could hide
// or fake text in logs and audit records) and without surrounding white space.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(s), MaxNameBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s %q has leading or trailing white space", what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%s %q contains the control or format character %U", what, s, r)
		}
	}
	return nil
}

// checkNames checks the names of c other than the times.
func (c *Claims) checkNames() error {
	if err := checkName("agent id", c.AgentID); err != nil {
		return err
	}
	if len(c.Roles) > MaxRoles {
		return fmt.Errorf("%d roles, more than %d", len(c.Roles), MaxRoles)
	}
	seen := make(map[string]bool, len(c.Roles))
	for _, r := range c.Roles {
		if err := checkName("role", r); err != nil {
			return err
		}
		if seen[r] {
			return fmt.Errorf("role %q is listed twice", r)
		}
		seen[r] = true
	}
	if c.Tenant != "" {
		if err := checkName("tenant", c.Tenant); err != nil {
			return err
		}
	}
	if c.ID != "" {
		if err := checkName("token id", c.ID); err != nil {
			return err
		}
	}
	return nil
}

// checkTimes refuses c at now when it has expired or is not valid yet, allowing skew either way.
func checkTimes(c *Claims, now time.Time, skew time.Duration) error {
	const layout = time.RFC3339
	if !now.Before(c.Expiry.Add(skew)) {
		return refuse(CodeExpired, fmt.Sprintf("expired at %s, %s ago; issue a new one with gatehouse token",
			c.Expiry.UTC().Format(layout), now.Sub(c.Expiry).Truncate(time.Second)))
	}
	if !c.NotBefore.IsZero() && now.Add(skew).Before(c.NotBefore) {
		return refuse(CodeNotYetValid, fmt.Sprintf("is not valid before %s, %s from now (check the clocks of the issuer and of gatehouse)",
			c.NotBefore.UTC().Format(layout), c.NotBefore.Sub(now).Truncate(time.Second)))
	}
	if !c.IssuedAt.IsZero() && now.Add(skew).Before(c.IssuedAt) {
		return refuse(CodeNotYetValid, fmt.Sprintf("was issued in the future, at %s, %s from now (check the clocks of the issuer and of gatehouse)",
			c.IssuedAt.UTC().Format(layout), c.IssuedAt.Sub(now).Truncate(time.Second)))
	}
	return nil
}

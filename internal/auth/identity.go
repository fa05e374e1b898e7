package auth

import (
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// The ways a caller can be authenticated, the values of Identity.Method.
const (
	MethodJWT       = "jwt"
	MethodAPIKey    = "api_key"
	MethodAnonymous = "anonymous"
)

// Identity is an authenticated caller: what the gateway puts in the decision input.
type Identity struct {
	// Principal is the caller as policy sees it (input.user and input.agent): the subject or API key
	// id, the roles, and for a JWT every verified claim (read-only: it may be shared with the cache).
	Principal policy.Principal
	// Tenant is the caller's tenant (engagement, SPEC §8.1) from the configured claim or the API
	// key; empty when there is none and the tenancy stage must decide.
	Tenant string
	// Scopes are the token's OAuth scopes; nil for API keys and anonymous callers.
	Scopes []string
	// Method is how the caller was authenticated: MethodJWT, MethodAPIKey or MethodAnonymous.
	Method string
	// Expires is when the credential expires; zero for API keys and anonymous callers.
	Expires time.Time
}

// clone returns a copy the caller may change without touching the cached original. Claims are
// copied one level deep; nested values are shared and must be treated as read-only.
func (id *Identity) clone() *Identity {
	c := *id
	c.Principal.Roles = slices.Clone(id.Principal.Roles)
	if c.Principal.Roles == nil {
		c.Principal.Roles = []string{}
	}
	c.Principal.Claims = maps.Clone(id.Principal.Claims)
	if c.Principal.Claims == nil {
		c.Principal.Claims = map[string]any{}
	}
	c.Scopes = slices.Clone(id.Scopes)
	return &c
}

func policyPrincipal(id string, roles []string) policy.Principal {
	return policy.Principal{ID: id, Roles: append([]string{}, roles...), Claims: map[string]any{}}
}

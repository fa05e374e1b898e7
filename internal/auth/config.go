package auth

import (
	"path/filepath"
	"slices"
	"time"
)

// Config is the authentication of clients calling `gatehouse serve`. Exactly one of two shapes is
// valid: Anonymous alone, or at least one of JWT and APIKeys. Nothing configured is an error, so
// that running without authentication is always a visible choice in the file.
type Config struct {
	// Anonymous turns client authentication off: every request is attributed to one fixed principal
	// and any credential it carries is ignored (and still never forwarded). Write `anonymous: {}` to
	// choose it. Meant for a gateway listening on loopback; it cannot be combined with jwt or
	// api_keys.
	Anonymous *AnonymousConfig `yaml:"anonymous"`
	// JWT accepts OAuth 2.1 bearer access tokens that are JWTs (SPEC §7.2).
	JWT *JWTConfig `yaml:"jwt"`
	// APIKeys accepts static API keys, for setups without an authorization server.
	APIKeys *APIKeysConfig `yaml:"api_keys"`
	// Resource describes this gateway as an OAuth protected resource: its canonical URI (the audience
	// tokens must be issued for) and the RFC 9728 metadata served at
	// /.well-known/oauth-protected-resource. Required with jwt.
	Resource ResourceConfig `yaml:"resource"`
	// CacheSize is how many verified tokens (and recent failures) are remembered, by SHA-256 of the
	// token, least recently used first out. Default 10000.
	CacheSize int `yaml:"cache_size"`
	// FailureCacheTTL is how long a token that failed verification is answered from the cache
	// without verifying it again. Kept short because some failures stop being failures (a key
	// rotation completes). Default 5s; at most 1m.
	FailureCacheTTL time.Duration `yaml:"failure_cache_ttl"`
	// MaxCredentialBytes is the longest credential accepted; longer ones are refused before any
	// parsing. Default 16384, which fits access tokens with large group claims.
	MaxCredentialBytes int `yaml:"max_credential_bytes"`
}

// AnonymousConfig is the principal every request is attributed to when authentication is off.
type AnonymousConfig struct {
	// ID is the principal's id, what policy sees as agent.id and user.id. Default "anonymous".
	ID string `yaml:"id"`
	// Roles are the principal's roles.
	Roles []string `yaml:"roles"`
	// Tenant is the tenant (engagement) of every request, empty for none.
	Tenant string `yaml:"tenant"`
}

// JWTConfig configures bearer JWT access tokens.
type JWTConfig struct {
	// Issuer is the one accepted value of the iss claim, compared exactly (no normalization), e.g.
	// https://auth.example.com/realms/acme. Required.
	Issuer string `yaml:"issuer"`
	// Audiences are the accepted values of the aud claim: a token is accepted when its aud contains
	// at least one of them (RFC 8707). Default: resource.uri alone, which is what an MCP client asks
	// the authorization server for.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the allow-list of signature algorithms (the JWS alg header). Default RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA and Ed25519. HS256, HS384 and
	// HS512 are accepted only when listed here and hmac_keys is set. "none" is never accepted.
	Algorithms []string `yaml:"algorithms"`
	// JWKS fetches verification keys from the authorization server's JWKS URL.
	JWKS *JWKSConfig `yaml:"jwks"`
	// Keys are static public keys (PEM), for issuers without a JWKS URL. May be combined with jwks.
	Keys []StaticKeyConfig `yaml:"keys"`
	// HMACKeys are shared secrets for HS256/HS384/HS512 tokens. Anyone holding one can mint tokens,
	// so they are accepted only when configured here and the HS algorithm is listed in algorithms.
	HMACKeys []HMACKeyConfig `yaml:"hmac_keys"`
	// ClockSkew is the tolerance applied to exp, nbf and iat for clocks that disagree. Default 30s;
	// at most 5m. Write 0s for none.
	ClockSkew *time.Duration `yaml:"clock_skew"`
	// TokenTypes, when set, is the allow-list of the JWS typ header (compared case-insensitively,
	// with or without "application/"), e.g. [at+jwt] to refuse ID tokens presented as access tokens
	// (RFC 9068). Default: any.
	TokenTypes []string `yaml:"token_types"`
	// SubjectClaim is the claim that names the caller (the principal id). Dotted paths reach into
	// objects. Default "sub".
	SubjectClaim string `yaml:"subject_claim"`
	// RoleClaims are the claims roles are read from, merged in order without duplicates. Each is a
	// dotted path (realm_access.roles, resource_access.gatehouse.roles); an array contributes its
	// strings, a string is split on spaces (so a scope claim can serve as roles). A claim whose whole
	// name contains dots (https://example.com/roles) is found before the path is split. Default none.
	RoleClaims []string `yaml:"role_claims"`
	// ScopeClaim is the claim scopes are read from: a space-separated string (RFC 9068 scope) or an
	// array (Azure's scp). Default "scope".
	ScopeClaim string `yaml:"scope_claim"`
	// TenantClaim is the claim naming the caller's tenant (engagement, SPEC §8.1), a dotted path to a
	// string. Empty: tokens carry no tenant.
	TenantClaim string `yaml:"tenant_claim"`
	// RequiredScopes must all be present in a token's scopes; a token without them is refused with
	// 403 insufficient_scope, and the challenge names them so the client can step up.
	RequiredScopes []string `yaml:"required_scopes"`
}

// JWKSConfig is where verification keys are fetched from and how often.
type JWKSConfig struct {
	// URL is the JWKS URL (the authorization server metadata's jwks_uri). Must be https, except on a
	// loopback address.
	URL string `yaml:"url"`
	// RefreshInterval is how old the key set may get before it is fetched again. A failed refresh
	// keeps the last good set in use until it is twice this old; after that tokens are refused until
	// the URL answers. Default 15m; between 1m and 24h.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MinRefreshInterval is the least time between two fetches, whatever triggers them. A token
	// naming an unknown key id triggers a fetch, so this is what stops a flood of random key ids from
	// hammering the authorization server. Default 30s; between 1s and refresh_interval.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Timeout bounds one fetch, connection to last byte. Default 10s; at most 1m.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBytes is the largest JWKS document accepted. Default 1048576 (1 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
}

// StaticKeyConfig is one PEM-encoded public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE). Give
// exactly one of File and PEM. A private key is refused: the gateway only verifies.
type StaticKeyConfig struct {
	// ID is the key id (kid) tokens signed with this key carry. Empty: the key is tried for tokens
	// without a kid.
	ID string `yaml:"id"`
	// File is a PEM file holding the key. Relative paths are relative to the configuration file.
	File string `yaml:"file"`
	// PEM is the key itself, inline.
	PEM string `yaml:"pem"`
	// Algorithm pins the one algorithm this key verifies (for example PS256 for an RSA key). Default:
	// every allowed algorithm that fits the key type.
	Algorithm string `yaml:"algorithm"`
}

// HMACKeyConfig is one HMAC shared secret. Give exactly one of SecretEnv and SecretFile; secrets are
// never written in the configuration file itself.
type HMACKeyConfig struct {
	// ID is the key id (kid) tokens signed with this secret carry. Empty: tried for tokens without
	// a kid.
	ID string `yaml:"id"`
	// SecretEnv names an environment variable holding the secret, read at start-up.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the secret (a trailing newline is removed). Relative paths are
	// relative to the configuration file.
	SecretFile string `yaml:"secret_file"`
	// Algorithm pins HS256, HS384 or HS512. Default: every allowed HS algorithm the secret is long
	// enough for (at least 32, 48 or 64 bytes, RFC 7518 §3.2).
	Algorithm string `yaml:"algorithm"`
}

// APIKeysConfig configures static API keys.
type APIKeysConfig struct {
	// Header is a request header that carries an API key in addition to `Authorization: Bearer`, for
	// example X-API-Key. Empty: only the Authorization header. The header is stripped from upstream
	// requests like Authorization.
	Header string `yaml:"header"`
	// Keys are the accepted keys. At least one.
	Keys []APIKeyConfig `yaml:"keys"`
}

// APIKeyConfig is one accepted API key, stored only as its hash.
type APIKeyConfig struct {
	// ID names the key's holder: the principal id policy sees. Unique.
	ID string `yaml:"id"`
	// Hash is "sha256:" followed by the lowercase hex SHA-256 of the key, as printed by
	// `printf %s "$KEY" | sha256sum`. Keys must be long and random (32 bytes from a CSPRNG): an
	// unsalted hash protects a random key, not a password.
	Hash string `yaml:"hash"`
	// Roles are the holder's roles.
	Roles []string `yaml:"roles"`
	// Tenant is the holder's tenant (engagement), empty for none.
	Tenant string `yaml:"tenant"`
}

// ResourceConfig describes this gateway as an OAuth protected resource (RFC 9728).
type ResourceConfig struct {
	// URI is the canonical URI of the MCP endpoint as clients address it, e.g.
	// https://mcp.example.com/mcp: the RFC 9728 resource, and the RFC 8707 resource indicator MCP
	// clients request tokens for. No fragment, no query. Required with jwt.
	URI string `yaml:"uri"`
	// AuthorizationServers are the issuer URLs of the authorization servers clients may get tokens
	// from. Default: jwt.issuer.
	AuthorizationServers []string `yaml:"authorization_servers"`
	// ScopesSupported are the scopes advertised in the metadata, the minimum a client needs for basic
	// use. Also used as the scope hint of a 401 challenge when jwt.required_scopes is empty.
	ScopesSupported []string `yaml:"scopes_supported"`
	// Name is a human-readable name for the resource (resource_name).
	Name string `yaml:"name"`
	// Documentation is a URL of documentation for developers (resource_documentation).
	Documentation string `yaml:"documentation"`
	// PolicyURI is a URL of the resource's data-use policy (resource_policy_uri).
	PolicyURI string `yaml:"policy_uri"`
	// TOSURI is a URL of the resource's terms of service (resource_tos_uri).
	TOSURI string `yaml:"tos_uri"`
	// MetadataURL overrides the metadata URL given to clients in WWW-Authenticate. Default: derived
	// from URI as RFC 9728 §3.1 says, https://host/.well-known/oauth-protected-resource/<path>.
	MetadataURL string `yaml:"metadata_url"`
}

// Defaults, named so that the docs, Validate and the tests agree.
const (
	DefaultAnonymousID        = "anonymous"
	DefaultCacheSize          = 10000
	DefaultFailureCacheTTL    = 5 * time.Second
	DefaultMaxCredentialBytes = 16384
	DefaultClockSkew          = 30 * time.Second
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultJWKSTimeout        = 10 * time.Second
	DefaultJWKSMaxBytes       = 1 << 20
)

// defaultAlgorithms is the allow-list when none is configured: every asymmetric algorithm, no HMAC.
var defaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}

// normalized returns a copy of c with every default filled in. The copy shares no slices with c.
func (c *Config) normalized() Config {
	n := *c
	if n.CacheSize == 0 {
		n.CacheSize = DefaultCacheSize
	}
	if n.FailureCacheTTL == 0 {
		n.FailureCacheTTL = DefaultFailureCacheTTL
	}
	if n.MaxCredentialBytes == 0 {
		n.MaxCredentialBytes = DefaultMaxCredentialBytes
	}
	if c.Anonymous != nil {
		a := *c.Anonymous
		if a.ID == "" {
			a.ID = DefaultAnonymousID
		}
		a.Roles = slices.Clone(a.Roles)
		n.Anonymous = &a
	}
	n.Resource.AuthorizationServers = slices.Clone(c.Resource.AuthorizationServers)
	n.Resource.ScopesSupported = slices.Clone(c.Resource.ScopesSupported)
	if c.JWT != nil {
		j := *c.JWT
		j.Audiences = slices.Clone(j.Audiences)
		if len(j.Audiences) == 0 && n.Resource.URI != "" {
			j.Audiences = []string{n.Resource.URI}
		}
		j.Algorithms = slices.Clone(j.Algorithms)
		if len(j.Algorithms) == 0 {
			j.Algorithms = slices.Clone(defaultAlgorithms)
		}
		if j.ClockSkew == nil {
			d := DefaultClockSkew
			j.ClockSkew = &d
		}
		if j.SubjectClaim == "" {
			j.SubjectClaim = "sub"
		}
		if j.ScopeClaim == "" {
			j.ScopeClaim = "scope"
		}
		if j.JWKS != nil {
			k := *j.JWKS
			if k.RefreshInterval == 0 {
				k.RefreshInterval = DefaultRefreshInterval
			}
			if k.MinRefreshInterval == 0 {
				k.MinRefreshInterval = min(DefaultMinRefreshInterval, k.RefreshInterval)
			}
			if k.Timeout == 0 {
				k.Timeout = DefaultJWKSTimeout
			}
			if k.MaxBytes == 0 {
				k.MaxBytes = DefaultJWKSMaxBytes
			}
			j.JWKS = &k
		}
		j.Keys = slices.Clone(j.Keys)
		j.HMACKeys = slices.Clone(j.HMACKeys)
		j.RoleClaims = slices.Clone(j.RoleClaims)
		j.TokenTypes = slices.Clone(j.TokenTypes)
		j.RequiredScopes = slices.Clone(j.RequiredScopes)
		if len(n.Resource.AuthorizationServers) == 0 && j.Issuer != "" {
			n.Resource.AuthorizationServers = []string{j.Issuer}
		}
		n.JWT = &j
	}
	if c.APIKeys != nil {
		k := *c.APIKeys
		k.Keys = slices.Clone(k.Keys)
		n.APIKeys = &k
	}
	return n
}

// ResolvePaths makes the relative key and secret file paths absolute against dir, the directory of
// the configuration file, as the configuration loader does for every other path.
func (c *Config) ResolvePaths(dir string) {
	if c.JWT == nil {
		return
	}
	for i := range c.JWT.Keys {
		resolve(&c.JWT.Keys[i].File, dir)
	}
	for i := range c.JWT.HMACKeys {
		resolve(&c.JWT.HMACKeys[i].SecretFile, dir)
	}
}

func resolve(p *string, dir string) {
	if *p != "" && !filepath.IsAbs(*p) {
		*p = filepath.Join(dir, *p)
	}
}

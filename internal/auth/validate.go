package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// FieldError is one configuration problem. Key is the dotted YAML key it concerns, relative to the
// auth section (jwt.jwks.url), so the configuration loader can prefix its own section name and
// locate the line; problems in one list entry name the list and say which entry in Message.
type FieldError struct {
	// Key is the dotted YAML key, e.g. jwt.jwks.url.
	Key string
	// Message says what is wrong and, where it helps, what to write instead.
	Message string
}

// Error implements error as "key: message".
func (e *FieldError) Error() string { return e.Key + ": " + e.Message }

// problems collects FieldErrors.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the configuration, defaults applied, and returns every problem found, not just
// the first. It reads no files and no environment: New does that, and reports what it finds the
// same way, so `gatehouse check` should call both.
func (c *Config) Validate() []error {
	n := c.normalized()
	var ps problems
	if n.Anonymous == nil && n.JWT == nil && n.APIKeys == nil {
		ps.add("anonymous", "no client authentication is configured: set jwt or api_keys, or write `anonymous: {}` to run without authentication (loopback only)")
	}
	if n.Anonymous != nil {
		if n.JWT != nil || n.APIKeys != nil {
			ps.add("anonymous", "cannot be combined with jwt or api_keys: a request is either authenticated or not")
		}
		validName(&ps, "anonymous.id", n.Anonymous.ID)
		validRoles(&ps, "anonymous.roles", n.Anonymous.Roles)
	}
	if n.CacheSize < 1 || n.CacheSize > 1_000_000 {
		ps.add("cache_size", "must be between 1 and 1000000 (got %d)", n.CacheSize)
	}
	if n.FailureCacheTTL < time.Second || n.FailureCacheTTL > time.Minute {
		ps.add("failure_cache_ttl", "must be between 1s and 1m (got %s)", n.FailureCacheTTL)
	}
	if n.MaxCredentialBytes < 256 || n.MaxCredentialBytes > 65536 {
		ps.add("max_credential_bytes", "must be between 256 and 65536 (got %d)", n.MaxCredentialBytes)
	}
	if n.JWT != nil {
		validateJWT(&ps, n.JWT)
	}
	if n.APIKeys != nil {
		validateAPIKeys(&ps, n.APIKeys)
	}
	validateResource(&ps, &n.Resource, n.JWT != nil)
	return ps
}

func validateJWT(ps *problems, j *JWTConfig) {
	if strings.TrimSpace(j.Issuer) == "" {
		ps.add("jwt.issuer", "is required: the exact iss value of accepted tokens")
	}
	if len(j.Audiences) == 0 {
		ps.add("jwt.audiences", "no audience: set resource.uri (tokens must be issued for this gateway, RFC 8707) or jwt.audiences")
	}
	for _, a := range j.Audiences {
		if strings.TrimSpace(a) == "" {
			ps.add("jwt.audiences", "must not contain an empty audience")
		}
	}
	hasHS := false
	for _, alg := range j.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			ps.add("jwt.algorithms", `"none" is never accepted: an unsigned token proves nothing`)
		case algorithms[alg].kty == "":
			ps.add("jwt.algorithms", "unknown or unsupported algorithm %q (supported: %s)", alg, strings.Join(supportedAlgorithms(), ", "))
		case algorithms[alg].kty == ktyOct:
			hasHS = true
		}
	}
	if hasHS && len(j.HMACKeys) == 0 {
		ps.add("jwt.algorithms", "an HS algorithm is listed but jwt.hmac_keys is empty")
	}
	if len(j.HMACKeys) > 0 && !hasHS {
		ps.add("jwt.hmac_keys", "HMAC keys are configured but no HS256, HS384 or HS512 is listed in jwt.algorithms: list the one you use, explicitly")
	}
	if j.JWKS == nil && len(j.Keys) == 0 && len(j.HMACKeys) == 0 {
		ps.add("jwt", "no verification keys: set jwt.jwks.url, jwt.keys or jwt.hmac_keys")
	}
	if j.JWKS != nil {
		k := j.JWKS
		if k.URL == "" {
			ps.add("jwt.jwks.url", "is required")
		} else if err := secureURL(k.URL); err != nil {
			ps.add("jwt.jwks.url", "%v", err)
		}
		if k.RefreshInterval < time.Minute || k.RefreshInterval > 24*time.Hour {
			ps.add("jwt.jwks.refresh_interval", "must be between 1m and 24h (got %s)", k.RefreshInterval)
		}
		if k.MinRefreshInterval < time.Second || k.MinRefreshInterval > k.RefreshInterval {
			ps.add("jwt.jwks.min_refresh_interval", "must be between 1s and refresh_interval (got %s)", k.MinRefreshInterval)
		}
		if k.Timeout <= 0 || k.Timeout > time.Minute {
			ps.add("jwt.jwks.timeout", "must be between 1ms and 1m (got %s)", k.Timeout)
		}
		if k.MaxBytes < 1024 || k.MaxBytes > 16<<20 {
			ps.add("jwt.jwks.max_bytes", "must be between 1024 and 16777216 (got %d)", k.MaxBytes)
		}
	}
	kids := map[string]bool{}
	for i, k := range j.Keys {
		where := fmt.Sprintf("key %d", i+1)
		if k.ID != "" {
			where = fmt.Sprintf("key %d (id %q)", i+1, k.ID)
		}
		if (k.File == "") == (k.PEM == "") {
			ps.add("jwt.keys", "%s: give exactly one of file and pem", where)
		}
		validKeyAlg(ps, "jwt.keys", where, k.Algorithm, j.Algorithms, false)
		if k.ID != "" && kids[k.ID] {
			ps.add("jwt.keys", "%s: id is used by another key", where)
		}
		kids[k.ID] = k.ID != ""
	}
	for i, k := range j.HMACKeys {
		where := fmt.Sprintf("key %d", i+1)
		if k.ID != "" {
			where = fmt.Sprintf("key %d (id %q)", i+1, k.ID)
		}
		if (k.SecretEnv == "") == (k.SecretFile == "") {
			ps.add("jwt.hmac_keys", "%s: give exactly one of secret_env and secret_file", where)
		}
		validKeyAlg(ps, "jwt.hmac_keys", where, k.Algorithm, j.Algorithms, true)
		if k.ID != "" && kids[k.ID] {
			ps.add("jwt.hmac_keys", "%s: id is used by another key", where)
		}
		kids[k.ID] = k.ID != ""
	}
	if *j.ClockSkew < 0 || *j.ClockSkew > 5*time.Minute {
		ps.add("jwt.clock_skew", "must be between 0s and 5m (got %s)", *j.ClockSkew)
	}
	for _, t := range j.TokenTypes {
		if strings.TrimSpace(t) == "" {
			ps.add("jwt.token_types", "must not contain an empty type")
		}
	}
	validPath(ps, "jwt.subject_claim", j.SubjectClaim)
	validPath(ps, "jwt.scope_claim", j.ScopeClaim)
	if j.TenantClaim != "" {
		validPath(ps, "jwt.tenant_claim", j.TenantClaim)
	}
	for _, p := range j.RoleClaims {
		validPath(ps, "jwt.role_claims", p)
	}
	validScopes(ps, "jwt.required_scopes", j.RequiredScopes)
}

func validKeyAlg(ps *problems, key, where, alg string, allowed []string, hmac bool) {
	if alg == "" {
		return
	}
	spec, ok := algorithms[alg]
	switch {
	case !ok:
		ps.add(key, "%s: unknown algorithm %q", where, alg)
	case hmac != (spec.kty == ktyOct):
		ps.add(key, "%s: algorithm %q does not fit this kind of key", where, alg)
	case !slices.Contains(allowed, alg):
		ps.add(key, "%s: algorithm %q is not in jwt.algorithms", where, alg)
	}
}

func validateAPIKeys(ps *problems, k *APIKeysConfig) {
	if k.Header != "" {
		switch {
		case !isToken(k.Header):
			ps.add("api_keys.header", "%q is not a valid header name", k.Header)
		case strings.EqualFold(k.Header, "Authorization") || strings.EqualFold(k.Header, "Proxy-Authorization") ||
			strings.EqualFold(k.Header, "Cookie"):
			ps.add("api_keys.header", "%q is already a credential header: API keys are always accepted as Authorization: Bearer", k.Header)
		}
	}
	if len(k.Keys) == 0 {
		ps.add("api_keys.keys", "at least one key is required")
	}
	ids, hashes := map[string]bool{}, map[string]bool{}
	for i, key := range k.Keys {
		where := fmt.Sprintf("key %d", i+1)
		if key.ID != "" {
			where = fmt.Sprintf("key %d (id %q)", i+1, key.ID)
		}
		if key.ID == "" {
			ps.add("api_keys.keys", "%s: id is required", where)
		} else if ids[key.ID] {
			ps.add("api_keys.keys", "%s: id is used by another key", where)
		}
		ids[key.ID] = true
		if _, err := parseKeyHash(key.Hash); err != nil {
			ps.add("api_keys.keys", "%s: %v", where, err)
		} else if h := strings.ToLower(key.Hash); hashes[h] {
			ps.add("api_keys.keys", "%s: hash is the same as another key's", where)
		} else {
			hashes[h] = true
		}
		validRoles(ps, "api_keys.keys", key.Roles)
	}
}

func validateResource(ps *problems, r *ResourceConfig, withJWT bool) {
	if r.URI == "" {
		if withJWT {
			ps.add("resource.uri", "is required with jwt: the canonical URI of this gateway's MCP endpoint, e.g. https://mcp.example.com/mcp")
		}
	} else if err := resourceURI(r.URI); err != nil {
		ps.add("resource.uri", "%v", err)
	}
	if withJWT && len(r.AuthorizationServers) == 0 {
		ps.add("resource.authorization_servers", "at least one authorization server is required (MCP clients discover it here)")
	}
	for _, s := range r.AuthorizationServers {
		if err := secureURL(s); err != nil {
			ps.add("resource.authorization_servers", "%q: %v", s, err)
		}
	}
	validScopes(ps, "resource.scopes_supported", r.ScopesSupported)
	for key, v := range map[string]string{"resource.documentation": r.Documentation, "resource.policy_uri": r.PolicyURI,
		"resource.tos_uri": r.TOSURI, "resource.metadata_url": r.MetadataURL} {
		if v != "" {
			if err := secureURL(v); err != nil {
				ps.add(key, "%v", err)
			}
		}
	}
	if strings.ContainsAny(r.Name, "\"\\\r\n") {
		ps.add("resource.name", "must not contain quotes, backslashes or line breaks")
	}
}

// secureURL accepts an absolute https URL, or an http URL whose host is a loopback address (for
// tests and for an authorization server on the same machine). Credentials in a URL are refused:
// they would end up in logs.
func secureURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not have a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("must use https (plain http is accepted only for loopback addresses)")
	}
	return fmt.Errorf("must be an https URL")
}

// resourceURI checks a canonical server URI as the MCP authorization specification defines it.
func resourceURI(s string) error {
	if err := secureURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("must not have a query")
	}
	if strings.Contains(s, "#") {
		return fmt.Errorf("must not have a fragment")
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var pathRE = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)

func validPath(ps *problems, key, p string) {
	if !pathRE.MatchString(p) {
		ps.add(key, "%q is not a claim path (names separated by single dots, no spaces)", p)
	}
}

func validName(ps *problems, key, s string) {
	if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\r\n") {
		ps.add(key, "must be a non-empty name on one line")
	}
}

func validRoles(ps *problems, key string, roles []string) {
	for _, r := range roles {
		if r == "" || strings.ContainsAny(r, ", \t\r\n") {
			ps.add(key, "role %q must be a non-empty name without commas or spaces", r)
		}
	}
}

// validScopes checks scope tokens (RFC 6749 §3.3: printable ASCII except space, '"' and '\').
func validScopes(ps *problems, key string, scopes []string) {
	for _, s := range scopes {
		ok := s != ""
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				ok = false
			}
		}
		if !ok {
			ps.add(key, "scope %q must be printable ASCII without spaces, quotes or backslashes", s)
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), as a header name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
}

package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Options are the Authenticator's and UpstreamCredentials' collaborators. The zero value works.
type Options struct {
	// Logger receives failure details (never credentials). Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none (counted, not exported).
	Registerer prometheus.Registerer
	// HTTPClient fetches the JWKS and OAuth tokens. Default: a client bounded by the configured
	// timeout that refuses redirects to plain http.
	HTTPClient *http.Client
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
	// Getenv reads environment variables at construction, for tests. Default os.Getenv.
	Getenv func(string) string
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
}

// Authenticator authenticates requests to the HTTP gateway. It is safe for concurrent use; build a
// new one to apply a changed configuration.
type Authenticator struct {
	log *slog.Logger
	now func() time.Time
	m   *metrics

	anonymous    *Identity    // set in anonymous mode, and then nothing else is
	apiKeys      *apiKeySet   // nil without API keys
	apiKeyHeader string       // canonical name, empty for none
	jwt          *jwtVerifier // nil without JWT
	cache        *tokenCache
	failureTTL   time.Duration
	maxCred      int

	meta *metadata
	// hintScope is the scope attribute of a 401 challenge; requiredScope that of a 403.
	hintScope, requiredScope string
}

// New builds an Authenticator. It validates cfg, reads the static keys and secrets it names, and
// returns every problem found; each is a *FieldError (the error is an errors.Join). It does not
// fetch the JWKS: the first token does, so a gateway can start while its identity provider is down
// (and refuse tokens until it is up).
func New(cfg Config, opts Options) (*Authenticator, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	opts.defaults()
	n := cfg.normalized()
	a := &Authenticator{
		log:        opts.Logger,
		now:        opts.Now,
		m:          newMetrics(opts.Registerer),
		cache:      newTokenCache(n.CacheSize),
		failureTTL: n.FailureCacheTTL,
		maxCred:    n.MaxCredentialBytes,
	}
	if n.Anonymous != nil {
		a.anonymous = &Identity{
			Principal: policyPrincipal(n.Anonymous.ID, n.Anonymous.Roles),
			Tenant:    n.Anonymous.Tenant,
			Method:    MethodAnonymous,
		}
		return a, nil
	}
	if n.APIKeys != nil {
		set, err := newAPIKeySet(n.APIKeys.Keys)
		if err != nil {
			return nil, &FieldError{Key: "api_keys.keys", Message: err.Error()}
		}
		a.apiKeys = set
		if n.APIKeys.Header != "" {
			a.apiKeyHeader = http.CanonicalHeaderKey(n.APIKeys.Header)
		}
	}
	if n.JWT != nil {
		v, errs := newJWTVerifier(n.JWT, &opts, a.m)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		a.jwt = v
		a.requiredScope = strings.Join(n.JWT.RequiredScopes, " ")
	}
	a.hintScope = a.requiredScope
	if a.hintScope == "" {
		a.hintScope = strings.Join(n.Resource.ScopesSupported, " ")
	}
	a.meta = newMetadata(&n)
	return a, nil
}

func newJWTVerifier(j *JWTConfig, opts *Options, m *metrics) (*jwtVerifier, []error) {
	v := &jwtVerifier{
		issuer:    j.Issuer,
		audiences: j.Audiences,
		algs:      map[string]jwa.SignatureAlgorithm{},
		skew:      *j.ClockSkew,
		subject:   j.SubjectClaim,
		roles:     j.RoleClaims,
		scope:     j.ScopeClaim,
		tenant:    j.TenantClaim,
		required:  j.RequiredScopes,
	}
	for _, name := range j.Algorithms {
		alg, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok {
			return nil, []error{&FieldError{Key: "jwt.algorithms", Message: fmt.Sprintf("algorithm %q is not available", name)}}
		}
		v.algs[name] = alg
	}
	for _, t := range j.TokenTypes {
		v.types = append(v.types, normalizeType(t))
	}
	keys, errs := loadStaticKeys(j, opts.Getenv)
	if len(errs) > 0 {
		return nil, errs
	}
	if len(keys) > 0 {
		v.static = &keySet{keys: keys}
	}
	if j.JWKS != nil {
		client := opts.HTTPClient
		if client == nil {
			client = newHTTPClient(j.JWKS.Timeout)
		}
		v.jwks = &jwksSource{
			url:         j.JWKS.URL,
			client:      client,
			timeout:     j.JWKS.Timeout,
			maxBytes:    j.JWKS.MaxBytes,
			every:       j.JWKS.RefreshInterval,
			minInterval: j.JWKS.MinRefreshInterval,
			now:         opts.Now,
			log:         opts.Logger,
			m:           m,
		}
	}
	return v, nil
}

// Anonymous reports whether authentication is off. The gateway should refuse to listen anywhere but
// loopback when it is, unless the operator says otherwise.
func (a *Authenticator) Anonymous() bool { return a.anonymous != nil }

// Authenticate says who sent r, as the principal policy sees (user and agent), and the tenant their
// credential names. It is Identify without the scopes and expiry, in the shape the HTTP transport's
// Authenticator interface wants. On failure the error is an *Error: answer it with Challenge.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*policy.Principal, string, error) {
	id, err := a.Identify(ctx, r)
	if err != nil {
		return nil, "", err
	}
	return &id.Principal, id.Tenant, nil
}

// Identify says who sent r, from its Authorization header (Bearer: an API key or a JWT) or the
// configured API-key header. It never reads the body, so call it before reading one. On failure the
// error is an *Error: answer it with Challenge. In anonymous mode every request is the anonymous
// principal, whatever it carries. The Identity returned is the caller's to keep.
func (a *Authenticator) Identify(ctx context.Context, r *http.Request) (*Identity, error) {
	id, method, cached, aerr := a.authenticate(ctx, r)
	if aerr != nil {
		a.m.request(method, aerr.result)
		level := slog.LevelInfo
		if cached || aerr.result == resultMissing {
			level = slog.LevelDebug // repeats and credential-less probes (the start of every OAuth flow)
		}
		a.log.Log(ctx, level, "auth: request not authenticated", "method", method, "result", aerr.result,
			"status", aerr.Status, "error", aerr.cause, "cached", cached)
		return nil, aerr
	}
	a.m.request(method, resultOK)
	return id, nil
}

func (a *Authenticator) authenticate(ctx context.Context, r *http.Request) (id *Identity, method string, cached bool, err *Error) {
	if a.anonymous != nil {
		return a.anonymous.clone(), MethodAnonymous, false, nil
	}
	authz := r.Header.Values("Authorization")
	var keyHeader []string
	if a.apiKeyHeader != "" {
		keyHeader = r.Header.Values(a.apiKeyHeader)
	}
	switch len(authz) + len(keyHeader) {
	case 0:
		return nil, methodNone, false, errMissing()
	case 1:
	default:
		// RFC 6750 §2: a client must not use more than one method to send a token. Choosing one
		// would let a front proxy's check and gatehouse's disagree about who is calling.
		return nil, methodNone, false, errMultiple(fmt.Errorf("%d Authorization and %d %s headers", len(authz), len(keyHeader), a.apiKeyHeader))
	}
	if len(keyHeader) == 1 {
		key := keyHeader[0]
		if len(key) == 0 || len(key) > a.maxCred || !visibleASCII(key) {
			return nil, MethodAPIKey, false, errBadKey(fmt.Errorf("malformed %s header (%d bytes)", a.apiKeyHeader, len(key)))
		}
		if id := a.apiKeys.lookup(sha256.Sum256([]byte(key))); id != nil {
			return id.clone(), MethodAPIKey, false, nil
		}
		return nil, MethodAPIKey, false, errBadKey(fmt.Errorf("%s is not a configured API key", a.apiKeyHeader))
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, DPoP, …) carries no bearer token: for this resource server the
		// request is unauthenticated, and the challenge says which scheme it wants.
		return nil, methodNone, false, errMissingScheme(scheme)
	}
	token = strings.TrimLeft(token, " ")
	method = a.methodFor(token)
	if len(token) > a.maxCred {
		return nil, method, false, errInvalid(fmt.Errorf("bearer token of %d bytes is longer than %d", len(token), a.maxCred))
	}
	if !isB64Token(token) {
		return nil, method, false, errInvalid(errors.New("bearer token is empty or not in RFC 6750 b64token syntax"))
	}
	sum := sha256.Sum256([]byte(token))
	if a.apiKeys != nil {
		if id := a.apiKeys.lookup(sum); id != nil {
			return id.clone(), MethodAPIKey, false, nil
		}
	}
	if method == MethodJWT && a.jwt != nil {
		id, cached, err := a.jwtIdentity(ctx, token, sum)
		return id, MethodJWT, cached, err
	}
	if a.apiKeys != nil {
		return nil, MethodAPIKey, false, errBadKey(errors.New("bearer token is not a configured API key"))
	}
	return nil, MethodJWT, false, errInvalid(errors.New("bearer token is not a JWT"))
}

// methodFor guesses how a bearer token was meant, for metrics and logs: a compact JWS is a JWT.
func (a *Authenticator) methodFor(token string) string {
	if a.jwt != nil && (strings.Count(token, ".") == 2 || a.apiKeys == nil) {
		return MethodJWT
	}
	return MethodAPIKey
}

// jwtIdentity verifies a JWT, through the cache.
func (a *Authenticator) jwtIdentity(ctx context.Context, token string, sum [sha256.Size]byte) (id *Identity, cached bool, err *Error) {
	now := a.now()
	if id, err, ok := a.cache.get(sum, now); ok {
		if err != nil {
			return nil, true, err
		}
		return id.clone(), true, nil
	}
	id, err = a.jwt.verify(ctx, token, now)
	if err != nil {
		if err.cacheable {
			a.cache.put(sum, nil, err, now.Add(a.failureTTL))
		}
		return nil, false, err
	}
	// Kept exactly as long as verification would accept it: until exp plus the clock skew.
	a.cache.put(sum, id, nil, id.Expires.Add(a.jwt.skew))
	return id.clone(), false, nil
}

func errMissingScheme(scheme string) *Error {
	e := errMissing()
	e.cause = fmt.Errorf("authorization scheme %.20q is not Bearer", scheme)
	return e
}

// isB64Token reports whether s is an RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// visibleASCII reports whether s is printable ASCII without spaces, as an API key must be.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

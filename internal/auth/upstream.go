package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// credentialHeaders are the request headers that carry a client's credential. None of them is ever
// sent to an upstream (SPEC §7.3).
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "DPoP", "X-Api-Key"}

// StripCredentials returns a copy of h without the headers that carry a client's credential:
// Authorization, Proxy-Authorization, Cookie, DPoP, X-API-Key, and any extra names given (the
// configured API-key header; the Authenticator method adds it for you). h is not modified.
//
// It is a second line of defence. The gateway must build each upstream request from scratch — a new
// http.Request with only the headers the upstream protocol needs — and then let UpstreamCredentials
// add the upstream's own credential. Copying the client's headers and deleting the bad ones is how
// passthrough bugs happen; this function is for the few places that do copy (for example, forwarding
// selected headers), so they cannot forget a credential.
func StripCredentials(h http.Header, extra ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, name := range credentialHeaders {
		out.Del(name)
	}
	for _, name := range extra {
		if name != "" {
			out.Del(name)
		}
	}
	return out
}

// StripCredentials is the package function with this Authenticator's API-key header added.
func (a *Authenticator) StripCredentials(h http.Header) http.Header {
	return StripCredentials(h, a.apiKeyHeader)
}

// The kinds of upstream credentials, the values of UpstreamCredentialsConfig.Type.
const (
	UpstreamStaticHeader      = "static_header"
	UpstreamEnv               = "env"
	UpstreamClientCredentials = "oauth_client_credentials"
)

// UpstreamCredentialsConfig is how gatehouse authenticates itself to one upstream. It is configured
// per upstream and never derived from the client's credential.
type UpstreamCredentialsConfig struct {
	// Type is static_header (a fixed header value), env (a header value from an environment variable)
	// or oauth_client_credentials (a token from an OAuth token endpoint). Empty: no credentials.
	Type string `yaml:"type"`
	// Header is the request header to set. Default Authorization.
	Header string `yaml:"header"`
	// Value is the header value, for static_header. It sits in the configuration file in clear, so
	// prefer env (or ${NAME} expansion) for secrets.
	Value string `yaml:"value"`
	// Env names the environment variable holding the header value, for env. It is read once, at
	// start-up; an empty or unset variable is a start-up error.
	Env string `yaml:"env"`
	// Prefix is written before the value from Env or the OAuth access token, e.g. "Bearer ". Default
	// "Bearer " for oauth_client_credentials, nothing for env.
	Prefix string `yaml:"prefix"`
	// ClientCredentials configures oauth_client_credentials.
	ClientCredentials *ClientCredentialsConfig `yaml:"client_credentials"`
}

// ClientCredentialsConfig is an OAuth 2.1 client credentials grant (RFC 6749 §4.4).
type ClientCredentialsConfig struct {
	// TokenURL is the authorization server's token endpoint. Must be https, except on loopback.
	TokenURL string `yaml:"token_url"`
	// ClientID is gatehouse's client id at that authorization server.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names an environment variable holding the client secret, read at start-up.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientSecretFile is a file holding the client secret (a trailing newline is removed). Relative
	// paths are relative to the configuration file. Give exactly one of the two.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are requested with the token (the scope parameter).
	Scopes []string `yaml:"scopes"`
	// Audience is sent as the audience parameter, for authorization servers that want one (Auth0).
	Audience string `yaml:"audience"`
	// Resource is sent as the RFC 8707 resource parameter: the upstream's canonical URI, so the token
	// is good for that upstream only.
	Resource string `yaml:"resource"`
	// AuthMethod is how the client authenticates to the token endpoint: client_secret_basic (default,
	// HTTP Basic) or client_secret_post (in the form body).
	AuthMethod string `yaml:"auth_method"`
	// Timeout bounds one token request. Default 10s; at most 1m.
	Timeout time.Duration `yaml:"timeout"`
}

// Validate checks the configuration and returns every problem; keys are relative to the section.
func (c *UpstreamCredentialsConfig) Validate() []error {
	var ps problems
	only := func(key string, set bool, types ...string) {
		if set && !slices.Contains(types, c.Type) {
			ps.add(key, "is only used with type %s", strings.Join(types, " or "))
		}
	}
	if c.Header != "" && !isToken(c.Header) {
		ps.add("header", "%q is not a valid header name", c.Header)
	}
	if strings.ContainsAny(c.Prefix, "\r\n") {
		ps.add("prefix", "must be on one line")
	}
	only("value", c.Value != "", UpstreamStaticHeader)
	only("env", c.Env != "", UpstreamEnv)
	only("prefix", c.Prefix != "", UpstreamEnv, UpstreamClientCredentials)
	only("client_credentials", c.ClientCredentials != nil, UpstreamClientCredentials)
	only("header", c.Header != "", UpstreamStaticHeader, UpstreamEnv, UpstreamClientCredentials)
	switch c.Type {
	case "":
	case UpstreamStaticHeader:
		if c.Value == "" {
			ps.add("value", "is required with type static_header")
		} else if strings.ContainsAny(c.Value, "\r\n") {
			ps.add("value", "must be on one line")
		}
	case UpstreamEnv:
		if c.Env == "" {
			ps.add("env", "is required with type env: the name of the environment variable")
		}
	case UpstreamClientCredentials:
		if c.ClientCredentials == nil {
			ps.add("client_credentials", "is required with type oauth_client_credentials")
			break
		}
		cc := c.ClientCredentials
		if cc.TokenURL == "" {
			ps.add("client_credentials.token_url", "is required")
		} else if err := secureURL(cc.TokenURL); err != nil {
			ps.add("client_credentials.token_url", "%v", err)
		}
		if cc.ClientID == "" {
			ps.add("client_credentials.client_id", "is required")
		}
		if (cc.ClientSecretEnv == "") == (cc.ClientSecretFile == "") {
			ps.add("client_credentials", "give exactly one of client_secret_env and client_secret_file")
		}
		validScopes(&ps, "client_credentials.scopes", cc.Scopes)
		if cc.Resource != "" {
			if err := resourceURI(cc.Resource); err != nil {
				ps.add("client_credentials.resource", "%v", err)
			}
		}
		if cc.AuthMethod != "" && cc.AuthMethod != "client_secret_basic" && cc.AuthMethod != "client_secret_post" {
			ps.add("client_credentials.auth_method", "must be client_secret_basic or client_secret_post (got %q)", cc.AuthMethod)
		}
		if cc.Timeout < 0 || cc.Timeout > time.Minute {
			ps.add("client_credentials.timeout", "must be between 1ms and 1m (got %s)", cc.Timeout)
		}
	default:
		ps.add("type", "must be one of static_header, env, oauth_client_credentials (got %q)", c.Type)
	}
	return ps
}

// ResolvePaths makes a relative client_secret_file absolute against dir.
func (c *UpstreamCredentialsConfig) ResolvePaths(dir string) {
	if c.ClientCredentials != nil {
		resolve(&c.ClientCredentials.ClientSecretFile, dir)
	}
}

// UpstreamCredentials adds one upstream's own credential to requests gatehouse sends it. A nil
// *UpstreamCredentials adds nothing. Safe for concurrent use.
type UpstreamCredentials struct {
	kind   string
	header string
	value  string             // static_header and env: the whole header value
	cc     *clientCredentials // oauth_client_credentials
}

// NewUpstreamCredentials validates cfg and reads what it names (the environment variable, the
// client secret). Problems are *FieldErrors joined into one error. It sends no token request: the
// first Apply does.
func NewUpstreamCredentials(cfg UpstreamCredentialsConfig, opts Options) (*UpstreamCredentials, error) {
	var ps problems
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	opts.defaults()
	u := &UpstreamCredentials{kind: cfg.Type, header: http.CanonicalHeaderKey(cfg.Header)}
	if u.header == "" {
		u.header = "Authorization"
	}
	switch cfg.Type {
	case UpstreamStaticHeader:
		u.value = cfg.Value
	case UpstreamEnv:
		v := opts.Getenv(cfg.Env)
		if v == "" {
			ps.add("env", "environment variable %s is empty or not set", cfg.Env)
		} else if strings.ContainsAny(v, "\r\n") {
			ps.add("env", "environment variable %s holds a line break", cfg.Env)
		}
		u.value = cfg.Prefix + v
	case UpstreamClientCredentials:
		prefix := cfg.Prefix
		if prefix == "" {
			prefix = "Bearer "
		}
		cc, err := newClientCredentials(*cfg.ClientCredentials, prefix, &opts)
		if err != nil {
			ps.add("client_credentials", "%v", err)
		}
		u.cc = cc
	}
	if len(ps) > 0 {
		return nil, errors.Join(ps...)
	}
	return u, nil
}

// Apply sets the upstream's credential on req, replacing any value the header had. For
// oauth_client_credentials it may request a token (waiting at most until ctx is done); an error
// means no credential could be had, and the request should fail as upstream_unavailable rather
// than go out unauthenticated.
func (u *UpstreamCredentials) Apply(ctx context.Context, req *http.Request) error {
	if u == nil || u.kind == "" {
		return nil
	}
	if u.cc == nil {
		req.Header.Set(u.header, u.value)
		return nil
	}
	v, err := u.cc.headerValue(ctx)
	if err != nil {
		return fmt.Errorf("upstream credentials: %w", err)
	}
	req.Header.Set(u.header, v)
	return nil
}

// Invalidate tells the credentials that the upstream answered req with 401. For
// oauth_client_credentials the token req carried is dropped (if it is still the current one), so
// the next Apply requests a new one, and Invalidate returns true: retry req once, after Apply. For a
// static header or env value nothing can change, and it returns false: do not retry.
func (u *UpstreamCredentials) Invalidate(req *http.Request) bool {
	if u == nil || u.cc == nil {
		return false
	}
	u.cc.invalidate(req.Header.Get(u.header))
	return true
}

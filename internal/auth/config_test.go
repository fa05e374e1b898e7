package auth

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func validJWT() Config {
	return Config{
		JWT:      &JWTConfig{Issuer: testIssuer, JWKS: &JWKSConfig{URL: "https://idp.example.com/jwks"}},
		Resource: ResourceConfig{URI: testResource},
	}
}

func TestValidate(t *testing.T) {
	d := func(s string) *time.Duration { v, _ := time.ParseDuration(s); return &v }
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // "key: substring of the message"
	}{
		{"valid", func(*Config) {}, nil},
		{"nothing configured", func(c *Config) { *c = Config{} }, []string{"anonymous: no client authentication"}},
		{"anonymous alone", func(c *Config) { *c = Config{Anonymous: &AnonymousConfig{}} }, nil},
		{"anonymous with jwt", func(c *Config) { c.Anonymous = &AnonymousConfig{} }, []string{"anonymous: cannot be combined"}},
		{"no issuer", func(c *Config) { c.JWT.Issuer = "" }, []string{"jwt.issuer: is required", "resource.authorization_servers: at least one"}},
		{"no keys", func(c *Config) { c.JWT.JWKS = nil }, []string{"jwt: no verification keys"}},
		{"alg none", func(c *Config) { c.JWT.Algorithms = []string{"RS256", "none"} }, []string{`jwt.algorithms: "none" is never accepted`}},
		{"unknown alg", func(c *Config) { c.JWT.Algorithms = []string{"RS257"} }, []string{`jwt.algorithms: unknown or unsupported algorithm "RS257"`}},
		{"HS256 without secrets", func(c *Config) { c.JWT.Algorithms = []string{"HS256"} }, []string{"jwt.algorithms: an HS algorithm is listed"}},
		{"secrets without HS256", func(c *Config) { c.JWT.HMACKeys = []HMACKeyConfig{{SecretEnv: "S"}} }, []string{"jwt.hmac_keys: HMAC keys are configured but no HS256"}},
		{"jwks over http", func(c *Config) { c.JWT.JWKS.URL = "http://idp.example.com/jwks" }, []string{"jwt.jwks.url: must use https"}},
		{"jwks over http on loopback", func(c *Config) { c.JWT.JWKS.URL = "http://127.0.0.1:8080/jwks" }, nil},
		{"jwks with credentials", func(c *Config) { c.JWT.JWKS.URL = "https://u:p@idp.example.com/jwks" }, []string{"jwt.jwks.url: must not carry credentials"}},
		{"jwks not a URL", func(c *Config) { c.JWT.JWKS.URL = "idp.example.com/jwks" }, []string{"jwt.jwks.url: \"idp.example.com/jwks\" is not an absolute URL"}},
		{"refresh too often", func(c *Config) { c.JWT.JWKS.RefreshInterval = time.Second }, []string{"jwt.jwks.refresh_interval: must be between 1m and 24h"}},
		{"min refresh above refresh", func(c *Config) { c.JWT.JWKS.MinRefreshInterval = time.Hour }, []string{"jwt.jwks.min_refresh_interval: must be between 1s and refresh_interval"}},
		{"huge skew", func(c *Config) { c.JWT.ClockSkew = d("10m") }, []string{"jwt.clock_skew: must be between 0s and 5m"}},
		{"zero skew", func(c *Config) { c.JWT.ClockSkew = d("0s") }, nil},
		{"bad claim path", func(c *Config) { c.JWT.RoleClaims = []string{"realm_access..roles"} }, []string{"jwt.role_claims: \"realm_access..roles\" is not a claim path"}},
		{"bad required scope", func(c *Config) { c.JWT.RequiredScopes = []string{"a b"} }, []string{"jwt.required_scopes: scope \"a b\""}},
		{"static key without source", func(c *Config) { c.JWT.Keys = []StaticKeyConfig{{ID: "k"}} }, []string{"jwt.keys: key 1 (id \"k\"): give exactly one of file and pem"}},
		{"static key pinned to HS256", func(c *Config) { c.JWT.Keys = []StaticKeyConfig{{PEM: "x", Algorithm: "HS256"}} }, []string{"jwt.keys: key 1: algorithm \"HS256\" does not fit"}},
		{"duplicate key ids", func(c *Config) {
			c.JWT.Algorithms = []string{"RS256", "HS256"}
			c.JWT.Keys = []StaticKeyConfig{{ID: "k", PEM: "x"}}
			c.JWT.HMACKeys = []HMACKeyConfig{{ID: "k", SecretEnv: "S"}}
		}, []string{"jwt.hmac_keys: key 1 (id \"k\"): id is used by another key"}},
		{"no resource", func(c *Config) { c.Resource.URI = "" }, []string{"jwt.audiences: no audience", "resource.uri: is required with jwt"}},
		{"resource with query", func(c *Config) { c.Resource.URI = testResource + "?tenant=a" }, []string{"resource.uri: must not have a query"}},
		{"resource with fragment", func(c *Config) { c.Resource.URI = testResource + "#x" }, []string{"resource.uri: must not have a fragment"}},
		{"authorization server over http", func(c *Config) { c.Resource.AuthorizationServers = []string{"http://idp.example.com"} }, []string{"resource.authorization_servers: \"http://idp.example.com\": must use https"}},
		{"explicit audiences without resource", func(c *Config) { c.JWT.Audiences = []string{"api://gatehouse"}; c.Resource.URI = "" }, []string{"resource.uri: is required with jwt"}},
		{"api keys", func(c *Config) {
			c.APIKeys = &APIKeysConfig{Header: "Authorization", Keys: []APIKeyConfig{
				{ID: "a", Hash: "md5:abc"},
				{ID: "a", Hash: HashAPIKey("x")},
				{ID: "", Hash: HashAPIKey("x"), Roles: []string{"bad role"}},
			}}
		}, []string{
			"api_keys.header: \"Authorization\" is already a credential header",
			"api_keys.keys: key 1 (id \"a\"): hash must start with \"sha256:\"",
			"api_keys.keys: key 2 (id \"a\"): id is used by another key",
			"api_keys.keys: key 3: id is required",
			"api_keys.keys: key 3: hash is the same as another key's",
			"api_keys.keys: role \"bad role\"",
		}},
		{"api keys empty", func(c *Config) { *c = Config{APIKeys: &APIKeysConfig{}} }, []string{"api_keys.keys: at least one key"}},
		{"cache size", func(c *Config) { c.CacheSize = -1 }, []string{"cache_size: must be between 1 and 1000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validJWT()
			tc.change(&cfg)
			var got []string
			for _, err := range cfg.Validate() {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("problem %v is a %T, want *FieldError", err, err)
				}
				got = append(got, fe.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("no problem starts with %q; got:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
		})
	}
}

// TestValidateDoesNotChangeConfig: defaults are applied to a copy.
func TestValidateDoesNotChangeConfig(t *testing.T) {
	cfg := validJWT()
	before := cfg
	jwtBefore, jwksBefore := *cfg.JWT, *cfg.JWT.JWKS
	cfg.Validate()
	if _, err := New(cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(before.Resource, cfg.Resource) || !cmp.Equal(jwtBefore, *cfg.JWT) || !cmp.Equal(jwksBefore, *cfg.JWT.JWKS) {
		t.Error("Validate or New changed the configuration it was given")
	}
}

// TestNewReportsEveryProblem: New returns the Validate problems joined, each a *FieldError.
func TestNewReportsEveryProblem(t *testing.T) {
	cfg := validJWT()
	cfg.JWT.Issuer, cfg.JWT.Algorithms = "", []string{"none"}
	_, err := New(cfg, Options{})
	var parts interface{ Unwrap() []error }
	if !errors.As(err, &parts) || len(parts.Unwrap()) < 2 {
		t.Fatalf("got %v, want every problem", err)
	}
	for _, p := range parts.Unwrap() {
		var fe *FieldError
		if !errors.As(p, &fe) {
			t.Errorf("problem %v is a %T, want *FieldError", p, p)
		}
	}
}

// TestYAMLExamples decodes every yaml block of README.md and docs/authentication.md strictly (as
// the configuration loader does, KnownFields) and validates it, so the documented keys cannot drift
// from the struct tags.
func TestYAMLExamples(t *testing.T) {
	for _, file := range []string{"README.md", "../../docs/authentication.md"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blocks := 0
		for rest := string(data); ; {
			_, after, ok := strings.Cut(rest, "```yaml\n")
			if !ok {
				break
			}
			block, tail, _ := strings.Cut(after, "```")
			rest = tail
			blocks++
			var doc struct {
				Auth        *Config                    `yaml:"auth"`
				Credentials *UpstreamCredentialsConfig `yaml:"credentials"`
			}
			dec := yaml.NewDecoder(bytes.NewReader([]byte(block)))
			dec.KnownFields(true)
			if err := dec.Decode(&doc); err != nil {
				t.Errorf("%s block %d: %v\n%s", file, blocks, err, block)
				continue
			}
			if doc.Auth == nil && doc.Credentials == nil {
				t.Errorf("%s block %d has neither auth nor credentials", file, blocks)
			}
			if doc.Auth != nil {
				for _, p := range doc.Auth.Validate() {
					t.Errorf("%s block %d: %v", file, blocks, p)
				}
			}
			if doc.Credentials != nil {
				for _, p := range doc.Credentials.Validate() {
					t.Errorf("%s block %d: credentials: %v", file, blocks, p)
				}
			}
		}
		if blocks == 0 {
			t.Errorf("%s has no yaml examples", file)
		}
	}
}

func TestYAMLDurations(t *testing.T) {
	var doc struct {
		Auth Config `yaml:"auth"`
	}
	src := "auth:\n  jwt:\n    issuer: x\n    clock_skew: 0s\n    jwks:\n      url: https://x/jwks\n      refresh_interval: 1h\n  failure_cache_ttl: 2s\n"
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if *doc.Auth.JWT.ClockSkew != 0 || doc.Auth.JWT.JWKS.RefreshInterval != time.Hour || doc.Auth.FailureCacheTTL != 2*time.Second {
		t.Errorf("got skew %v, refresh %v, failure TTL %v", *doc.Auth.JWT.ClockSkew, doc.Auth.JWT.JWKS.RefreshInterval, doc.Auth.FailureCacheTTL)
	}
	bad := "auth:\n  failure_cache_ttl: 5\n"
	dec = yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err == nil {
		t.Error("a bare number was accepted as a duration")
	}
}

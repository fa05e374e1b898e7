package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenEndpoint is a fake OAuth token endpoint that records what it was sent.
type tokenEndpoint struct {
	*httptest.Server
	mu        sync.Mutex
	n         int
	expiresIn any // the expires_in member; nil to leave it out
	status    int
	forms     []url.Values
	basic     [][2]string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{expiresIn: 100, status: http.StatusOK}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("token request: %v", err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.n++
		e.forms = append(e.forms, r.PostForm)
		u, p, _ := r.BasicAuth()
		e.basic = append(e.basic, [2]string{u, p})
		w.Header().Set("Content-Type", "application/json")
		if e.status != http.StatusOK {
			w.WriteHeader(e.status)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret"}`))
			return
		}
		resp := map[string]any{"access_token": fmt.Sprintf("tok-%d", e.n), "token_type": "Bearer"}
		if e.expiresIn != nil {
			resp["expires_in"] = e.expiresIn
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func ccConfig(tokenURL string) UpstreamCredentialsConfig {
	return UpstreamCredentialsConfig{
		Type: UpstreamClientCredentials,
		ClientCredentials: &ClientCredentialsConfig{
			TokenURL:        tokenURL,
			ClientID:        "gatehouse&co",
			ClientSecretEnv: "CC_SECRET",
			Scopes:          []string{"tools:call", "tools:list"},
			Audience:        "https://api.example.com",
			Resource:        "https://upstream.example.com/mcp",
		},
	}
}

func newCreds(t *testing.T, cfg UpstreamCredentialsConfig, clk *clock, env map[string]string) *UpstreamCredentials {
	t.Helper()
	u, err := NewUpstreamCredentials(cfg, Options{Now: clk.Now, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatalf("NewUpstreamCredentials: %v", err)
	}
	return u
}

// apply returns the header value Apply sets on a fresh request.
func apply(t *testing.T, u *UpstreamCredentials, header string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://upstream.example.com/mcp", nil)
	req.Header.Set("Authorization", "Bearer client-token-that-must-not-survive")
	if err := u.Apply(t.Context(), req); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return req.Header.Get(header)
}

func TestUpstreamStaticAndEnv(t *testing.T) {
	clk := newClock()
	static := newCreds(t, UpstreamCredentialsConfig{Type: UpstreamStaticHeader, Header: "X-Upstream-Key", Value: "k-123"}, clk, nil)
	if got := apply(t, static, "X-Upstream-Key"); got != "k-123" {
		t.Errorf("static_header: got %q, want k-123", got)
	}
	env := newCreds(t, UpstreamCredentialsConfig{Type: UpstreamEnv, Env: "UPSTREAM_TOKEN", Prefix: "Bearer "}, clk,
		map[string]string{"UPSTREAM_TOKEN": "env-tok"})
	if got := apply(t, env, "Authorization"); got != "Bearer env-tok" {
		t.Errorf("env: got %q, want the upstream's own token replacing the client's", got)
	}
	if env.Invalidate(httptest.NewRequest(http.MethodGet, "/", nil)) {
		t.Error("Invalidate on an env credential says a retry may help")
	}
	var none *UpstreamCredentials
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := none.Apply(t.Context(), req); err != nil || len(req.Header) != 0 {
		t.Errorf("nil credentials: got %v %v, want nothing added", err, req.Header)
	}
	if _, err := NewUpstreamCredentials(UpstreamCredentialsConfig{Type: UpstreamEnv, Env: "MISSING"}, Options{Getenv: func(string) string { return "" }}); err == nil ||
		!strings.Contains(err.Error(), "MISSING") {
		t.Errorf("got %v, want the unset variable named", err)
	}
}

func TestClientCredentials(t *testing.T) {
	ep := newTokenEndpoint(t)
	clk := newClock()
	u := newCreds(t, ccConfig(ep.URL), clk, map[string]string{"CC_SECRET": "s3cret/+"})

	if got := apply(t, u, "Authorization"); got != "Bearer tok-1" {
		t.Fatalf("got %q, want Bearer tok-1", got)
	}
	// The request: client credentials grant, scopes, audience, resource; the client authenticated
	// with HTTP Basic over the form-encoded id and secret (RFC 6749 §2.3.1).
	form := ep.forms[0]
	for k, want := range map[string]string{"grant_type": "client_credentials", "scope": "tools:call tools:list",
		"audience": "https://api.example.com", "resource": "https://upstream.example.com/mcp"} {
		if got := form.Get(k); got != want {
			t.Errorf("form %s: got %q, want %q", k, got, want)
		}
	}
	if form.Has("client_secret") {
		t.Error("client_secret sent in the body with client_secret_basic")
	}
	if got, want := ep.basic[0], [2]string{"gatehouse%26co", "s3cret%2F%2B"}; got != want {
		t.Errorf("got Basic credentials %q, want %q", got, want)
	}

	// Cached: expires_in 100s, so it is replaced 10s before expiry (a tenth of its lifetime).
	clk.Add(89 * time.Second)
	if got := apply(t, u, "Authorization"); got != "Bearer tok-1" {
		t.Errorf("at 89s: got %q, want the cached tok-1", got)
	}
	if got := ep.count(); got != 1 {
		t.Errorf("at 89s: got %d token requests, want 1", got)
	}
	clk.Add(2 * time.Second)
	if got := apply(t, u, "Authorization"); got != "Bearer tok-2" {
		t.Errorf("at 91s: got %q, want a new token before the old one expires", got)
	}

	// A 401 from the upstream: Invalidate drops the token, the retry gets a new one.
	rejected := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := u.Apply(t.Context(), rejected); err != nil {
		t.Fatal(err)
	}
	if !u.Invalidate(rejected) {
		t.Error("Invalidate says a retry will not help")
	}
	if got := apply(t, u, "Authorization"); got != "Bearer tok-3" {
		t.Errorf("after Invalidate: got %q, want tok-3", got)
	}
	// A late 401 for the old token does not throw away the new one.
	u.Invalidate(rejected)
	if got := apply(t, u, "Authorization"); got != "Bearer tok-3" {
		t.Errorf("after a stale Invalidate: got %q, want tok-3 kept", got)
	}
	if got := ep.count(); got != 3 {
		t.Errorf("got %d token requests, want 3", got)
	}
}

func TestClientCredentialsConcurrent(t *testing.T) {
	ep := newTokenEndpoint(t)
	clk := newClock()
	u := newCreds(t, ccConfig(ep.URL), clk, map[string]string{"CC_SECRET": "s"})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			if err := u.Apply(t.Context(), req); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := ep.count(); got != 1 {
		t.Errorf("got %d token requests for 20 concurrent Applies, want 1", got)
	}
}

func TestClientCredentialsFailures(t *testing.T) {
	ep := newTokenEndpoint(t)
	clk := newClock()
	cfg := ccConfig(ep.URL)
	cfg.ClientCredentials.AuthMethod = "client_secret_post"
	u := newCreds(t, cfg, clk, map[string]string{"CC_SECRET": "s"})

	ep.mu.Lock()
	ep.status = http.StatusUnauthorized
	ep.mu.Unlock()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	err := u.Apply(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("got %v, want the token endpoint's error", err)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("a request got a credential although none could be had")
	}
	if got := ep.forms[0].Get("client_secret"); got != "s" {
		t.Errorf("client_secret_post: got client_secret %q in the form, want s", got)
	}
	// Within the backoff, the failure is answered from memory.
	_ = u.Apply(t.Context(), httptest.NewRequest(http.MethodPost, "/", nil))
	if got := ep.count(); got != 1 {
		t.Errorf("got %d token requests within the failure backoff, want 1", got)
	}
	ep.mu.Lock()
	ep.status, ep.expiresIn = http.StatusOK, nil
	ep.mu.Unlock()
	clk.Add(failureBackoff)
	if got := apply(t, u, "Authorization"); got != "Bearer tok-2" {
		t.Errorf("after recovery: got %q, want tok-2", got)
	}
	// No expires_in: assumed short-lived.
	clk.Add(defaultTokenLifetime)
	if got := apply(t, u, "Authorization"); got != "Bearer tok-3" {
		t.Errorf("after the default lifetime: got %q, want tok-3", got)
	}
}

func TestClientSecretFile(t *testing.T) {
	ep := newTokenEndpoint(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := ccConfig(ep.URL)
	cfg.ClientCredentials.ClientSecretEnv, cfg.ClientCredentials.ClientSecretFile = "", "secret"
	cfg.ResolvePaths(dir)
	u := newCreds(t, cfg, newClock(), nil)
	apply(t, u, "Authorization")
	if got := ep.basic[0][1]; got != "from-file" {
		t.Errorf("got secret %q, want from-file without the newline", got)
	}
}

func TestUpstreamCredentialsValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  UpstreamCredentialsConfig
		want []string // keys of the problems
	}{
		{"none", UpstreamCredentialsConfig{}, nil},
		{"unknown type", UpstreamCredentialsConfig{Type: "kerberos"}, []string{"type"}},
		{"static without value", UpstreamCredentialsConfig{Type: UpstreamStaticHeader}, []string{"value"}},
		{"value on env", UpstreamCredentialsConfig{Type: UpstreamEnv, Env: "X", Value: "v"}, []string{"value"}},
		{"bad header", UpstreamCredentialsConfig{Type: UpstreamStaticHeader, Header: "Bad Header", Value: "v"}, []string{"header"}},
		{"oauth without section", UpstreamCredentialsConfig{Type: UpstreamClientCredentials}, []string{"client_credentials"}},
		{"oauth over http", UpstreamCredentialsConfig{Type: UpstreamClientCredentials, ClientCredentials: &ClientCredentialsConfig{
			TokenURL: "http://idp.example.com/token", ClientID: "c", ClientSecretEnv: "S"}}, []string{"client_credentials.token_url"}},
		{"oauth two secrets", UpstreamCredentialsConfig{Type: UpstreamClientCredentials, ClientCredentials: &ClientCredentialsConfig{
			TokenURL: "https://idp.example.com/token", ClientID: "c", ClientSecretEnv: "S", ClientSecretFile: "f",
			AuthMethod: "private_key_jwt"}}, []string{"client_credentials", "client_credentials.auth_method"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range tc.cfg.Validate() {
				got = append(got, err.(*FieldError).Key)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got problems at %v, want %v (%v)", got, tc.want, tc.cfg.Validate())
			}
		})
	}
}

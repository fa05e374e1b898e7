package auth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

func metadataConfig() Config {
	cfg := jwtConfig("https://idp.example.com/jwks")
	cfg.Resource = ResourceConfig{
		URI:                  testResource,
		AuthorizationServers: []string{"https://idp.example.com/realms/acme", "https://backup-idp.example.com"},
		ScopesSupported:      []string{"mcp:tools", "mcp:resources"},
		Name:                 "Acme MCP gateway",
		Documentation:        "https://docs.example.com/mcp",
	}
	return cfg
}

func TestMetadataHandler(t *testing.T) {
	f := newFixture(t, metadataConfig())
	h := f.a.MetadataHandler()
	want := map[string]any{
		"resource":                 testResource,
		"authorization_servers":    []any{"https://idp.example.com/realms/acme", "https://backup-idp.example.com"},
		"scopes_supported":         []any{"mcp:tools", "mcp:resources"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Acme MCP gateway",
		"resource_documentation":   "https://docs.example.com/mcp",
	}
	for _, path := range []string{WellKnownPath + "/mcp", WellKnownPath} {
		t.Run(path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("got %d, want 200", w.Code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("got Access-Control-Allow-Origin %q, want *", got)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, WellKnownPath + "/other", http.StatusNotFound},
		{http.MethodGet, WellKnownPath + "/mcp/", http.StatusNotFound},
		{http.MethodPost, WellKnownPath, http.StatusMethodNotAllowed},
		{http.MethodOptions, WellKnownPath + "/mcp", http.StatusNoContent},
		{http.MethodHead, WellKnownPath, http.StatusOK},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.want {
			t.Errorf("%s %s: got %d, want %d", tc.method, tc.path, w.Code, tc.want)
		}
	}
}

func TestMetadataWithoutResource(t *testing.T) {
	f := newFixture(t, apiKeyConfig())
	w := httptest.NewRecorder()
	f.a.MetadataHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, WellKnownPath, nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("got %d, want 404 when no resource is configured", w.Code)
	}
	if got := f.a.MetadataURL(); got != "" {
		t.Errorf("got metadata URL %q, want none", got)
	}
}

func TestMetadataURL(t *testing.T) {
	for _, tc := range []struct{ resource, override, want string }{
		{"https://mcp.example.com/mcp", "", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"},
		{"https://mcp.example.com", "", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com/", "", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com:8443/tenants/a/mcp", "", "https://mcp.example.com:8443/.well-known/oauth-protected-resource/tenants/a/mcp"},
		{"http://127.0.0.1:8080/mcp", "", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"},
		{"https://mcp.example.com/mcp", "https://edge.example.com/prm", "https://edge.example.com/prm"},
	} {
		t.Run(tc.resource+" "+tc.override, func(t *testing.T) {
			cfg := metadataConfig()
			cfg.Resource.URI, cfg.Resource.MetadataURL = tc.resource, tc.override
			f := newFixture(t, cfg)
			if got := f.a.MetadataURL(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	const meta = `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	tests := []struct {
		name       string
		cfg        func(*Config)
		err        error
		wantStatus int
		wantHeader string
	}{
		{"no credentials", nil, errMissing(), 401,
			`Bearer ` + meta + `, scope="mcp:tools mcp:resources"`},
		{"invalid token", nil, errInvalid(errors.New("signature: crypto/rsa: verification error")), 401,
			`Bearer ` + meta + `, error="invalid_token", error_description="the access token is invalid", scope="mcp:tools mcp:resources"`},
		{"expired token", nil, errExpiredToken(errors.New("exp")), 401,
			`Bearer ` + meta + `, error="invalid_token", error_description="the access token has expired", scope="mcp:tools mcp:resources"`},
		{"required scopes as the 401 hint", func(c *Config) { c.JWT.RequiredScopes = []string{"mcp:admin"} }, errMissing(), 401,
			`Bearer ` + meta + `, scope="mcp:admin"`},
		{"insufficient scope", func(c *Config) { c.JWT.RequiredScopes = []string{"mcp:admin", "mcp:tools"} }, errScope(errors.New("missing")), 403,
			`Bearer ` + meta + `, error="insufficient_scope", error_description="the access token lacks a required scope", scope="mcp:admin mcp:tools"`},
		{"two credentials", nil, errMultiple(errors.New("2")), 400,
			`Bearer ` + meta + `, error="invalid_request", error_description="the request carries more than one credential"`},
		{"not an *Error", nil, errors.New("boom"), 401,
			`Bearer ` + meta + `, error="invalid_token", error_description="the access token is invalid", scope="mcp:tools mcp:resources"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := metadataConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			f := newFixture(t, cfg)
			w := httptest.NewRecorder()
			f.a.Challenge(w, tc.err)
			if w.Code != tc.wantStatus {
				t.Errorf("got status %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.wantHeader {
				t.Errorf("got WWW-Authenticate\n  %s\nwant\n  %s", got, tc.wantHeader)
			}
			body, _ := io.ReadAll(w.Body)
			var msg struct {
				ID    any `json:"id"`
				Error struct {
					Code int `json:"code"`
					Data struct {
						Reason string `json:"reason"`
					} `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if msg.ID != nil || msg.Error.Data.Reason != "unauthenticated" || msg.Error.Code != jsonrpc.CodeFor("unauthenticated") {
				t.Errorf("got body %s, want a JSON-RPC error with id null and reason unauthenticated", body)
			}
			if strings.Contains(string(body), "crypto") || strings.Contains(string(body), "boom") {
				t.Errorf("body %s leaks the cause", body)
			}
		})
	}
}

// TestChallengeWithoutMetadata: API keys alone have no authorization server to point at.
func TestChallengeWithoutMetadata(t *testing.T) {
	f := newFixture(t, apiKeyConfig())
	if _, got := f.a.ChallengeHeader(errMissing()); got != "Bearer" {
		t.Errorf("got %q, want a bare Bearer challenge", got)
	}
}

func TestParamQuoting(t *testing.T) {
	if got, want := param("x", "a\"b\\c\r\nd"), `x="a\"b\\cd"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestStripCredentials(t *testing.T) {
	in := http.Header{
		"Authorization":        {"Bearer client-token"},
		"Proxy-Authorization":  {"Basic eA=="},
		"Cookie":               {"session=1"},
		"Dpop":                 {"proof"},
		"X-Api-Key":            {"k"},
		"X-Tenant-Key":         {"t"},
		"Accept":               {"application/json, text/event-stream"},
		"Mcp-Protocol-Version": {"2026-07-28"},
	}
	before := in.Clone()
	got := StripCredentials(in, "X-Tenant-Key")
	want := http.Header{"Accept": {"application/json, text/event-stream"}, "Mcp-Protocol-Version": {"2026-07-28"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stripped headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("the input was modified (-before +after):\n%s", diff)
	}
	if got := StripCredentials(nil); got == nil || len(got) != 0 {
		t.Errorf("got %v for nil, want an empty header", got)
	}

	cfg := apiKeyConfig()
	cfg.APIKeys.Header = "X-Gatehouse-Key"
	f := newFixture(t, cfg)
	if got := f.a.StripCredentials(http.Header{"X-Gatehouse-Key": {"k"}, "Accept": {"*/*"}}); len(got) != 1 {
		t.Errorf("got %v, want the configured API-key header stripped", got)
	}
}

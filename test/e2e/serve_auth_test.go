package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// idp is a local identity provider: an RSA key, its JWKS, and a way to mint tokens.
type idp struct {
	key *rsa.PrivateKey
	kid string
	srv *httptest.Server
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, kid: "k1"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": p.kid, "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// token mints a token; header and claims override the defaults.
func (p *idp) token(header, claims map[string]any) string {
	b64 := base64.RawURLEncoding.EncodeToString
	h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": p.kid}
	for k, v := range header {
		h[k] = v
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	if h["alg"] == "none" {
		return input + "."
	}
	sum := sha256.Sum256([]byte(input))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	return input + "." + b64(sig)
}

// TestServeOAuthResourceServer runs gatehouse serve as an OAuth 2.1 resource server in front of a
// recording upstream: bad tokens are refused with WWW-Authenticate, roles from the token decide a
// role-gated tool, and the client's token never reaches the upstream.
func TestServeOAuthResourceServer(t *testing.T) {
	dir := t.TempDir()
	p := newIDP(t)

	// The upstream: the official Go SDK, recording every request's headers.
	var mu sync.Mutex
	var seen []http.Header
	up := mcp.NewServer(&mcp.Implementation{Name: "rec", Version: "1"}, nil)
	type args struct {
		Message string `json:"message"`
	}
	for _, name := range []string{"echo", "secret"} {
		mcp.AddTool(up, &mcp.Tool{Name: name}, func(ctx context.Context, _ *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ": " + in.Message}}}, nil, nil
		})
	}
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		sdk.ServeHTTP(w, r)
	}))
	defer upstream.Close()

	gw := freeAddr(t)
	resource := "http://" + gw + "/mcp"
	policyPath := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyPath, []byte(`
name: roles
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, server/discover, ping, logging/setLevel, tools/list]
    effect: allow
  - id: secret-for-admins
    tools: [secret]
    require_roles: [admin]
    effect: allow
  - id: echo-for-all
    tools: [echo]
    effect: allow
`), 0o644)
	config := fmt.Sprintf(`
listen: %s
admin: {listen: ""}
policy: {rules: %s}
audit: {path: %s}
auth:
  jwt:
    issuer: https://idp.test
    jwks: {url: %s}
    role_claims: [roles]
  resource:
    uri: %s
upstreams:
  - name: rec
    prefix: ""
    url: %s
    credentials: {type: static_header, header: X-Upstream-Key, value: upstream-own-secret}
`, gw, policyPath, filepath.Join(dir, "audit.jsonl"), p.srv.URL, resource, upstream.URL)
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(config), 0o644)
	if out, err := exec.Command(gatehouseBin, "check", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("check --config: %v\n%s", err, out)
	}
	background(t, gw, nil, gatehouseBin, "serve", "--config", cfgPath)

	now := time.Now().Unix()
	claims := func(kv ...any) map[string]any {
		c := map[string]any{"iss": "https://idp.test", "aud": resource, "sub": "agent-7", "exp": now + 600, "iat": now, "roles": []string{"dev"}}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	call := func(token, tool string) (int, http.Header, string) {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"message":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`, tool)
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("MCP-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", tool)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	refusals := []struct{ name, token string }{
		{"no token", ""},
		{"wrong audience", p.token(nil, claims("aud", "https://other.example/mcp"))},
		{"expired", p.token(nil, claims("exp", now-3600, "iat", now-7200))},
		{"alg none", p.token(map[string]any{"alg": "none"}, claims())},
		{"unknown key", p.token(map[string]any{"kid": "not-in-jwks"}, claims())},
		{"wrong issuer", p.token(nil, claims("iss", "https://evil.test"))},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			status, h, body := call(r.token, "echo")
			if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `resource_metadata="`) {
				t.Errorf("status %d, WWW-Authenticate %q, body %s; want 401 with resource_metadata", status, h.Get("WWW-Authenticate"), body)
			}
		})
	}
	resp, err := http.Get("http://" + gw + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(meta), resource) || !strings.Contains(string(meta), "https://idp.test") {
		t.Errorf("protected resource metadata: %d %s", resp.StatusCode, meta)
	}

	dev := p.token(nil, claims())
	if status, _, body := call(dev, "echo"); status != 200 || !strings.Contains(body, "echo: hi") {
		t.Errorf("good token, echo: %d %s", status, body)
	}
	if status, _, body := call(dev, "secret"); status != http.StatusForbidden || !strings.Contains(body, "policy_deny") {
		t.Errorf("role dev calling secret: %d %s, want 403 policy_deny", status, body)
	}
	admin := p.token(nil, claims("roles", []string{"admin"}))
	if status, _, body := call(admin, "secret"); status != 200 || !strings.Contains(body, "secret: hi") {
		t.Errorf("role admin calling secret: %d %s", status, body)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the upstream saw nothing")
	}
	for _, h := range seen {
		if h.Get("Authorization") != "" {
			t.Errorf("an Authorization header reached the upstream: %q", h.Get("Authorization"))
		}
		if h.Get("X-Upstream-Key") != "upstream-own-secret" {
			t.Errorf("the upstream's own credential was not sent: %v", h)
		}
	}
}

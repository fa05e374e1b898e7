package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/adminui"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
)

// lockedBuffer is a bytes.Buffer that serve's logger and the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is a `gatehouse serve` running in-process.
type served struct {
	mcp, admin string // host:port
	dir        string // the configuration's directory
	logs       *lockedBuffer
	// stop shuts serve down and waits for it (at most 20 s); the test's cleanup calls it too.
	stop func()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs serve with the configuration body (formatted with the MCP and admin addresses and
// the configuration's directory) until the test ends.
func startServe(t *testing.T, body string, env ...string) *served {
	t.Helper()
	return startServeTo(t, io.Discard, body, env...)
}

// startServeTo is startServe with serve's standard output written to out.
func startServeTo(t *testing.T, out io.Writer, body string, env ...string) *served {
	t.Helper()
	s := &served{mcp: freeAddr(t), admin: freeAddr(t), dir: t.TempDir(), logs: &lockedBuffer{}}
	path := filepath.Join(s.dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(body, s.mcp, s.admin, s.dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &serveParams{configFile: path}, streams{out: out, err: s.logs, env: env})
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("serve did not stop:\n%s", s.logs)
			}
		})
	}
	t.Cleanup(s.stop)
	for i := 0; i < 200; i++ {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, s.logs)
		default:
		}
		if c, err := net.Dial("tcp", s.mcp); err == nil {
			c.Close()
			return s
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve did not listen on %s:\n%s", s.mcp, s.logs)
	return nil
}

// do sends one request and returns the response with its body read.
func do(t *testing.T, method, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// modernCall is a 2026-07-28 tools/call of tool with arguments.
func modernCall(t *testing.T, url, tool string, args map[string]any) (*http.Response, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{
		"name": tool, "arguments": args,
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}}})
	return do(t, http.MethodPost, url, string(body), map[string]string{"Content-Type": "application/json",
		"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
}

// serveBase is a serve configuration in front of the built-in file tools, formatted by startServe.
var serveBase = `
listen: %[1]s
admin:
  listen: %[2]s
policy:
  rules: ` + repo("examples", "policies", "allow-all.yaml") + `
audit:
  path: %[3]s/audit.jsonl
tenancy:
  enabled: true
  default: default
upstreams:
  - name: fs
    builtin: fs
    fs:
      data_root: %[3]s/data
`

// With MCP_ENABLED=false the MCP endpoint answers 503 with Retry-After, on every path it is mounted
// at, while the admin listener keeps answering and says why it is not ready.
func TestServeWithMCPDisabled(t *testing.T) {
	s := startServe(t, serveBase, "MCP_ENABLED=false")
	for _, path := range []string{"/mcp", "/e/acme/mcp"} {
		resp, body := modernCall(t, "http://"+s.mcp+path, "fs.list", map[string]any{"path": "."})
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "60" {
			t.Errorf("%s: %d Retry-After %q, want 503 and 60", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		var m struct {
			Error struct{ Message string }
		}
		if json.Unmarshal([]byte(body), &m); !strings.Contains(m.Error.Message, "MCP_ENABLED=false") {
			t.Errorf("%s: body %s, want a JSON-RPC error naming MCP_ENABLED=false", path, body)
		}
	}
	if resp, body := do(t, http.MethodGet, "http://"+s.admin+"/healthz", "", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", resp.StatusCode, body)
	}
	_, body := do(t, http.MethodGet, "http://"+s.admin+"/readyz", "", nil)
	var ready map[string]any
	if json.Unmarshal([]byte(body), &ready); ready["ready"] != false || ready["mcp_enabled"] != false {
		t.Errorf("/readyz: %s, want ready and mcp_enabled false", body)
	}
}

// The configured message limit bounds the built-in file tools' answers (SPEC §8.5): a file whose
// answer exceeds limits.max_message_mb is refused payload_too_large, and none of it is returned.
func TestServeBoundsBuiltinToolAnswers(t *testing.T) {
	s := startServe(t, serveBase+"limits:\n  max_message_mb: 1\n")
	dir := filepath.Join(s.dir, "data", "default")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "small.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "big.txt"), bytes.Repeat([]byte("A"), 2<<20), 0o644)
	if resp, body := modernCall(t, "http://"+s.mcp+"/mcp", "fs.read", map[string]any{"path": "small.txt"}); resp.StatusCode != 200 || !strings.Contains(body, "hello") {
		t.Errorf("fs.read of a small file: %d %.300s", resp.StatusCode, body)
	}
	resp, body := modernCall(t, "http://"+s.mcp+"/mcp", "fs.read", map[string]any{"path": "big.txt"})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"reason":"payload_too_large"`) || strings.Contains(body, "AAAA") {
		t.Errorf("fs.read of a 2 MiB file with a 1 MiB limit: %d %.300s, want 413 payload_too_large without the content", resp.StatusCode, body)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "configuration warning") || !strings.Contains(logs, "upstreams[0].fs.max_file_mb") {
		t.Errorf("start-up did not warn that 10 MiB files cannot fit in 1 MiB messages:\n%s", logs)
	}
}

// securityHeaders are the headers every admin answer carries, whatever its status (SPEC §8.7).
var securityHeaders = map[string]string{
	"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "DENY",
	"Referrer-Policy":           "no-referrer",
	"Cache-Control":             "no-store",
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains", // sent with or without TLS
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range securityHeaders {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s is %q, want %q", what, k, got, want)
		}
	}
}

// The admin listener refuses foreign Hosts on loopback and cross-origin browser requests anywhere
// (DNS rebinding), before the token and on every path; loopback requests still work; every answer,
// refusals included, carries the security headers.
func TestAdminHandlerRefusesForeignHostsAndOrigins(t *testing.T) {
	sum := sha256.Sum256([]byte("admin-secret"))
	token := hex.EncodeToString(sum[:])
	const bearer = "Bearer admin-secret"
	for _, c := range []struct {
		name, listen, token     string
		method, path            string
		host, origin, auth      string
		status                  int
		reachesAPI, refusedHost bool
		origins                 []string
	}{
		{name: "loopback IPv4 with port", listen: "127.0.0.1:9090", method: "GET", path: "/healthz", host: "127.0.0.1:9090", status: 200},
		{name: "localhost", listen: "127.0.0.1:9090", method: "GET", path: "/readyz", host: "localhost:9090", status: 200},
		{name: "localhost without port", listen: "127.0.0.1:9090", method: "GET", path: "/metrics", host: "localhost", status: 200},
		{name: "IPv6 loopback", listen: "[::1]:9090", method: "GET", path: "/healthz", host: "[::1]:9090", status: 200},
		{name: "another 127/8 address", listen: "127.0.0.1:9090", method: "GET", path: "/healthz", host: "127.0.0.2:9090", status: 200},
		{name: "loopback origin", listen: "127.0.0.1:9090", method: "PUT", path: "/admin/v1/engagements/default/allowlist", host: "127.0.0.1:9090",
			origin: "http://localhost:3000", status: 200, reachesAPI: true},
		{name: "admin API from loopback", listen: "127.0.0.1:9090", method: "PUT", path: "/admin/v1/engagements/default/allowlist", host: "127.0.0.1:9090",
			status: 200, reachesAPI: true},
		{name: "rebound name on the admin API", listen: "127.0.0.1:9090", method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "evil.example.com", status: 403},
		{name: "rebound name on /healthz", listen: "127.0.0.1:9090", method: "GET", path: "/healthz", host: "evil.example.com:9090", status: 403},
		{name: "rebound name on /readyz", listen: "127.0.0.1:9090", method: "GET", path: "/readyz", host: "evil.example.com:9090", status: 403},
		{name: "rebound name on /metrics", listen: "127.0.0.1:9090", method: "GET", path: "/metrics", host: "evil.example.com:9090", status: 403},
		{name: "a name that starts like a loopback address", listen: "127.0.0.1:9090", method: "GET", path: "/healthz",
			host: "127.0.0.1.evil.example.com", status: 403},
		{name: "localhost subdomain of a foreign name", listen: "localhost:9090", method: "GET", path: "/healthz", host: "localhost.evil.example.com:9090", status: 403},
		{name: "cross-origin browser request", listen: "127.0.0.1:9090", method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "127.0.0.1:9090", origin: "http://evil.example.com", status: 403},
		{name: "opaque origin", listen: "127.0.0.1:9090", method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "127.0.0.1:9090", origin: "null", status: 403},
		{name: "foreign host is refused before the token is asked", listen: "127.0.0.1:9090", token: token, method: "GET", path: "/metrics",
			host: "evil.example.com", status: 403},
		{name: "no token", listen: "127.0.0.1:9090", token: token, method: "GET", path: "/admin/v1/engagements/default/allowlist",
			host: "127.0.0.1:9090", status: 401},
		{name: "token", listen: "127.0.0.1:9090", token: token, method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "127.0.0.1:9090", auth: bearer, status: 200, reachesAPI: true},
		{name: "any Host on a non-loopback listener", listen: "0.0.0.0:9090", token: token, method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "gatehouse.internal:9090", auth: bearer, status: 200, reachesAPI: true},
		{name: "cross-origin request to a non-loopback listener", listen: "0.0.0.0:9090", token: token, method: "PUT", path: "/admin/v1/engagements/default/allowlist",
			host: "gatehouse.internal:9090", origin: "https://evil.example.com", auth: bearer, status: 403},
		{name: "the admin page's own origin on a non-loopback listener", listen: "0.0.0.0:9090", token: token, method: "PUT",
			path: "/admin/v1/engagements/default/allowlist", host: "gatehouse.internal:9090", origin: "http://gatehouse.internal:9090", auth: bearer,
			status: 200, reachesAPI: true},
		{name: "own origin without the token", listen: "0.0.0.0:9090", token: token, method: "PUT",
			path: "/admin/v1/engagements/default/allowlist", host: "gatehouse.internal:9090", origin: "http://gatehouse.internal:9090", status: 401},
		{name: "own origin over https, TLS ended by a proxy", listen: "0.0.0.0:9090", token: token, method: "PUT",
			path: "/admin/v1/engagements/default/allowlist", host: "gatehouse.internal:9090", origin: "https://gatehouse.internal:9090", auth: bearer,
			status: 200, reachesAPI: true},
		{name: "another port is another origin", listen: "0.0.0.0:9090", token: token, method: "PUT",
			path: "/admin/v1/engagements/default/allowlist", host: "gatehouse.internal:9090", origin: "http://gatehouse.internal:8080", auth: bearer, status: 403},
		{name: "an allowed origin through a proxy to a loopback listener", listen: "127.0.0.1:9090", token: token, origins: []string{"https://gatehouse.example.com"},
			method: "PUT", path: "/admin/v1/engagements/default/allowlist", host: "127.0.0.1:9090", origin: "https://gatehouse.example.com", auth: bearer,
			status: 200, reachesAPI: true},
		{name: "an allowed origin does not lift the Host rule", listen: "127.0.0.1:9090", token: token, origins: []string{"https://gatehouse.example.com"},
			method: "PUT", path: "/admin/v1/engagements/default/allowlist", host: "gatehouse.example.com", origin: "https://gatehouse.example.com", auth: bearer, status: 403},
		{name: "an origin not allowed", listen: "127.0.0.1:9090", token: token, origins: []string{"https://gatehouse.example.com"},
			method: "PUT", path: "/admin/v1/engagements/default/allowlist", host: "127.0.0.1:9090", origin: "https://evil.example.com", auth: bearer, status: 403},
		{name: "a rebound name's own origin on a loopback listener", listen: "127.0.0.1:9090", token: token, method: "GET", path: "/admin/ui/",
			host: "evil.example.com:9090", origin: "http://evil.example.com:9090", status: 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.DefaultServe()
			cfg.Admin.Listen, cfg.Admin.TokenSHA256, cfg.Admin.AllowedOrigins = c.listen, c.token, c.origins
			reached := false
			api := func(mux *http.ServeMux) {
				mux.HandleFunc("/admin/v1/engagements/{id}/allowlist", func(w http.ResponseWriter, r *http.Request) {
					reached = true
					w.Write([]byte(`{"tools":[]}`))
				})
			}
			h := adminHandler(cfg, prometheus.NewRegistry(), func() any { return map[string]any{"ready": true} }, api)
			req, _ := http.NewRequest(c.method, "http://"+c.host+c.path, strings.NewReader(`{"tools":[]}`))
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Errorf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if reached != c.reachesAPI {
				t.Errorf("the admin API was reached: %v, want %v", reached, c.reachesAPI)
			}
			if c.status == 403 && !strings.Contains(rec.Body.String(), "Origin or Host not allowed") {
				t.Errorf("a refusal that does not say why: %s", rec.Body)
			}
			checkSecurityHeaders(t, c.name, rec.Result().Header)
		})
	}
}

// Through a running serve: the admin API refuses a rebound Host and a foreign Origin and leaves the
// allowlist as it was, answers a loopback request, and every answer carries the security headers.
func TestServeAdminListenerRefusesDNSRebinding(t *testing.T) {
	sum := sha256.Sum256([]byte("admin-secret"))
	s := startServe(t, strings.Replace(serveBase, "  listen: %[2]s\n", "  listen: %[2]s\n  token_sha256: "+hex.EncodeToString(sum[:])+"\n", 1))
	url := "http://" + s.admin + "/admin/v1/engagements/default/allowlist"
	auth := map[string]string{"Authorization": "Bearer admin-secret"}
	put := func(extra map[string]string) *http.Response {
		h := map[string]string{"Authorization": "Bearer admin-secret", "Content-Type": "application/json"}
		for k, v := range extra {
			h[k] = v
		}
		resp, _ := do(t, http.MethodPut, url, `{"tools":["fs.list"]}`, h)
		return resp
	}
	tools := func() string {
		resp, body := do(t, http.MethodGet, url, "", auth)
		checkSecurityHeaders(t, "GET allowlist", resp.Header)
		var v struct{ Tools []string }
		json.Unmarshal([]byte(body), &v)
		return strings.Join(v.Tools, ",")
	}
	before := tools()
	if before != "fs.read,fs.write,fs.list,search.vector,search.semantic" {
		t.Fatalf("allowlist of default before: %q", before)
	}
	if resp := put(map[string]string{"Host": "evil.example.com"}); resp.StatusCode != 403 {
		t.Errorf("PUT with a rebound Host: %d, want 403", resp.StatusCode)
	} else {
		checkSecurityHeaders(t, "403", resp.Header)
	}
	if resp := put(map[string]string{"Origin": "http://evil.example.com"}); resp.StatusCode != 403 {
		t.Errorf("PUT from a foreign Origin: %d, want 403", resp.StatusCode)
	}
	if got := tools(); got != before {
		t.Errorf("a refused request changed the allowlist to %q", got)
	}
	resp, _ := do(t, http.MethodGet, url, "", nil)
	if resp.StatusCode != 401 {
		t.Errorf("GET without the token: %d, want 401", resp.StatusCode)
	}
	checkSecurityHeaders(t, "401", resp.Header)
	if resp := put(nil); resp.StatusCode != 200 {
		t.Errorf("PUT from loopback: %d, want 200", resp.StatusCode)
	}
	if got := tools(); got != "fs.list" {
		t.Errorf("allowlist after a loopback PUT: %q, want fs.list", got)
	}
}

// check reports a built-in fs upstream whose largest file cannot fit in the message limit as a
// located warning, without failing.
func TestCheckWarnsWhenFilesCannotFitInAMessage(t *testing.T) {
	path := writeFile(t, "serve.yaml", fmt.Sprintf(serveBase, "127.0.0.1:8080", "127.0.0.1:9090", t.TempDir())+"limits:\n  max_message_mb: 1\n")
	code, out, _ := gatehouse(t, "", "check", "--config", path)
	if code != ExitOK || !strings.Contains(out, "warning: "+path+":15: upstreams[0].fs.max_file_mb: (fs): a binary file of 10 MiB") ||
		!strings.Contains(out, "1 warning(s)") {
		t.Errorf("exit %d, want 0 with a located warning:\n%s", code, out)
	}
	code, out, _ = gatehouse(t, "", "check", "--config", path, "--format", "json")
	if code != ExitOK || !strings.Contains(out, `"severity": "warning"`) || !strings.Contains(out, `"line": 15`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	fits := writeFile(t, "serve.yaml", fmt.Sprintf(serveBase, "127.0.0.1:8080", "127.0.0.1:9090", t.TempDir()))
	if code, out, _ := gatehouse(t, "", "check", "--config", fits); code != ExitOK || strings.Contains(out, "warning: ") {
		t.Errorf("default sizes: exit %d, want 0 without warnings:\n%s", code, out)
	}
}

// The admin web page (SPEC §10.3) is served without the token, under its own Content-Security-Policy,
// and nothing else is: the API it calls, and paths beside it, still want the token.
func TestAdminWebPage(t *testing.T) {
	sum := sha256.Sum256([]byte("admin-secret"))
	cfg := config.DefaultServe()
	cfg.Admin.Listen, cfg.Admin.TokenSHA256 = "127.0.0.1:9090", hex.EncodeToString(sum[:])
	h := adminHandler(cfg, prometheus.NewRegistry(), func() any { return map[string]any{"ready": true} }, approvalAPI(nil, true, nil, nil).Register)
	get := func(method, path string) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "http://127.0.0.1:9090"+path, nil))
		return rec.Result()
	}
	for path, ctype := range map[string]string{"/admin/ui/": "text/html", "/admin/ui/app.js": "text/javascript", "/admin/ui/app.css": "text/css"} {
		resp := get(http.MethodGet, path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("GET %s without the token: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != adminui.CSP || strings.Contains(got, "unsafe") {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		for _, k := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cache-Control"} {
			if resp.Header.Get(k) != securityHeaders[k] {
				t.Errorf("GET %s: %s is %q", path, k, resp.Header.Get(k))
			}
		}
	}
	for _, path := range []string{"/admin", "/admin/", "/admin/ui"} {
		if resp := get(http.MethodGet, path); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/admin/ui/" {
			t.Errorf("GET %s: %d to %q, want a redirect to the page", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/admin/v1/approvals"},
		{http.MethodGet, "/admin/ui/missing.js"},
		{http.MethodGet, "/admin/ui/app.js/"},
		{http.MethodPost, "/admin/ui/"},
		{http.MethodGet, "/metrics"},
	} {
		if resp := get(c.method, c.path); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", c.method, c.path, resp.StatusCode)
		}
	}
}

// TestReadyzWithoutTheToken: a probe that cannot send the admin token (Kubernetes' httpGet) gets
// /readyz's status and nothing more; a wrong token is still refused, the right one gets the detail,
// and every other path still needs it.
func TestReadyzWithoutTheToken(t *testing.T) {
	sum := sha256.Sum256([]byte("admin-secret"))
	cfg := config.DefaultServe()
	cfg.Admin.Listen, cfg.Admin.TokenSHA256 = "0.0.0.0:9090", hex.EncodeToString(sum[:])
	ready := true
	h := adminHandler(cfg, prometheus.NewRegistry(), func() any {
		return map[string]any{"ready": ready, "problems": []string{}, "policy": map[string]any{"bundle": "https://policy.internal/b.tar.gz?sig=s3cret"}}
	})
	get := func(path, auth string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://gatehouse.internal:9090"+path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := get("/readyz", ""); code != 200 || body != "{\"ready\": true}\n" {
		t.Errorf("ready, no token: %d %q", code, body)
	}
	ready = false
	if code, body := get("/readyz", ""); code != 503 || body != "{\"ready\": false}\n" {
		t.Errorf("not ready, no token: %d %q", code, body)
	}
	if code, _ := get("/readyz", "Bearer wrong"); code != 401 {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	if code, body := get("/readyz", "Bearer admin-secret"); code != 503 || !strings.Contains(body, "policy.internal") {
		t.Errorf("the token: %d %q, want the detail", code, body)
	}
	for _, path := range []string{"/metrics", "/admin/v1/approvals"} {
		if code, _ := get(path, ""); code != 401 {
			t.Errorf("%s without the token: %d, want 401", path, code)
		}
	}
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/ratelimit"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
	upstreamhttp "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

const servePolicy = `
name: serve-test
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, server/discover, ping, logging/setLevel, tools/list, prompts/list, resources/list, resources/templates/list]
    effect: allow
  - id: no-secrets
    tools: [files.secret]
    effect: deny
    reason: secrets stay put
  - id: bounded-add
    tools: [calc.add]
    when: {field: a, op: gt, value: 1000}
    effect: deny
    code: validation_failed
    reason: a must be at most 1000
  - id: the-rest
    tools: [files.echo, calc.add]
    effect: allow
  - id: reads
    methods: [resources/read]
    effect: allow
`

// recorder is an upstream MCP server built with the official Go SDK, which records the headers of
// every request it receives.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
	methods []string // of every JSON-RPC message received
	srv     *httptest.Server
}

func (r *recorder) calls(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.methods {
		if m == method {
			n++
		}
	}
	return n
}

func (r *recorder) seen() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

type echoArgs struct {
	Message string `json:"message"`
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func newRecorder(t *testing.T, name string, setup func(*mcp.Server)) *recorder {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	setup(s)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct{ Method string }
		json.Unmarshal(body, &m)
		rec.mu.Lock()
		rec.headers = append(rec.headers, r.Header.Clone())
		rec.methods = append(rec.methods, m.Method)
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

type serveHarness struct {
	url     string
	files   *recorder
	calc    *recorder
	audit   string
	writer  *auditlog.Writer
	handler *streamable.Handler
	backend *Server
}

// newServeHarness starts gatehouse serve in front of two SDK upstreams; tweak adjusts the gateway's
// options before it is built.
func newServeHarness(t *testing.T, opts ServeOptions, tweak ...func(*Options, *streamable.Config)) *serveHarness {
	t.Helper()
	files := newRecorder(t, "files", func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Echo: " + in.Message}}}, nil, nil
		})
		mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "secret"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "THE SECRET"}}}, nil, nil
		})
		s.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "from files"}}}, nil
		})
	})
	calc := newRecorder(t, "calc", func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "add"}, func(ctx context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})
		s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "calc://result/{n}", Name: "result"}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "from calc"}}}, nil
		})
	})
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	pol, err := rules.Load("p.yaml", []byte(servePolicy))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: auditPath, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	gopts := Options{
		Identity: identity.Transport{},
		Engines:  []*engine.Stage{enforcingRules(pol, logger)},
		Fail:     pipeline.FailClosed, Store: state.NewMemory(nil), Recorder: audit.NewRecorder(w, "enforce", logger), Logger: logger,
	}
	hcfg := streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger}
	for _, f := range tweak {
		f(&gopts, &hcfg)
	}
	gw := New(gopts)
	creds := func(_ context.Context, r *http.Request) error {
		r.Header.Set("X-Upstream-Key", "upstream-secret")
		return nil
	}
	opts.Upstreams = []Upstream{
		&HTTPUpstream{UpstreamName: "files", UpstreamPrefix: "files", Client: &upstreamhttp.Client{URL: files.srv.URL, Authorize: creds}},
		&HTTPUpstream{UpstreamName: "calc", UpstreamPrefix: "calc", Client: &upstreamhttp.Client{URL: calc.srv.URL, Authorize: creds}},
	}
	backend, err := gw.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := streamable.New(hcfg, backend)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/e/{engagement}/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); h.Close(); w.Close() })
	return &serveHarness{url: srv.URL, files: files, calc: calc, audit: auditPath, writer: w, handler: h, backend: backend}
}

type anonymousAuth struct{}

// Authenticate names the caller after the X-Test-Caller header, "anonymous" without it.
func (anonymousAuth) Authenticate(_ context.Context, r *http.Request) (*policy.Principal, string, error) {
	if id := r.Header.Get("X-Test-Caller"); id != "" {
		return &policy.Principal{ID: id}, "", nil
	}
	return &policy.Principal{ID: "anonymous"}, "", nil
}
func (anonymousAuth) Challenge(w http.ResponseWriter, _ error) {
	w.WriteHeader(http.StatusUnauthorized)
}

// bearer adds a client credential to every request, which must never reach an upstream.
type bearer struct{ next http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer client-token-must-not-leak")
	return b.next.RoundTrip(r)
}

func connectSDK(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "serve-test", Version: "1"}, nil)
	s, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url,
		HTTPClient: &http.Client{Transport: bearer{http.DefaultTransport}}}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestServeFederationThroughSDKClient(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	s := connectSDK(t, h.url)
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if got := strings.Join(names, ","); got != "files.echo,calc.add" {
		t.Errorf("tools/list = %s, want files.echo,calc.add (namespaced, in upstream order, files.secret hidden)", got)
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "files.echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "Echo: hi" {
		t.Fatalf("files.echo: %v %v", res, err)
	}
	res, err = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc.add", Arguments: map[string]any{"a": 2, "b": 3}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "5" {
		t.Fatalf("calc.add: %v %v", res, err)
	}
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "files.secret"}); err == nil {
		t.Error("files.secret was allowed")
	}
	s.Close()
	for _, rec := range []*recorder{h.files, h.calc} {
		hs := rec.seen()
		if len(hs) == 0 {
			t.Fatal("an upstream saw no requests")
		}
		for _, hd := range hs {
			if strings.Contains(hd.Get("Authorization"), "client-token") {
				t.Fatalf("the client's Authorization reached an upstream: %v", hd)
			}
			if hd.Get("X-Upstream-Key") != "upstream-secret" {
				t.Errorf("upstream credentials missing: %v", hd)
			}
		}
	}
}

// Resources are routed to the upstream that listed them, or whose template matches the URI; a URI
// no upstream has listed is refused rather than guessed.
func TestServeRoutesResourcesByURI(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	s := connectSDK(t, h.url)
	ctx := context.Background()
	if _, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err == nil {
		t.Error("a resource no upstream has listed yet was routed")
	}
	list, err := s.ListResources(ctx, nil)
	if err != nil || len(list.Resources) != 1 || list.Resources[0].URI != "file:///notes.txt" {
		t.Fatalf("resources/list = %+v, %v", list, err)
	}
	tmpl, err := s.ListResourceTemplates(ctx, nil)
	if err != nil || len(tmpl.ResourceTemplates) != 1 {
		t.Fatalf("resources/templates/list = %+v, %v", tmpl, err)
	}
	for uri, want := range map[string]string{"file:///notes.txt": "from files", "calc://result/7": "from calc"} {
		res, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil || len(res.Contents) != 1 || res.Contents[0].Text != want {
			t.Errorf("read %s = %+v, %v; want %q", uri, res, err, want)
		}
	}
	if _, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///elsewhere"}); err == nil || !strings.Contains(err.Error(), "unknown resource") {
		t.Errorf("read of an unlisted URI: %v, want an unknown resource error", err)
	}
}

// post sends one raw JSON-RPC message in the 2026-07-28 era and returns the HTTP status and body.
func post(t *testing.T, url, method string, params any) (int, map[string]any) {
	t.Helper()
	return postAs(t, url, "", "", method, params)
}

// postAs is post by the caller named caller (see anonymousAuth), in the run runID when not empty.
func postAs(t *testing.T, url, caller, runID, method string, params any) (int, map[string]any) {
	t.Helper()
	p, _ := json.Marshal(params)
	var pm map[string]any
	json.Unmarshal(p, &pm)
	if pm == nil {
		pm = map[string]any{}
	}
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	if runID != "" {
		meta["gatehouse/run_id"] = runID
	}
	pm["_meta"] = meta
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": pm})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name, ok := pm["name"].(string); ok {
		req.Header.Set("Mcp-Name", name)
	}
	if caller != "" {
		req.Header.Set("X-Test-Caller", caller)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		raw = []byte(strings.TrimPrefix(lines[len(lines)-1], "data: "))
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: body %q: %v", method, raw, err)
	}
	return resp.StatusCode, out
}

func TestServeRefusalStatuses(t *testing.T) {
	tests := []struct {
		name       string
		opts       ServeOptions
		tool       string
		args       map[string]any
		wantStatus int
		wantReason string
		toolError  bool
	}{
		{"deny is 403", ServeOptions{}, "files.secret", nil, 403, "policy_deny", false},
		{"validation is 422", ServeOptions{}, "calc.add", map[string]any{"a": 5000, "b": 1}, 422, "validation_failed", false},
		{"refusal_status ok", ServeOptions{RefusalStatusOK: true}, "files.secret", nil, 200, "policy_deny", false},
		{"deny_as tool_error", ServeOptions{DenyAsToolError: true}, "files.secret", nil, 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServeHarness(t, tt.opts)
			status, body := post(t, h.url, "tools/call", map[string]any{"name": tt.tool, "arguments": tt.args})
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%v)", status, tt.wantStatus, body)
			}
			if tt.toolError {
				r, _ := body["result"].(map[string]any)
				if r["isError"] != true || !strings.Contains(fmt.Sprint(r["content"]), "secrets stay put") {
					t.Errorf("deny_as tool_error: %v", body)
				}
				return
			}
			e, _ := body["error"].(map[string]any)
			d, _ := e["data"].(map[string]any)
			if d["reason"] != tt.wantReason {
				t.Errorf("reason = %v, want %s (%v)", d["reason"], tt.wantReason, body)
			}
			for _, hd := range h.files.seen() {
				if hd.Get("Mcp-Name") == "secret" {
					t.Error("the denied call reached the upstream")
				}
			}
		})
	}
}

func TestServeUpstreamDownOthersWork(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	h.calc.srv.Close()
	status, body := post(t, h.url, "tools/call", map[string]any{"name": "calc.add", "arguments": map[string]any{"a": 1, "b": 2}})
	e, _ := body["error"].(map[string]any)
	d, _ := e["data"].(map[string]any)
	if status != http.StatusBadGateway || d["reason"] != "upstream_unavailable" {
		t.Errorf("call to the dead upstream: %d %v, want 502 upstream_unavailable", status, body)
	}
	status, body = post(t, h.url, "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "still"}})
	if status != 200 || !strings.Contains(fmt.Sprint(body["result"]), "Echo: still") {
		t.Errorf("call to the live upstream: %d %v", status, body)
	}
	status, body = post(t, h.url, "tools/list", nil)
	if got := fmt.Sprint(body["result"]); status != 200 || !strings.Contains(got, "files.echo") || strings.Contains(got, "calc.add") {
		t.Errorf("tools/list with one upstream down: %d %v, want files' tools only", status, body)
	}
}

func TestServeAuditsEveryDecision(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	post(t, h.url, "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "a"}})
	post(t, h.url, "tools/call", map[string]any{"name": "files.secret"})
	h.handler.Close()
	h.writer.Close()
	if _, err := auditlog.Verify([]string{h.audit}, auditlog.VerifyOptions{}); err != nil {
		t.Fatalf("audit log does not verify: %v", err)
	}
	recs := readRecords(t, h.audit)
	var echo, secret bool
	for _, r := range recs {
		echo = echo || (r.Tool == "files.echo" && r.Upstream == "files" && r.Effect == "allow" && r.Status == "answered")
		secret = secret || (r.Tool == "files.secret" && r.Effect == "deny" && r.Status == "refused")
	}
	if !echo || !secret {
		t.Errorf("records: %+v", recs)
	}
}

func readRecords(t *testing.T, path string) []auditlog.Record {
	t.Helper()
	data, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Record
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		r, err := auditlog.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == auditlog.TypeDecision {
			out = append(out, *r)
		}
	}
	return out
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// testWriter sends the gateway's log to the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestServeRateLimit(t *testing.T) {
	files := newRecorder(t, "files", func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
		})
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	defer w.Close()
	gw := New(Options{Identity: identity.Transport{}, RateLimits: []ratelimit.Limit{{Scope: ratelimit.ScopeIdentity, Limit: 2, Per: time.Hour}},
		Fail: pipeline.FailClosed, Store: state.NewMemory(nil), Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&HTTPUpstream{UpstreamName: "files", UpstreamPrefix: "", Client: &upstreamhttp.Client{URL: files.srv.URL}}}})
	if err != nil {
		t.Fatal(err)
	}
	hd := streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger}, backend)
	srv := httptest.NewServer(hd)
	defer srv.Close()
	for i := 0; i < 2; i++ {
		if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "x"}}); status != 200 {
			t.Fatalf("call %d: %d %v", i, status, body)
		}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": map[string]any{"name": "echo", "arguments": map[string]any{},
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third call: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestServeHungHTTPUpstreamTimesOut(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer func() { close(release); hung.Close() }()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	defer w.Close()
	gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil),
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&HTTPUpstream{UpstreamName: "hung", UpstreamPrefix: "",
		Client: &upstreamhttp.Client{URL: hung.URL}, Timeout: 300 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger}, backend))
	defer srv.Close()
	start := time.Now()
	status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "anything"})
	e, _ := body["error"].(map[string]any)
	d, _ := e["data"].(map[string]any)
	if status != http.StatusBadGateway || d["reason"] != "upstream_unavailable" {
		t.Errorf("hung upstream: %d %v, want 502 upstream_unavailable", status, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %v, want about the 300ms timeout", took)
	}
}

// With tenancy on, every call is scoped to its engagement: tools outside its allowlist are hidden
// and refused as cross_tenant, a request naming no engagement is refused, and both are audited as
// attempted violations.
func TestServeEngagementAllowlists(t *testing.T) {
	lists, err := tenancy.Open("", nil, map[string][]string{"acme": {"files.*"}, "globex": {"calc.add"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newServeHarness(t, ServeOptions{}, func(o *Options, c *streamable.Config) {
		o.Allowlists = lists
		c.Tenancy = &tenancy.Resolver{Sources: []tenancy.Source{tenancy.SourcePath}}
	})
	acme := h.url + "/e/acme/mcp"
	_, body := post(t, acme, "tools/list", map[string]any{})
	var names []string
	for _, tool := range body["result"].(map[string]any)["tools"].([]any) {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, ","); got != "files.echo" {
		t.Errorf("acme's tools/list = %s, want files.echo (files.secret denied by policy, calc.add not on the allowlist)", got)
	}
	if status, body := post(t, acme, "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "x"}}); status != 200 || body["error"] != nil {
		t.Errorf("acme files.echo: %d %v", status, body)
	}
	status, body := post(t, acme, "tools/call", map[string]any{"name": "calc.add", "arguments": map[string]any{"a": 1, "b": 2}})
	if d := errData(body); status != http.StatusForbidden || d["reason"] != "cross_tenant" || !strings.Contains(d["detail"].(string), "allowlist") {
		t.Errorf("acme calc.add: %d %v, want 403 cross_tenant", status, body)
	}
	if status, body := post(t, h.url+"/e/globex/mcp", "tools/call", map[string]any{"name": "calc.add", "arguments": map[string]any{"a": 1, "b": 2}}); status != 200 || body["error"] != nil {
		t.Errorf("globex calc.add: %d %v", status, body)
	}
	status, body = post(t, h.url+"/mcp", "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "x"}})
	if d := errData(body); status != http.StatusForbidden || d["reason"] != "cross_tenant" {
		t.Errorf("no engagement: %d %v, want 403 cross_tenant", status, body)
	}
	if n := h.calc.calls("tools/call"); n != 1 {
		t.Errorf("calc upstream saw %d tools/call requests, want 1 (globex's)", n)
	}
	if n := h.files.calls("tools/call"); n != 1 {
		t.Errorf("files upstream saw %d tools/call requests, want 1 (acme's)", n)
	}
	h.writer.Close()
	data, _ := os.ReadFile(h.audit)
	var violations []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r map[string]any
		json.Unmarshal([]byte(line), &r)
		if r["code"] == "cross_tenant" {
			violations = append(violations, fmt.Sprintf("%v %v", r["tenant"], r["tool"]))
		}
	}
	if got := strings.Join(violations, ";"); got != "acme calc.add;<nil> files.echo" {
		t.Errorf("audited violations %q, want acme's calc.add and the engagement-less files.echo", got)
	}
}

func errData(body map[string]any) map[string]any {
	e, _ := body["error"].(map[string]any)
	d, _ := e["data"].(map[string]any)
	if d == nil {
		return map[string]any{}
	}
	return d
}

// An upstream answer over the message limit — a JSON body or one SSE event — is never relayed, in
// whole or in part: the client gets an error and the gateway keeps serving.
func TestServeRefusesOversizeUpstreamAnswers(t *testing.T) {
	const limit = 64 << 10
	big := strings.Repeat("A", 2*limit)
	many := strings.Repeat("0,", 2000) // over MaxTokens: 1000, well under MaxBytes
	answer := func(sse, tokens bool) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m struct{ ID json.RawMessage }
			json.NewDecoder(r.Body).Decode(&m)
			body := `{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"resultType":"complete","content":[{"type":"text","text":"` + big + `"}]}}`
			if tokens {
				body = `{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"resultType":"complete","content":[{"type":"text","text":"AAAA"}],"structuredContent":{"z":[` + many + `0]}}}`
			}
			if sse {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: "+body+"\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
	}
	// call makes one call through a gateway in front of up, with limits on both sides.
	call := func(up *httptest.Server, limits jsonrpc.Limits) (int, map[string]any, string) {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
		defer w.Close()
		gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil), Limits: limits,
			Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
		backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&HTTPUpstream{UpstreamName: "big", UpstreamPrefix: "",
			Client: &upstreamhttp.Client{URL: up.URL, Limits: limits}}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger, Limits: limits}, backend))
		defer srv.Close()
		status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "anything"})
		raw, _ := json.Marshal(body)
		return status, body, string(raw)
	}
	for _, sse := range []bool{false, true} {
		up := answer(sse, false)
		defer up.Close()
		status, body, raw := call(up, jsonrpc.Limits{MaxBytes: limit})
		if body["error"] == nil || strings.Contains(raw, "AAAA") {
			t.Errorf("sse=%v: oversize answer relayed: %d %.200s", sse, status, raw)
		}
		if d := errData(body); d["reason"] != "upstream_unavailable" && d["reason"] != "payload_too_large" {
			t.Errorf("sse=%v: reason %v, want upstream_unavailable or payload_too_large", sse, d["reason"])
		}
		// An answer over limits.max_tokens is refused payload_too_large (413), as an in-process or
		// stdio upstream's is.
		up = answer(sse, true)
		defer up.Close()
		status, body, raw = call(up, jsonrpc.Limits{MaxBytes: limit, MaxTokens: 1000})
		if d := errData(body); status != http.StatusRequestEntityTooLarge || d["reason"] != "payload_too_large" || strings.Contains(raw, "AAAA") {
			t.Errorf("sse=%v: answer of 2,000+ tokens: HTTP %d %.300s, want 413 payload_too_large", sse, status, raw)
		}
	}
}

// A stdio server whose answer is over the message limit fails that call at once with
// payload_too_large (413), instead of leaving the client to wait for the request timeout; the
// server keeps serving.
func TestServeStdioOversizeAnswerFailsTheCallAtOnce(t *testing.T) {
	const limit = 64 << 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	limits := jsonrpc.Limits{MaxBytes: limit, MaxTokens: 1000}
	proc := upstream.NewStdio(upstream.StdioConfig{Name: "peer", Command: []string{testpeer.Binary(t)}, MaxFrame: limit, Logger: logger})
	su, err := NewStdioUpstream(ctx, "peer", "", proc, limits, logger)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	defer w.Close()
	gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil), Limits: limits,
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{su}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger, Limits: limits}, backend))
	defer srv.Close()
	start := time.Now()
	status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "big", "arguments": map[string]any{"bytes": 2 * limit}})
	if d := errData(body); status != http.StatusRequestEntityTooLarge || d["reason"] != "payload_too_large" || time.Since(start) > 10*time.Second {
		t.Errorf("oversize answer: HTTP %d %v after %s, want 413 payload_too_large at once", status, body, time.Since(start))
	}
	if raw, _ := json.Marshal(body); strings.Contains(string(raw), "xxxx") {
		t.Error("the oversize answer was relayed")
	}
	if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "still here"}}); status != 200 || body["result"] == nil {
		t.Errorf("echo after the oversize answer: HTTP %d %v", status, body)
	}
	// limits.max_tokens bounds answers and requests as the size limit does.
	if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "many", "arguments": map[string]any{"tokens": 2000}}); status != http.StatusRequestEntityTooLarge || errData(body)["reason"] != "payload_too_large" {
		t.Errorf("answer of 2,000+ tokens: HTTP %d %v, want 413 payload_too_large", status, body)
	}
	if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "MANY", "x": make([]int, 2000)}}); status != http.StatusRequestEntityTooLarge || errData(body)["reason"] != "payload_too_large" {
		t.Errorf("request of 2,000+ tokens: HTTP %d %v, want 413 payload_too_large", status, body)
	}
	if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "many", "arguments": map[string]any{"tokens": 900}}); status != 200 || body["result"] == nil {
		t.Errorf("answer of some 900 tokens: HTTP %d %v", status, body)
	}
}

// A legacy client that does not read its GET stream holds up no one else on a shared stdio server:
// the server's notifications wait in that stream's own queue, the calls of other clients go on,
// and the stream ends once its queue is full.
func TestServeStdioListenerThatDoesNotReadHoldsUpNoOne(t *testing.T) {
	ctx := t.Context()
	su, srv := stdioServe(t)

	// A stream whose writes block until released, as a socket's do when its client stops reading.
	release := make(chan struct{})
	var got sync.WaitGroup
	got.Add(1)
	var once sync.Once
	listenErr := make(chan error, 1)
	go func() {
		listenErr <- su.Listen(ctx, &Link{}, func([]byte) {
			once.Do(got.Done)
			<-release
		})
	}()

	calls := listenerQueue + 20
	done := make(chan string, 1)
	go func() {
		for i := range calls {
			if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "notify"}); status != 200 || body["result"] == nil {
				done <- fmt.Sprintf("notify %d: HTTP %d %v", i, status, body)
				return
			}
		}
		if status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "still here"}}); status != 200 || body["result"] == nil {
			done <- fmt.Sprintf("echo: HTTP %d %v", status, body)
			return
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the calls of other clients are held up by a stream nobody reads")
	}
	got.Wait()
	close(release)
	select {
	case err := <-listenErr:
		if !errors.Is(err, ErrListenerBehind) {
			t.Errorf("Listen: %v, want ErrListenerBehind", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream that fell behind did not end")
	}
}

// A progress notification or server request offered to a call's stream never takes the slot its
// answer needs.
func TestStdioCallOfferKeepsASlotForTheAnswer(t *testing.T) {
	c := &stdioCall{ch: make(chan *jsonrpc.Message, 4)}
	n := 0
	for c.offer(&jsonrpc.Message{}) {
		n++
	}
	if n != 3 {
		t.Fatalf("offered %d, want 3 of 4 slots", n)
	}
	select {
	case c.ch <- &jsonrpc.Message{}:
	default:
		t.Fatal("no slot left for the answer")
	}
}

// An HTTP upstream that never answers the DELETE ending a session holds up neither the expiry of
// other sessions nor anything else: sessions still expire on time.
func TestSessionsExpireWhileAnUpstreamHangsOnDelete(t *testing.T) {
	release := make(chan struct{})
	var deletes sync.WaitGroup
	deletes.Add(1)
	var first sync.Once
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			first.Do(deletes.Done)
			<-release
			return
		case http.MethodGet:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var m struct {
			ID json.RawMessage `json:"id"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &m)
		if m.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "up-"+string(m.ID))
		w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"u","version":"1"}}}`))
	}))
	defer up.Close()
	defer close(release)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	defer w.Close()
	gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil),
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&HTTPUpstream{UpstreamName: "u", Client: &upstreamhttp.Client{URL: up.URL, HTTP: upstreamhttp.DefaultHTTPClient()}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger, SessionIdle: 200 * time.Millisecond}, backend)
	srv := httptest.NewServer(h)
	defer srv.Close()
	open := func() {
		init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(init))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Mcp-Session-Id") == "" {
			t.Fatalf("initialize: HTTP %d, no session", resp.StatusCode)
		}
	}
	open()
	deletes.Wait() // the first session expired, and its DELETE hangs
	for range 5 {
		open()
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Sessions().Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.Sessions().Len(); n != 0 {
		t.Errorf("%d sessions outlived their 200ms idle limit while an upstream hangs on DELETE", n)
	}
}

// A shared stdio server's requests waiting for a client's answer are bounded: beyond
// maxServerRequests the server is answered with an error at once.
func TestServeStdioServerRequestsWaitingAreBounded(t *testing.T) {
	su, srv := stdioServe(t)
	su.mu.Lock()
	for i := range maxServerRequests { // requests other clients never answered
		su.serverReqs[fmt.Sprintf("waiting-%d", i)] = jsonrpc.StringID("x")
	}
	su.mu.Unlock()
	// The server's sampling request is refused, so the tool reports an (empty) answer at once
	// instead of waiting 10 s for one.
	start := time.Now()
	status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "sample"})
	if got := fmt.Sprint(body["result"]); status != 200 || !strings.Contains(got, "client answered") || time.Since(start) > 5*time.Second {
		t.Errorf("sample with the waiting requests at the bound: HTTP %d %v after %s", status, body, time.Since(start))
	}
}

// The server's requests waiting for a client's answer are forgotten when the client's call ends:
// unanswered, they would otherwise fill the bound and shut the feature off for every client.
func TestServeStdioServerRequestsEndWithTheirCall(t *testing.T) {
	ctx := t.Context()
	su, srv := stdioServe(t)
	waiting := func() int {
		su.mu.Lock()
		defer su.mu.Unlock()
		return len(su.serverReqs)
	}
	callCtx, hangUp := context.WithCancel(ctx)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sample","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(callCtx, http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "sample")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d server requests waiting", what, waiting())
			}
		}
	}
	eventually("the sampling request never reached the client", func() bool { return waiting() == 1 })
	hangUp() // the client goes away without answering
	eventually("the request outlived its call", func() bool { return waiting() == 0 })
}

// stdioServe serves the test peer as a shared stdio upstream behind gatehouse serve, until the test
// ends.
func stdioServe(t *testing.T) (*StdioUpstream, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	proc := upstream.NewStdio(upstream.StdioConfig{Name: "peer", Command: []string{testpeer.Binary(t)}, Logger: logger})
	su, err := NewStdioUpstream(ctx, "peer", "", proc, jsonrpc.Limits{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	t.Cleanup(func() { w.Close() })
	gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil),
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{su}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger}, backend))
	t.Cleanup(srv.Close)
	return su, srv
}

const killAndBudgetPolicy = `
name: kill-and-budget
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, tools/list]
    effect: allow
  - id: tripwire
    tools: [files.secret]
    effect: kill_session
    reason: tripwire
  - id: adds
    tools: [calc.add]
    effect: allow
    budget: {field: a, limit: 10, scope: session}
  - id: echo
    tools: [files.echo]
    effect: allow
`

// withRules is a newServeHarness tweak that decides with the rules policy pol.
func withRules(t *testing.T, pol string) func(*Options, *streamable.Config) {
	return func(o *Options, _ *streamable.Config) {
		p, err := rules.Load("p.yaml", []byte(pol))
		if err != nil {
			t.Fatal(err)
		}
		o.Engines = []*engine.Stage{enforcingRules(p, o.Logger)}
	}
}

// A 2026-07-28 request has no session. Its kill_session disables its caller's agent and its session
// budget is counted per agent: never shared by every stateless caller (as when such requests all
// carried one placeholder session id), and never moved to a run the client names, which it could
// change at will or name to reach another caller.
func TestServeStatelessKillAndBudgetStayWithTheirCaller(t *testing.T) {
	h := newServeHarness(t, ServeOptions{}, withRules(t, killAndBudgetPolicy))
	reason := func(body map[string]any) any { return errData(body)["reason"] }
	call := func(caller, run, tool string, args map[string]any) (int, map[string]any) {
		t.Helper()
		return postAs(t, h.url, caller, run, "tools/call", map[string]any{"name": tool, "arguments": args})
	}

	for _, caller := range []string{"alice", "bob"} {
		if status, body := call(caller, "", "calc.add", map[string]any{"a": 8, "b": 0}); status != 200 {
			t.Fatalf("%s's first add: %d %v", caller, status, body)
		}
	}
	if _, body := call("alice", "", "calc.add", map[string]any{"a": 8, "b": 0}); reason(body) != "budget_exceeded" {
		t.Errorf("alice's second add: %v, want budget_exceeded", body)
	}
	if _, body := call("alice", "run-1", "calc.add", map[string]any{"a": 8, "b": 0}); reason(body) != "budget_exceeded" {
		t.Errorf("alice's add in a run she names: %v, want budget_exceeded (a run does not escape the budget)", body)
	}

	if _, body := call("mallory", "run-1", "files.secret", nil); reason(body) != "session_killed" {
		t.Fatalf("the tripwire: %v", body)
	}
	for _, run := range []string{"run-1", "run-2", ""} {
		if _, body := call("mallory", run, "files.echo", map[string]any{"message": "x"}); reason(body) != "session_killed" {
			t.Errorf("mallory in run %q after the tripwire: %v, want session_killed", run, body)
		}
	}
	for _, c := range []struct{ caller, run string }{{"alice", ""}, {"bob", "run-1"}} {
		if status, body := call(c.caller, c.run, "files.echo", map[string]any{"message": "x"}); status != 200 {
			t.Errorf("%s in run %q after mallory was killed: %d %v", c.caller, c.run, status, body)
		}
	}
}

// What was kept for a legacy session (its budget counters, its kill) is dropped when it ends, and
// again once its calls still in flight cannot be any more.
func TestServeEndedSessionLeavesNoState(t *testing.T) {
	was := forgetAgainAfter
	t.Cleanup(func() { forgetAgainAfter = was }) // after the harness's own clean-up, which ends sessions
	forgetAgainAfter = func(*Server) time.Duration { return 200 * time.Millisecond }
	store := state.NewMemory(nil)
	keys := func() int { n, _ := store.Keys(context.Background()); return n }
	h := newServeHarness(t, ServeOptions{}, withRules(t, killAndBudgetPolicy), func(o *Options, _ *streamable.Config) { o.Store = store })
	for _, kill := range []bool{false, true} {
		s := connectSDK(t, h.url)
		if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc.add", Arguments: map[string]any{"a": 8, "b": 0}}); err != nil {
			t.Fatal(err)
		}
		if kill {
			if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "files.secret"}); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("the tripwire: %v", err)
			}
		}
		if n := keys(); n != 1 {
			t.Fatalf("keys during the session = %d, want its budget counter", n)
		}
		kills, _ := store.Kills(context.Background())
		if len(kills) != map[bool]int{false: 0, true: 1}[kill] {
			t.Fatalf("kills during the session: %v", kills)
		}
		s.Close() // DELETE
		deadline := time.Now().Add(5 * time.Second)
		for keys() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		left, _ := store.Kills(context.Background())
		if n := keys(); n != 0 || len(left) != 0 {
			t.Errorf("after the session ended: %d keys, kills %v; want none", n, left)
		}
		if kill {
			// A call of the session still in flight kills it after it ended: forgotten again later.
			store.Kill(context.Background(), kills[0].Scope, "a late decision")
			time.Sleep(400 * time.Millisecond)
			if left, _ := store.Kills(context.Background()); len(left) != 0 {
				t.Errorf("a late kill of the ended session is still kept: %v", left)
			}
		}
	}
}

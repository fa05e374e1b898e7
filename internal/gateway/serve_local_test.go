package gateway

import (
	"context"
	"encoding/json"
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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
)

// echoTools is a Toolset that echoes the engagement and arguments it was called with, and records
// the decision input it was given.
type echoTools struct {
	mu    sync.Mutex
	calls []string
}

func (e *echoTools) Tools() []LocalTool {
	return []LocalTool{{Name: "read", Definition: json.RawMessage(`{"name":"read","description":"read a file","inputSchema":{"type":"object","properties":{"path":{"type":"string"}}}}`)}}
}

func (e *echoTools) Call(_ context.Context, call LocalCall) (json.RawMessage, error) {
	e.mu.Lock()
	e.calls = append(e.calls, call.Engagement+" "+call.Tool+" "+string(call.Arguments)+" (decided as "+call.Input.Tool.Name+" in "+call.Input.Tenant+")")
	e.mu.Unlock()
	text, _ := json.Marshal(call.Engagement + ":" + string(call.Arguments))
	return json.RawMessage(`{"content":[{"type":"text","text":` + string(text) + `}]}`), nil
}

const localPolicy = `
name: local
version: "1"
default_effect: deny
rules:
  - id: mask-secrets
    tools: [fs.read]
    when: {field: path, op: startswith, value: "secret"}
    effect: patch
    patch:
      path: redacted.txt
  - id: the-rest
    methods: [initialize, ping, server/discover, tools/list, tools/call]
    effect: allow
`

func TestLocalUpstreamServesBothErasThroughThePipeline(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pol, err := rules.Load("p.yaml", []byte(localPolicy))
	if err != nil {
		t.Fatal(err)
	}
	w, err := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lists, _ := tenancy.Open("", nil, nil)
	gw := New(Options{Identity: identity.Transport{}, Allowlists: lists,
		Engines: []*engine.Stage{enforcingRules(pol, logger)},
		Fail:    pipeline.FailClosed, Store: state.NewMemory(nil), Recorder: audit.NewRecorder(w, "enforce", logger), Logger: logger})
	tools := &echoTools{}
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&LocalUpstream{UpstreamName: "fs", UpstreamPrefix: "fs", Tools: tools, Version: "test", PerEngagement: true}}})
	if err != nil {
		t.Fatal(err)
	}
	h := streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger,
		Tenancy: &tenancy.Resolver{Sources: []tenancy.Source{tenancy.SourcePath}, Default: "default"}}, backend)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	mux.Handle("/e/{engagement}/mcp", h)
	srv := httptest.NewServer(mux)
	defer func() { srv.Close(); h.Close() }()

	// Legacy era, through the official SDK client.
	s := connectSDK(t, srv.URL+"/e/acme/mcp")
	list, err := s.ListTools(context.Background(), nil)
	if err != nil || len(list.Tools) != 1 || list.Tools[0].Name != "fs.read" {
		t.Fatalf("tools/list = %+v, %v", list, err)
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "fs.read", Arguments: map[string]any{"path": "notes.txt"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != `acme:{"path":"notes.txt"}` {
		t.Fatalf("fs.read = %+v, %v", res, err)
	}
	// 2026-07-28 era, stateless, in the default engagement; the policy's patch reaches the tool.
	status, body := post(t, srv.URL+"/mcp", "tools/call", map[string]any{"name": "fs.read", "arguments": map[string]any{"path": "secret.key"}})
	result, _ := body["result"].(map[string]any)
	if status != 200 || result["resultType"] != "complete" {
		t.Fatalf("modern tools/call: %d %v", status, body)
	}
	if got := result["content"].([]any)[0].(map[string]any)["text"]; got != `default:{"path":"redacted.txt"}` {
		t.Errorf("the tool saw %v, want the patched arguments in the default engagement", got)
	}
	status, body = post(t, srv.URL+"/mcp", "server/discover", map[string]any{})
	if status != 200 || body["result"].(map[string]any)["resultType"] != "complete" {
		t.Errorf("server/discover: %d %v", status, body)
	}
	status, body = post(t, srv.URL+"/mcp", "tools/list", map[string]any{})
	if status != 200 || body["result"].(map[string]any)["resultType"] != "complete" {
		t.Errorf("modern tools/list: %d %v", status, body)
	}
	status, body = post(t, srv.URL+"/mcp", "tools/call", map[string]any{"name": "fs.nothing", "arguments": map[string]any{}})
	if d := errData(body); d["reason"] != "cross_tenant" {
		t.Errorf("a tool off the allowlist: %d %v", status, body)
	}
	if got := strings.Join(tools.calls, "\n"); got != "acme read {\"path\":\"notes.txt\"} (decided as fs.read in acme)\n"+
		"default read {\"path\":\"redacted.txt\"} (decided as fs.read in default)" {
		t.Errorf("tool calls:\n%s", got)
	}
}

// sizedTools answers read with a text of the size its arguments ask for.
type sizedTools struct{}

func (sizedTools) Tools() []LocalTool {
	return []LocalTool{{Name: "read", Definition: json.RawMessage(`{"name":"read","inputSchema":{"type":"object"}}`)}}
}

func (sizedTools) Call(_ context.Context, call LocalCall) (json.RawMessage, error) {
	var a struct{ Size int }
	json.Unmarshal(call.Arguments, &a)
	return json.RawMessage(`{"content":[{"type":"text","text":"` + strings.Repeat("A", a.Size) + `"}]}`), nil
}

// A built-in tool's result is bounded by the configured message limit like any upstream's answer
// (SPEC §8.5): over it, the call is refused payload_too_large and audited, and none of the result
// reaches the client or the audit log.
func TestLocalUpstreamRefusesResultsOverTheMessageLimit(t *testing.T) {
	const limit = 64 << 10
	logger := slog.New(slog.DiscardHandler)
	auditPath := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: auditPath, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	limits := jsonrpc.Limits{MaxBytes: limit}
	gw := New(Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil), Limits: limits,
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger})
	backend, err := gw.NewServer(ServeOptions{Upstreams: []Upstream{&LocalUpstream{UpstreamName: "fs", UpstreamPrefix: "fs",
		Tools: sizedTools{}, Version: "test", Limits: limits}}})
	if err != nil {
		t.Fatal(err)
	}
	h := streamable.New(streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger, Limits: limits,
		Tenancy: &tenancy.Resolver{Default: "acme"}}, backend)
	srv := httptest.NewServer(h)
	defer func() { srv.Close(); h.Close() }()

	for _, c := range []struct {
		name   string
		size   int
		status int
		reason string
	}{
		{name: "under the limit", size: limit / 2, status: http.StatusOK},
		{name: "over the limit", size: 2 * limit, status: http.StatusRequestEntityTooLarge, reason: "payload_too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := post(t, srv.URL, "tools/call", map[string]any{"name": "fs.read", "arguments": map[string]any{"size": c.size}})
			raw, _ := json.Marshal(body)
			if status != c.status {
				t.Errorf("status %d, want %d: %.300s", status, c.status, raw)
			}
			if got := errData(body)["reason"]; c.reason != "" && got != c.reason {
				t.Errorf("reason %v, want %s", got, c.reason)
			}
			if c.reason != "" && strings.Contains(string(raw), "AAAA") {
				t.Errorf("the oversize result reached the client: %.300s", raw)
			}
		})
	}
	h.Close()
	w.Close()
	data, _ := os.ReadFile(auditPath)
	var refused []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r map[string]any
		json.Unmarshal([]byte(line), &r)
		if r["code"] == "payload_too_large" {
			refused = append(refused, fmt.Sprintf("%v %v %v", r["tenant"], r["tool"], r["status"]))
		}
	}
	if got := strings.Join(refused, ";"); got != "acme fs.read upstream_error" {
		t.Errorf("audited payload_too_large records %q, want one for acme's fs.read", got)
	}
	if strings.Contains(string(data), strings.Repeat("A", limit)) {
		t.Error("the oversize result is in the audit log")
	}
}

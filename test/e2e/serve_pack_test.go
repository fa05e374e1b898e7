package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds an Authorization header to every request.
type bearer string

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(req)
}

// TestServePackAgentTools runs gatehouse serve with policy.pack_agent_tools in front of a
// recording Go SDK server, with callers authenticated by JWTs whose workflow_id claim binds them
// to a workflow (SPEC §6.4, §6.3): the pack tools are listed beside the server's, answer for the
// token's workflow only, and predict the decisions of the calls that follow, in both eras. The
// server never sees them.
func TestServePackAgentTools(t *testing.T) {
	dir := t.TempDir()
	p := newIDP(t)
	const vdr = "vulnerable-dependency-remediation"

	var mu sync.Mutex
	var called []string
	up := mcp.NewServer(&mcp.Implementation{Name: "repo", Version: "1"}, nil)
	type writeArgs struct {
		Branch string   `json:"branch"`
		Files  []string `json:"files"`
		Lines  int      `json:"lines"`
	}
	mcp.AddTool(up, &mcp.Tool{Name: "git_push"}, func(_ context.Context, _ *mcp.CallToolRequest, in writeArgs) (*mcp.CallToolResult, any, error) {
		mu.Lock()
		called = append(called, "git_push "+in.Branch)
		mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pushed " + in.Branch}}}, nil, nil
	})
	mcp.AddTool(up, &mcp.Tool{Name: "read_advisory"}, func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		mu.Lock()
		called = append(called, "read_advisory")
		mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "GHSA-1"}}}, nil, nil
	})
	upstream := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	defer upstream.Close()

	gw := freeAddr(t)
	resource := "http://" + gw + "/mcp"
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: ""}
policy:
  pack: %s
  pack_agent_tools: true
  pack_tools:
    - tool: git_push
      namespace: repo.contents
      access: write_branch
      arguments: {branch_name: branch, changed_paths: files, diff_line_count: lines}
    - tool: read_advisory
      namespace: advisories.vulnerability
      access: read
audit: {path: %s}
auth:
  jwt:
    issuer: https://idp.test
    jwks: {url: %s}
  resource: {uri: %s}
upstreams:
  - name: repo
    prefix: ""
    url: %s
`, gw, example("workflow-pack", "mcp-gateway-policy.json"), auditPath, p.srv.URL, resource, upstream.URL)), 0o644)
	if code, out, errOut := gatehouseCmd(t, "check", "--config", cfgPath); code != 0 {
		t.Fatalf("check --config: exit %d\n%s%s", code, out, errOut)
	}
	background(t, gw, nil, gatehouseBin, "serve", "--config", cfgPath)

	now := time.Now().Unix()
	token := p.token(nil, map[string]any{"iss": "https://idp.test", "aud": resource, "sub": "sr-agent::codex", "exp": now + 600, "iat": now,
		"workflow_id": vdr})
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: &http.Client{Transport: bearer(token)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	meta := mcp.Meta{"gatehouse/run_id": "run-5", "gatehouse/gate_phase": "tool_call"}

	listsTools(t, s, nil, "git_push", "read_advisory", "gatehouse.pack_policy", "gatehouse.pack_evaluate")

	// The token's workflow, and no other.
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_policy", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("pack_policy: %v %+v", err, res)
	}
	var policy struct {
		WorkflowID string `json:"workflow_id"`
		AgentClass string `json:"agent_class"`
		Tools      []struct {
			Tool    string
			Allowed bool
		}
	}
	structured(t, res, &policy)
	if policy.WorkflowID != vdr || policy.AgentClass != "codex" || len(policy.Tools) != 2 || !policy.Tools[0].Allowed || !policy.Tools[1].Allowed {
		t.Errorf("pack_policy: %+v", policy)
	}
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_policy", Arguments: map[string]any{"workflow_id": "artifact-cache-quarantine"}})
	if err != nil || !res.IsError || !strings.Contains(toolText(res), "your credential binds you to workflow 'vulnerable-dependency-remediation'") {
		t.Errorf("another workflow than the token's: %v %+v", err, res)
	}

	for _, c := range []struct {
		name   string
		args   map[string]any
		effect string
	}{
		{"scoped write", map[string]any{"branch": "sec-auto-remediation/bump", "files": []string{"go.sum"}, "lines": 9}, "allow"},
		{"too big", map[string]any{"branch": "sec-auto-remediation/big", "files": []string{"go.sum"}, "lines": 9000}, "deny"},
	} {
		askThenCall(t, s, meta, c.name, "git_push", c.args, c.effect)
	}

	// A 2026-07-28 request, stateless.
	status, body, err := modernCallAs(resource, token, "tools/call", map[string]any{"name": "gatehouse.pack_evaluate",
		"arguments": map[string]any{"tool": "read_advisory"},
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{},
			"gatehouse/run_id": "run-5", "gatehouse/gate_phase": "tool_call"}})
	result, _ := body["result"].(map[string]any)
	sc, _ := result["structuredContent"].(map[string]any)
	if err != nil || status != 200 || result["resultType"] != "complete" || sc["effect"] != "allow" {
		t.Errorf("modern pack_evaluate: %d %v %v", status, body, err)
	}

	mu.Lock()
	got := strings.Join(called, ";")
	mu.Unlock()
	if got != "git_push sec-auto-remediation/bump" {
		t.Errorf("the server was called for %q, want only the allowed write", got)
	}
	asked := 0
	for _, r := range readAudit(t, auditPath) {
		if strings.HasPrefix(r.Tool, "gatehouse.pack_") {
			asked++
			if r.Upstream != "gatehouse" || r.Status != "answered" || r.Agent != "sr-agent::codex" {
				t.Errorf("audit of %s: upstream %q status %q agent %q", r.Tool, r.Upstream, r.Status, r.Agent)
			}
		}
	}
	if asked != 5 {
		t.Errorf("%d audited pack tool calls, want 5", asked)
	}
}

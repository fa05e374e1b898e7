package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// bodyLog keeps the bodies of the requests an upstream receives.
type bodyLog struct {
	mu     sync.Mutex
	bodies []string
}

func (b *bodyLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.mu.Lock()
		b.bodies = append(b.bodies, string(body))
		b.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// with returns the bodies that contain s.
func (b *bodyLog) with(s string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, x := range b.bodies {
		if strings.Contains(x, s) {
			out = append(out, x)
		}
	}
	return out
}

// postModern is modernPost (its _meta that of a client that can be asked) for the test's goroutine.
func postModern(t *testing.T, url, method string, params map[string]any) (int, map[string]any) {
	t.Helper()
	params["_meta"] = elicitingMeta
	status, body, err := modernPost(url, method, params)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return status, body
}

// TestServeAsksAndForwardsTheHeldCall (SPEC §10.2, §2.5): through serve, with two prefixed
// upstreams, a held tools/call and a held resources/read of a client that can be asked are answered
// 200 input_required; once approved, the accepted retry reaches its upstream as the held call: the
// name as the upstream knows it, the upstream's own requestState back, gatehouse's state gone.
func TestServeAsksAndForwardsTheHeldCall(t *testing.T) {
	var files bodyLog
	filesURL := sdkUpstreamWith(t, "files", nil, func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Echo: " + in.Message + " state=" + req.Params.RequestState}}}, nil, nil
		})
		s.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "notes"}}}, nil
		})
	}, files.wrap)
	calcURL := sdkUpstreamWith(t, "calc", nil, func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "add"}, func(context.Context, *mcp.CallToolRequest, addArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "0"}}}, nil, nil
		})
	}, nil)
	store := state.NewMemory(nil)
	url, _ := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{httpUpstream(t, "files", "files", filesURL), httpUpstream(t, "calc", "calc", calcURL)}}, nil,
		func(o *Options, _ *streamable.Config) {
			o.Store = store
			p, err := rules.Load("p.yaml", []byte(`
name: ask
version: "1"
default_effect: allow
rules:
  - id: hold-echo
    tools: [files.echo]
    effect: require_approval
    reason: echo needs a human
  - id: hold-read
    methods: [resources/read]
    effect: require_approval
    reason: reads need a human
`))
			if err != nil {
				t.Fatal(err)
			}
			o.Engines = []*engine.Stage{enforcingRules(p, o.Logger)}
		})
	postModern(t, url, "resources/list", map[string]any{}) // so that the resource is routed
	approvePending := func() {
		t.Helper()
		all, _ := store.Approvals(context.Background())
		n := 0
		for _, a := range all {
			if a.Status == state.ApprovalPending {
				store.DecideApproval(context.Background(), a.ID, true, "alice", "")
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d approvals pending, want 1", n)
		}
	}
	for _, tc := range []struct {
		method string
		params map[string]any
		mark   string
	}{
		{"tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "hi"},
			"requestState": "server-S1", "inputResponses": map[string]any{"k": map[string]any{"action": "accept"}}}, "server-S1"},
		{"resources/read", map[string]any{"uri": "file:///notes.txt", "requestState": "server-R1"}, "server-R1"},
	} {
		status, body := postModern(t, url, tc.method, tc.params)
		if status != http.StatusOK {
			t.Fatalf("held %s: %d %v", tc.method, status, body)
		}
		requestState, _ := askOf(t, body)
		approvePending()
		tc.params["requestState"] = requestState
		tc.params["inputResponses"] = map[string]any{"gatehouse/approval": map[string]any{"action": "accept"}}
		if status, body = postModern(t, url, tc.method, tc.params); status != http.StatusOK || body["result"] == nil {
			t.Fatalf("the accepted retry of %s: %d %v", tc.method, status, body)
		}
		got := files.with(tc.mark)
		if len(got) != 1 || strings.Contains(got[0], "gatehouse.hold") || strings.Contains(got[0], "gatehouse/approval") ||
			tc.method == "tools/call" && (!strings.Contains(got[0], `"name":"echo"`) || !strings.Contains(got[0], `"inputResponses":{"k":{"action":"accept"}}`)) {
			t.Errorf("files received for %s: %q", tc.method, got)
		}
	}
}

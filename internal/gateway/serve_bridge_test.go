package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	upstreamhttp "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

func TestRefusedEra(t *testing.T) {
	modernReq := func(method string) *Outbound {
		frame := jsonrpc.Request(jsonrpc.StringID("7"), method, []byte(`{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`))
		m, _ := jsonrpc.Parse(frame, jsonrpc.Limits{})
		return &Outbound{Frame: frame, Msg: m, Modern: true, ProtocolVersion: modernVersion}
	}
	legacyReq := func(method string) *Outbound {
		frame := jsonrpc.Request(jsonrpc.StringID("7"), method, []byte(`{}`))
		m, _ := jsonrpc.Parse(frame, jsonrpc.Limits{})
		return &Outbound{Frame: frame, Msg: m, ProtocolVersion: "2025-11-25"}
	}
	tests := []struct {
		name   string
		out    *Outbound
		status int
		body   string
		want   int
	}{
		{"typescript sdk: not initialized, id null", modernReq("tools/list"), 400,
			`{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: Server not initialized"},"id":null}`, eraLegacy},
		{"typescript sdk: no valid session, no id", modernReq("tools/call"), 400,
			`{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}`, eraLegacy},
		{"go sdk: unsupported version", modernReq("tools/list"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32022,"message":"unsupported protocol version","data":{"supported":["2025-11-25"]}}}`, eraLegacy},
		{"discover unknown to a legacy server", modernReq("server/discover"), 200,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32601,"message":"Method not found"}}`, eraLegacy},
		{"plain text session refusal", modernReq("tools/list"), 400, `Bad Request: Mcp-Session-Id header is required`, eraLegacy},
		{"the request's own error is an answer", modernReq("tools/call"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32602,"message":"unknown tool"}}`, eraUnknown},
		{"header mismatch is a modern server's", modernReq("tools/call"), 400,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32020,"message":"header mismatch"}}`, eraUnknown},
		{"unauthorized says nothing of the era", modernReq("tools/list"), 401,
			`{"jsonrpc":"2.0","error":{"code":-32000,"message":"Server not initialized"},"id":null}`, eraUnknown},
		{"-32022 that lists 2026-07-28", modernReq("tools/list"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32022,"message":"no","data":{"supported":["2026-07-28"]}}}`, eraUnknown},
		{"a result", modernReq("tools/list"), 200, `{"jsonrpc":"2.0","id":"7","result":{"tools":[]}}`, eraUnknown},
		{"a modern server refusing initialize by name", modernReq("initialize"), 404,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32601,"message":"method not found: \"initialize\""}}`, eraUnknown},
		{"a method a modern server lacks", modernReq("custom/thing"), 404,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32601,"message":"Method not found"}}`, eraUnknown},

		{"go sdk modern-only: plain text", legacyReq("tools/list"), 400,
			"Bad Request: Unsupported protocol version (supported versions: 2026-07-28)", eraModern},
		{"modern-only -32022", legacyReq("tools/list"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32022,"message":"unsupported","data":{"supported":["2026-07-28"]}}}`, eraModern},
		{"-32022 listing legacy versions", legacyReq("tools/list"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32022,"message":"unsupported","data":{"supported":["2025-06-18"]}}}`, eraUnknown},
		{"initialize not found", legacyReq("initialize"), 404, `Not Found`, eraModern},
		{"initialize method not found", legacyReq("initialize"), 200,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32601,"message":"Method not found"}}`, eraModern},
		{"a legacy request's own error", legacyReq("tools/call"), 400,
			`{"jsonrpc":"2.0","id":"7","error":{"code":-32602,"message":"bad arguments for version 2026-07-28"}}`, eraUnknown},
		{"a legacy result", legacyReq("tools/list"), 200, `{"jsonrpc":"2.0","id":"7","result":{"tools":[]}}`, eraUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := jsonrpc.Parse([]byte(tt.body), jsonrpc.Limits{})
			if err != nil {
				m = nil
			}
			if got := refusedEra(tt.out, tt.status, m, []byte(tt.body)); got != tt.want {
				t.Errorf("refusedEra = %d, want %d", got, tt.want)
			}
		})
	}
}

// sdkUpstream serves a Go SDK MCP server with one tool, echo, over Streamable HTTP; wrap, when set,
// stands in front of it.
func sdkUpstream(t *testing.T, name string, opts *mcp.ServerOptions, hopts *mcp.StreamableHTTPOptions, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, opts)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " echo: " + in.Message}}}, nil, nil
	})
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, hopts)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// typescriptRefusals stands in front of a legacy server and refuses what has no session as the
// TypeScript SDK does (every npm server): HTTP 400 with an error whose id is null.
func typescriptRefusals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct{ Method string }
		json.Unmarshal(body, &m)
		if r.Method == http.MethodPost && m.Method != "initialize" && r.Header.Get("Mcp-Session-Id") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: Server not initialized"},"id":null}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowAllServer is gatehouse serve with no policy engine in front of opts.Upstreams; logger (nil:
// the test's log) receives the gateway's log.
func allowAllServer(t *testing.T, opts ServeOptions, logger *slog.Logger) string {
	t.Helper()
	url, _ := allowAllBackend(t, opts, logger, nil)
	return url
}

// allowAllBackend is allowAllServer with the gateway's options and the transport's configuration
// adjusted by tweak (when set); it returns the backend too.
func allowAllBackend(t *testing.T, opts ServeOptions, logger *slog.Logger, tweak func(*Options, *streamable.Config)) (string, *Server) {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	w, err := auditlog.Open(auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	gopts := Options{Identity: identity.Transport{}, Fail: pipeline.FailClosed, Store: state.NewMemory(nil),
		Recorder: audit.NewRecorder(w, "off", logger), Logger: logger}
	hcfg := streamable.Config{Loopback: true, Auth: anonymousAuth{}, Logger: logger}
	if tweak != nil {
		tweak(&gopts, &hcfg)
	}
	backend, err := New(gopts).NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := streamable.New(hcfg, backend)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close(); w.Close() })
	return srv.URL, backend
}

func httpUpstream(t *testing.T, name, prefix, url string) *HTTPUpstream {
	return &HTTPUpstream{UpstreamName: name, UpstreamPrefix: prefix, Client: &upstreamhttp.Client{URL: url},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

func toolNames(t *testing.T, body map[string]any) []string {
	t.Helper()
	r, _ := body["result"].(map[string]any)
	tools, _ := r["tools"].([]any)
	var names []string
	for _, tool := range tools {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	return names
}

// A 2026-07-28 client reaches a legacy-only server that refuses stateless requests the way npm
// servers do (400, error with id null): gatehouse learns the era from that refusal and bridges,
// alone or federated, for lists, calls and server/discover. Concurrent clients that all number
// their requests 1 share gatehouse's one legacy session without their answers crossing.
func TestServeBridgesModernClientsToLegacyOnlyUpstream(t *testing.T) {
	legacy := &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25", "2025-06-18"}}
	for _, prefixed := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "federated"}[prefixed], func(t *testing.T) {
			old := sdkUpstream(t, "old", legacy, nil, typescriptRefusals)
			ups := []Upstream{httpUpstream(t, "old", "", old.URL)}
			echo := "echo"
			if prefixed {
				other := sdkUpstream(t, "new", nil, &mcp.StreamableHTTPOptions{Stateless: true}, nil)
				ups = []Upstream{httpUpstream(t, "old", "old", old.URL), httpUpstream(t, "new", "new", other.URL)}
				echo = "old.echo"
			}
			url := allowAllServer(t, ServeOptions{Upstreams: ups}, nil)
			status, body := post(t, url, "tools/list", nil)
			if got := strings.Join(toolNames(t, body), ","); status != 200 || !strings.Contains(","+got+",", ","+echo+",") {
				t.Fatalf("tools/list: %d %v, want %s listed", status, body, echo)
			}
			var wg sync.WaitGroup
			for _, msg := range []string{"a", "b", "c", "d", "e", "f"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, body, err := modernPost(url, "tools/call", map[string]any{"name": echo, "arguments": map[string]any{"message": msg}})
					if got, want := firstText(body), "old echo: "+msg; err != nil || status != 200 || got != want {
						t.Errorf("tools/call %s: %d %q, want %q (%v %v)", echo, status, got, want, body, err)
					}
				}()
			}
			wg.Wait()
			status, body = post(t, url, "server/discover", nil)
			if r, _ := body["result"].(map[string]any); status != 200 || r["supportedVersions"] == nil {
				t.Errorf("server/discover: %d %v", status, body)
			}
			if era := ups[0].(*HTTPUpstream).getEra(); era != eraLegacy {
				t.Errorf("learned era %d, want legacy", era)
			}
		})
	}
}

// A 2026-07-28-only server that accepts a legacy initialize and then refuses every legacy request
// (the Go SDK narrowed to 2026-07-28): a legacy client reaches it all the same, bridged.
func TestServeBridgesLegacyClientToModernOnlyUpstream(t *testing.T) {
	modern := sdkUpstream(t, "modern", &mcp.ServerOptions{SupportedProtocolVersions: []string{"2026-07-28"}},
		&mcp.StreamableHTTPOptions{Stateless: true}, nil)
	both := sdkUpstream(t, "both", nil, nil, nil)
	up := httpUpstream(t, "modern", "modern", modern.URL)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{up, httpUpstream(t, "both", "both", both.URL)}}, nil)
	client := mcp.NewClient(&mcp.Implementation{Name: "legacy-client", Version: "1"}, nil)
	s, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Fatalf("negotiated %s, want the legacy 2025-11-25", v)
	}
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if got := strings.Join(names, ","); got != "modern.echo,both.echo" {
		t.Errorf("tools/list = %s, want modern.echo,both.echo", got)
	}
	for _, name := range []string{"modern.echo", "both.echo"} {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{"message": "hi"}})
		if err != nil || res.IsError || len(res.Content) == 0 || !strings.HasSuffix(res.Content[0].(*mcp.TextContent).Text, "echo: hi") {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
	if era := up.getEra(); era != eraModern {
		t.Errorf("learned era %d, want 2026-07-28", era)
	}
}

// modernPost is post for goroutines other than the test's: it reports failures instead of ending
// the test.
func modernPost(url, method string, params map[string]any) (int, map[string]any, error) {
	pm := map[string]any{"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}}
	for k, v := range params {
		pm[k] = v
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": pm})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name, ok := pm["name"].(string); ok {
		req.Header.Set("Mcp-Name", name)
	}
	if uri, ok := pm["uri"].(string); ok {
		req.Header.Set("Mcp-Name", uri)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		raw = []byte(strings.TrimPrefix(lines[len(lines)-1], "data: "))
	}
	var out map[string]any
	err = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, err
}

// firstText is the first text content of a tools/call result, "" when there is none.
func firstText(body map[string]any) string {
	r, _ := body["result"].(map[string]any)
	content, _ := r["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	text, _ := content[0].(map[string]any)["text"].(string)
	return text
}

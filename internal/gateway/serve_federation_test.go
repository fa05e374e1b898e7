package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
)

// resourceUpstream serves a Go SDK server with a resource, shared://x, and a template,
// shared://t/{n}, both answering with the server's name; delay holds back its list answers.
func resourceUpstream(t *testing.T, name string, delay time.Duration) string {
	t.Helper()
	read := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "from " + name}}}, nil
	}
	return sdkUpstreamWith(t, name, nil, func(s *mcp.Server) {
		s.AddResource(&mcp.Resource{URI: "shared://x", Name: "x"}, read)
		s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "shared://t/{n}", Name: "t"}, read)
		s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: name + "://only/{n}", Name: name + "-only"}, read)
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Mcp-Method") != "resources/read" {
				time.Sleep(delay)
			}
			next.ServeHTTP(w, r)
		})
	})
}

// sdkUpstreamWith serves a stateless Go SDK server that setup fills, behind wrap.
func sdkUpstreamWith(t *testing.T, name string, opts *mcp.ServerOptions, setup func(*mcp.Server), wrap func(http.Handler) http.Handler) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, opts)
	setup(s)
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Resource templates are namespaced like tools and prompts (SPEC §2.5): the name, not the
// uriTemplate. When two upstreams list the same resource URI or template, the first upstream in
// configuration order owns it — even when it answers last — the merged list shows it once, and the
// clash is logged once.
func TestServeResourceTemplatesAndClashes(t *testing.T) {
	first := resourceUpstream(t, "first", 0)
	second := resourceUpstream(t, "second", 0)
	// The second upstream answers its lists last: were the last answer to win, reads would go to
	// it.
	secondSlow := resourceUpstream(t, "second", 150*time.Millisecond)
	for _, tc := range []struct {
		name        string
		first, then string
	}{
		{"both quick", first, second},
		{"second answers last", first, secondSlow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{
				httpUpstream(t, "first", "first", tc.first), httpUpstream(t, "second", "second", tc.then)}}, logger)
			for range 2 {
				_, body := post(t, url, "resources/templates/list", nil)
				var got []string
				for _, it := range listItems(body, "resourceTemplates") {
					got = append(got, it["name"].(string)+"="+it["uriTemplate"].(string))
				}
				want := "first.first-only=first://only/{n},first.t=shared://t/{n},second.second-only=second://only/{n}"
				if strings.Join(got, ",") != want {
					t.Errorf("resources/templates/list = %s,\nwant %s", strings.Join(got, ","), want)
				}
				_, body = post(t, url, "resources/list", nil)
				if items := listItems(body, "resources"); len(items) != 1 || items[0]["uri"] != "shared://x" {
					t.Errorf("resources/list = %v, want shared://x once", items)
				}
			}
			for uri, want := range map[string]string{"shared://x": "from first", "shared://t/9": "from first",
				"second://only/1": "from second", "first://only/1": "from first"} {
				_, body, err := modernPost(url, "resources/read", map[string]any{"uri": uri})
				if err != nil {
					t.Fatal(err)
				}
				r, _ := body["result"].(map[string]any)
				contents, _ := r["contents"].([]any)
				if len(contents) != 1 || contents[0].(map[string]any)["text"] != want {
					t.Errorf("read %s = %v, want %q", uri, body, want)
				}
			}
			if n := strings.Count(logs.String(), "two upstreams list the same resource"); n != 2 {
				t.Errorf("clash warnings: %d, want 2 (shared://x and shared://t/{n}, once each):\n%s", n, logs.String())
			}
		})
	}
}

// listItems returns the items of a list result's member.
func listItems(body map[string]any, member string) []map[string]any {
	r, _ := body["result"].(map[string]any)
	raw, _ := json.Marshal(r[member])
	var items []map[string]any
	json.Unmarshal(raw, &items)
	return items
}

// pagedUpstream is a Go SDK server that lists its tools two per page.
func pagedUpstream(t *testing.T, name string, tools ...string) string {
	t.Helper()
	return sdkUpstreamWith(t, name, &mcp.ServerOptions{PageSize: 2}, func(s *mcp.Server) {
		for _, tool := range tools {
			mcp.AddTool(s, &mcp.Tool{Name: tool}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
		}
	}, nil)
}

// A merged list pages: its nextCursor carries every upstream's own, so a client following it gets
// every item of every upstream exactly once; a cursor gatehouse did not make is invalid params.
func TestServePagesMergedLists(t *testing.T) {
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "five", "five", pagedUpstream(t, "five", "a", "b", "c", "d", "e")),
		httpUpstream(t, "three", "three", pagedUpstream(t, "three", "x", "y", "z")),
	}}, nil)
	seen := map[string]int{}
	var pages int
	params := map[string]any{}
	for {
		pages++
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		status, body := post(t, url, "tools/list", params)
		if status != 200 || body["error"] != nil {
			t.Fatalf("page %d: %d %v", pages, status, body)
		}
		for _, name := range toolNames(t, body) {
			seen[name]++
		}
		next, _ := body["result"].(map[string]any)["nextCursor"].(string)
		if next == "" {
			break
		}
		params = map[string]any{"cursor": next}
	}
	var got []string
	for _, name := range []string{"five.a", "five.b", "five.c", "five.d", "five.e", "three.x", "three.y", "three.z"} {
		if seen[name] != 1 {
			got = append(got, name)
		}
		delete(seen, name)
	}
	if len(got) > 0 || len(seen) > 0 || pages != 3 {
		t.Errorf("after %d pages (want 3): not listed exactly once %v, unexpected %v", pages, got, seen)
	}

	for name, cursor := range map[string]string{
		"garbage":          "not a cursor!",
		"unknown upstream": encodeCursor("tools/list", map[string]string{"nine": "x"}),
		"another list's":   encodeCursor("prompts/list", map[string]string{"five": "x"}),
		"empty":            encodeCursor("tools/list", nil),
	} {
		_, body := post(t, url, "tools/list", map[string]any{"cursor": cursor})
		e, _ := body["error"].(map[string]any)
		if e["code"] != float64(-32602) || !strings.Contains(e["message"].(string), "invalid cursor") {
			t.Errorf("%s cursor: %v, want -32602 invalid cursor", name, body)
		}
	}
}

// A policy's rewrite of a merged list request reaches every upstream as rewritten, on the first
// page and on a later one: the patch is never dropped for the request as the client sent it.
func TestServeFanOutSendsThePolicyRewrite(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]map[string]any{} // the tools/list params each upstream received
	record := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var m struct {
					Method string         `json:"method"`
					Params map[string]any `json:"params"`
				}
				json.Unmarshal(body, &m)
				if m.Method == "tools/list" {
					mu.Lock()
					seen[name] = append(seen[name], m.Params)
					mu.Unlock()
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	paged := func(name string, tools ...string) string {
		return sdkUpstreamWith(t, name, &mcp.ServerOptions{PageSize: 2}, func(s *mcp.Server) {
			for _, tool := range tools {
				mcp.AddTool(s, &mcp.Tool{Name: tool}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{}, nil, nil
				})
			}
		}, record(name))
	}
	pol, err := rules.Load("p.yaml", []byte(`
name: tag-lists
version: "1"
default_effect: allow
rules:
  - id: tag-lists
    methods: [tools/list]
    effect: patch
    patch:
      tag: patched
`))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	url, _ := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "five", "five", paged("five", "a", "b", "c", "d", "e")),
		httpUpstream(t, "one", "one", paged("one", "x")),
	}}, logger, func(o *Options, _ *streamable.Config) {
		o.Engines = []*engine.Stage{enforcingRules(pol, logger)}
	})
	status, body := post(t, url, "tools/list", nil)
	next, _ := body["result"].(map[string]any)["nextCursor"].(string)
	if status != 200 || next == "" {
		t.Fatalf("first page: %d %v, want a page with a nextCursor", status, body)
	}
	if status, body = post(t, url, "tools/list", map[string]any{"cursor": next}); status != 200 {
		t.Fatalf("second page: %d %v", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	for name, pages := range map[string]int{"five": 2, "one": 1} {
		if len(seen[name]) != pages {
			t.Errorf("%s received %d tools/list requests, want %d", name, len(seen[name]), pages)
		}
		for i, p := range seen[name] {
			if args, _ := p["arguments"].(map[string]any); args["tag"] != "patched" {
				t.Errorf("%s's tools/list %d: params %v, want the policy's patch (arguments.tag = patched)", name, i+1, p)
			}
		}
	}
}

// A rewrite of a fanned-out request that cannot be routed (here: over the message limit) is refused
// as policy_error; the request is never sent as it was before the rewrite.
func TestServeFanOutRefusesAnUnroutableRewrite(t *testing.T) {
	listed := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Mcp-Method") == "tools/list" {
				t.Errorf("an upstream received tools/list, which the policy rewrote beyond what can be sent")
			}
			next.ServeHTTP(w, r)
		})
	}
	empty := func(*mcp.Server) {}
	pol, err := rules.Load("p.yaml", []byte(`
name: tag-lists
version: "1"
default_effect: allow
rules:
  - id: tag-lists
    methods: [tools/list]
    effect: patch
    patch:
      tag: "`+strings.Repeat("x", 2000)+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	url, _ := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "a", "a", sdkUpstreamWith(t, "a", nil, empty, listed)),
		httpUpstream(t, "b", "b", sdkUpstreamWith(t, "b", nil, empty, listed)),
	}}, logger, func(o *Options, _ *streamable.Config) {
		o.Limits.MaxBytes = 1024
		o.Engines = []*engine.Stage{enforcingRules(pol, logger)}
	})
	status, body := post(t, url, "tools/list", nil)
	if d := errData(body); status != http.StatusInternalServerError || d["reason"] != "policy_error" {
		t.Errorf("tools/list: %d %v, want 500 policy_error", status, body)
	}
}

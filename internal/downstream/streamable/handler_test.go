package streamable

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// fakeBackend answers requests with an empty result, except initialize which it answers with a
// result unless fail is set, and records what it saw.
type fakeBackend struct {
	mu       sync.Mutex
	seen     []string
	closed   []string
	failInit bool
	stream   bool
}

func (b *fakeBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	b.mu.Lock()
	b.seen = append(b.seen, ex.Msg.Method)
	b.mu.Unlock()
	if ex.Msg.Method == "initialize" && b.failInit {
		ans.Finish(jsonrpc.ErrorResponse(ex.Msg.ID, -32603, "no", nil), 200)
		return
	}
	if b.stream {
		ans.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`))
	}
	ans.Finish(jsonrpc.Result(ex.Msg.ID, []byte(`{"ok":true}`)), 200)
}
func (b *fakeBackend) Notify(context.Context, *Exchange) error { return nil }
func (b *fakeBackend) Reply(context.Context, *Exchange) error  { return nil }
func (b *fakeBackend) Listen(ctx context.Context, s *Session, out Stream) {
	out.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`))
}
func (b *fakeBackend) Closed(s *Session) {
	b.mu.Lock()
	b.closed = append(b.closed, s.ID)
	b.mu.Unlock()
}
func (b *fakeBackend) Refused(ctx context.Context, ex *Exchange, fe *jsonrpc.FrameError, raw []byte) []byte {
	return jsonrpc.FrameRefusal(fe, "dec_test")
}

type whoAuth struct{}

// whoAuth trusts X-Who as the caller and X-Tenant as their credential's tenant.
func (whoAuth) Authenticate(_ context.Context, r *http.Request) (*policy.Principal, string, error) {
	if who := r.Header.Get("X-Who"); who != "" {
		return &policy.Principal{ID: who}, r.Header.Get("X-Tenant"), nil
	}
	return &policy.Principal{ID: "anonymous"}, r.Header.Get("X-Tenant"), nil
}
func (whoAuth) Challenge(w http.ResponseWriter, _ error) { w.WriteHeader(http.StatusUnauthorized) }

func newTestHandler(t *testing.T, cfg Config, b Backend) *httptest.Server {
	t.Helper()
	cfg.Auth, cfg.Logger, cfg.Loopback = whoAuth{}, slog.New(slog.NewTextHandler(io.Discard, nil)), true
	if cfg.Limits.MaxBytes == 0 {
		cfg.Limits.MaxBytes = 4096
	}
	h := New(cfg, b)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return srv
}

type reqSpec struct {
	method, body string
	headers      map[string]string
}

func do(t *testing.T, url string, r reqSpec) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	req, _ := http.NewRequest(r.method, url, strings.NewReader(r.body))
	if r.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range r.headers {
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

const legacyInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func TestOriginAndHost(t *testing.T) {
	srv := newTestHandler(t, Config{}, &fakeBackend{})
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no origin", nil, 200},
		{"loopback origin", map[string]string{"Origin": "http://localhost:3000"}, 200},
		{"foreign origin", map[string]string{"Origin": "http://evil.example.com"}, 403},
		{"rebound host", map[string]string{"Host": "evil.example.com"}, 403},
		{"ipv6 loopback host", map[string]string{"Host": "[::1]:8080"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv.URL, reqSpec{body: legacyInit, headers: tt.headers})
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.want, body)
			}
		})
	}
	allowed := newTestHandler(t, Config{AllowedOrigins: []string{"https://app.example.com"}}, &fakeBackend{})
	if resp, _ := do(t, allowed.URL, reqSpec{body: legacyInit, headers: map[string]string{"Origin": "https://app.example.com"}}); resp.StatusCode != 200 {
		t.Errorf("configured origin refused: %d", resp.StatusCode)
	}
}

func TestBodyChecks(t *testing.T) {
	srv := newTestHandler(t, Config{}, &fakeBackend{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(legacyInit))
	req.Header.Set("Content-Type", "text/plain")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d, want 415", resp.StatusCode)
	}
	big := `{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"x":"` + strings.Repeat("a", 5000) + `"}}`
	resp, body := do(t, srv.URL, reqSpec{body: big})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "payload_too_large") || !strings.Contains(body, `"id":9`) {
		t.Errorf("oversize: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, srv.URL, reqSpec{body: `{"jsonrpc":"2.0","id":3,"method":"x","params":{"a":1,"a":2}}`})
	if resp.StatusCode != 400 || !strings.Contains(body, "malformed_message") {
		t.Errorf("duplicate key: %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, srv.URL, reqSpec{method: http.MethodPut})
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", resp.StatusCode)
	}
}

func TestLegacySessions(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestHandler(t, Config{}, b)
	resp, _ := do(t, srv.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": "alice"}})
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || len(id) < 20 {
		t.Fatalf("initialize: %d session %q", resp.StatusCode, id)
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if resp, _ := do(t, srv.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice"}}); resp.StatusCode != 400 {
		t.Errorf("no session id: %d, want 400", resp.StatusCode)
	}
	if resp, _ := do(t, srv.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": "nope"}}); resp.StatusCode != 404 {
		t.Errorf("unknown session: %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, srv.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "mallory", "Mcp-Session-Id": id}}); resp.StatusCode != 404 {
		t.Errorf("another caller's session: %d, want 404 (sessions belong to who opened them)", resp.StatusCode)
	}
	if resp, body := do(t, srv.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": id}}); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Errorf("in session: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, srv.URL, reqSpec{body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": id}}); resp.StatusCode != 202 {
		t.Errorf("notification: %d, want 202", resp.StatusCode)
	}
	resp, body := do(t, srv.URL, reqSpec{method: http.MethodGet, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": id}})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || !strings.Contains(body, "list_changed") {
		t.Errorf("GET stream: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := do(t, srv.URL, reqSpec{method: http.MethodDelete, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": id}}); resp.StatusCode != 200 {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	if resp, _ := do(t, srv.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", "Mcp-Session-Id": id}}); resp.StatusCode != 404 {
		t.Errorf("after DELETE: %d, want 404", resp.StatusCode)
	}
	if len(b.closed) != 1 || b.closed[0] != id {
		t.Errorf("backend told of closed sessions %v, want [%s]", b.closed, id)
	}
	b.failInit = true
	resp, _ = do(t, srv.URL, reqSpec{body: legacyInit})
	if got := resp.Header.Get("Mcp-Session-Id"); got != "" {
		t.Errorf("a failed initialize minted session %q", got)
	}
}

func modern(method, name string, extra map[string]string) reqSpec {
	params := `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`
	if name != "" {
		params = `{"name":"` + name + `","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`
	}
	h := map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
	if name != "" {
		h["Mcp-Name"] = name
	}
	for k, v := range extra {
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	return reqSpec{body: `{"jsonrpc":"2.0","id":5,"method":"` + method + `","params":` + params + `}`, headers: h}
}

func TestModernHeaderChecks(t *testing.T) {
	srv := newTestHandler(t, Config{}, &fakeBackend{})
	tests := []struct {
		name string
		spec reqSpec
		want int
		code string
	}{
		{"valid", modern("tools/call", "echo", nil), 200, ""},
		{"base64 name", modern("tools/call", "echo", map[string]string{"Mcp-Name": "=?base64?ZWNobw==?="}), 200, ""},
		{"whitespace around name", modern("tools/call", "echo", map[string]string{"Mcp-Name": "  echo "}), 200, ""},
		{"lowercase header name", modern("tools/list", "", map[string]string{"Mcp-Method": "", "mcp-method": "tools/list"}), 200, ""},
		{"missing method", modern("tools/list", "", map[string]string{"Mcp-Method": ""}), 400, "-32020"},
		{"method mismatch", modern("tools/list", "", map[string]string{"Mcp-Method": "tools/call"}), 400, "-32020"},
		{"method case", modern("tools/list", "", map[string]string{"Mcp-Method": "TOOLS/LIST"}), 400, "-32020"},
		{"missing name", modern("tools/call", "echo", map[string]string{"Mcp-Name": ""}), 400, "-32020"},
		{"name mismatch", modern("tools/call", "echo", map[string]string{"Mcp-Name": "drop"}), 400, "-32020"},
		{"bad base64 name", modern("tools/call", "echo", map[string]string{"Mcp-Name": "=?base64?ZW$obw==?="}), 400, "-32020"},
		{"version mismatch", modern("tools/list", "", map[string]string{"MCP-Protocol-Version": "2025-11-25"}), 400, "-32020"},
		{"unsupported version", reqSpec{body: `{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}`,
			headers: map[string]string{"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}}, 400, "-32022"},
		{"header names another era", modern("tools/list", "", map[string]string{"MCP-Protocol-Version": "2025-11-25"}), 400, "-32020"},
		{"header missing with modern body", modern("tools/list", "", map[string]string{"MCP-Protocol-Version": ""}), 400, "-32020"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv.URL, tt.spec)
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.code) {
				t.Errorf("got %d %s, want %d with %s", resp.StatusCode, body, tt.want, tt.code)
			}
			if tt.code != "" && !strings.Contains(body, `"id":5`) {
				t.Errorf("error does not carry the request id: %s", body)
			}
		})
	}
	if resp, _ := do(t, srv.URL, reqSpec{method: http.MethodGet, headers: map[string]string{"MCP-Protocol-Version": "2026-07-28"}}); resp.StatusCode != 405 {
		t.Errorf("modern GET: %d, want 405", resp.StatusCode)
	}
}

func TestStreamingAnswer(t *testing.T) {
	srv := newTestHandler(t, Config{}, &fakeBackend{stream: true})
	resp, body := do(t, srv.URL, modern("tools/list", "", nil))
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.Contains(body, "notifications/progress") || !strings.Contains(body, `"ok":true`) ||
		strings.Index(body, "progress") > strings.Index(body, `"ok"`) {
		t.Errorf("streamed answer: %q %s", resp.Header.Get("Content-Type"), body)
	}
}

// funcBackend answers requests with its function; everything else is fakeBackend's.
type funcBackend struct {
	fakeBackend
	request func(ctx context.Context, ex *Exchange, ans Answer)
}

func (b *funcBackend) Request(ctx context.Context, ex *Exchange, ans Answer) { b.request(ctx, ex, ans) }

func TestMirroredStreamHeaders(t *testing.T) {
	result := func(ex *Exchange) []byte { return jsonrpc.Result(ex.Msg.ID, []byte(`{"ok":true}`)) }
	t.Run("a single event goes out with the headers", func(t *testing.T) {
		srv := newTestHandler(t, Config{}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
			ans.Stream()
			ans.Finish(result(ex), http.StatusOK)
		}})
		resp, body := do(t, srv.URL, modern("tools/list", "", nil))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
			!strings.Contains(body, "\ndata: {") || !strings.Contains(body, `"ok":true`) {
			t.Errorf("HTTP %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("a refusal before any event keeps its status", func(t *testing.T) {
		srv := newTestHandler(t, Config{}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
			ans.Stream()
			ans.Finish(jsonrpc.ErrorResponse(ex.Msg.ID, -32001, "denied", nil), http.StatusForbidden)
		}})
		resp, body := do(t, srv.URL, modern("tools/call", "x", nil))
		if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, "denied") {
			t.Errorf("HTTP %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("a slow answer gets its headers early", func(t *testing.T) {
		release := make(chan struct{})
		srv := newTestHandler(t, Config{}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
			ans.Stream()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			ans.Finish(result(ex), http.StatusOK)
		}})
		r := modern("tools/call", "slow", nil)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range r.headers {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req) // returns with the headers, before the event
		close(release)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if took := time.Since(start); took > 5*time.Second || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("headers after %s, %q", took, resp.Header.Get("Content-Type"))
		}
		if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `"ok":true`) {
			t.Errorf("body %q", body)
		}
	})
	t.Run("a stream that ends without an answer is an empty stream", func(t *testing.T) {
		srv := newTestHandler(t, Config{}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
			ans.Stream()
		}})
		resp, body := do(t, srv.URL, modern("subscriptions/listen", "", nil))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || body != "" {
			t.Errorf("HTTP %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

// A backend that panics after asking for a stream must not leave the header timer to write to a
// response whose handler has returned (net/http recovers the panic; the race detector would see
// the late write).
func TestPanickingBackendStopsTheHeaderTimer(t *testing.T) {
	srv := newTestHandler(t, Config{}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
		ans.Stream()
		panic("backend bug")
	}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(modern("tools/list", "", nil).body))
	for k, v := range modern("tools/list", "", nil).headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	time.Sleep(streamHeaderDelay + 200*time.Millisecond) // a timer left running would fire now
}

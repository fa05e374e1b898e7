package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Tests of gatehouse's own legacy session with a legacy server, which every 2026-07-28 client
// shares: what one client may do in it, and what a server that misbehaves in it may not do to the
// others.

// clientAuth names the caller after its X-Test-Client header, so that a test can be several clients.
type clientAuth struct{}

func (clientAuth) Authenticate(_ context.Context, r *http.Request) (*policy.Principal, string, error) {
	return &policy.Principal{ID: r.Header.Get("X-Test-Client")}, "", nil
}

func (clientAuth) Challenge(w http.ResponseWriter, _ error) { w.WriteHeader(http.StatusUnauthorized) }

// sendModern posts one 2026-07-28 message as client and returns the HTTP status and body.
func sendModern(ctx context.Context, url, client string, msg map[string]any) (int, []byte, error) {
	msg["jsonrpc"] = "2.0"
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("X-Test-Client", client)
	if method, ok := msg["method"].(string); ok && msg["id"] != nil {
		req.Header.Set("Mcp-Method", method)
		if p, ok := msg["params"].(map[string]any); ok {
			if name, ok := p["name"].(string); ok {
				req.Header.Set("Mcp-Name", name)
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// modernMeta is the per-request _meta of a 2026-07-28 request.
func modernMeta() map[string]any {
	return map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
}

// sessionLog records the messages a legacy server received in sessions.
type sessionLog struct {
	mu   sync.Mutex
	msgs []map[string]any
	// calls receives the id of every tools/call the server receives.
	calls chan any
}

func (l *sessionLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && r.Header.Get("Mcp-Session-Id") != "" {
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
			if m["method"] == "tools/call" {
				l.calls <- m["id"]
			}
		}
		next.ServeHTTP(w, r)
	})
}

// notifications returns the notifications received after the first skip messages.
func (l *sessionLog) notifications(skip int) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.msgs[min(skip, len(l.msgs)):] {
		if m["id"] == nil {
			out = append(out, m)
		}
	}
	return out
}

func (l *sessionLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// Two 2026-07-28 clients share gatehouse's one legacy session with a legacy server. Client B can
// neither cancel client A's call — by gatehouse's guessable id in that session or by A's own id —
// nor push legacy-only notifications into the session; A's cancellation of its own call reaches the
// server under gatehouse's id for it.
func TestServeBridgedCancellationsStayWithTheirClient(t *testing.T) {
	log := &sessionLog{calls: make(chan any, 4)}
	s := mcp.NewServer(&mcp.Implementation{Name: "old", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	srv := httptest.NewServer(log.wrap(typescriptRefusals(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))))
	t.Cleanup(srv.Close)
	up := httpUpstream(t, "old", "", srv.URL)
	up.Timeout = 10 * time.Second
	url, _ := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{up}}, nil, func(_ *Options, c *streamable.Config) { c.Auth = clientAuth{} })

	// The era is learned, and gatehouse's session opened, by a first request.
	if status, body, err := sendModern(context.Background(), url, "a", map[string]any{"id": 1, "method": "tools/list", "params": map[string]any{"_meta": modernMeta()}}); err != nil || status != 200 {
		t.Fatalf("tools/list: %d %s %v", status, body, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sendModern(ctx, url, "a", map[string]any{"id": 1, "method": "tools/call", "params": map[string]any{"name": "slow", "arguments": map[string]any{"message": "hi"}, "_meta": modernMeta()}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var inSession any
	select {
	case inSession = <-log.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never reached the server")
	}
	if inSession == float64(1) {
		t.Fatalf("the call went into the shared session under the client's id %v, want one of gatehouse's", inSession)
	}

	before := log.len()
	notify := func(client, method string, params map[string]any) {
		t.Helper()
		msg := map[string]any{"method": method}
		if params != nil {
			msg["params"] = params
		}
		if status, body, err := sendModern(context.Background(), url, client, msg); err != nil || status != http.StatusAccepted {
			t.Fatalf("%s from %s: %d %s %v, want 202", method, client, status, body, err)
		}
	}
	notify("b", "notifications/cancelled", map[string]any{"requestId": inSession, "reason": "guessed"})
	notify("b", "notifications/cancelled", map[string]any{"requestId": 1, "reason": "A's own id"})
	notify("b", "notifications/roots/list_changed", nil)
	notify("b", "notifications/initialized", nil)
	notify("a", "notifications/cancelled", map[string]any{"requestId": 2, "reason": "not in flight"})
	if got := log.notifications(before); len(got) != 0 {
		t.Fatalf("the shared session received %v, want nothing: none of these is a client's cancellation of its own call", got)
	}

	notify("a", "notifications/cancelled", map[string]any{"requestId": 1, "reason": "changed my mind"})
	got := log.notifications(before)
	if len(got) != 1 {
		t.Fatalf("after A cancelled its call the session received %v, want one cancellation", got)
	}
	p, _ := got[0]["params"].(map[string]any)
	if got[0]["method"] != "notifications/cancelled" || p["requestId"] != inSession || p["reason"] != "changed my mind" {
		t.Errorf("A's cancellation reached the server as %v, want requestId %v (gatehouse's id for the call)", got[0], inSession)
	}
}

// fakeLegacy is a hand-written legacy Streamable HTTP server, for what real servers do not do on
// demand (hang). It answers initialize with a session, accepts notifications and answers, refuses
// GET (405), counts DELETEs and answers any other request with an empty result; handle, when set,
// sees every POST first and returns true when it answered it. Whatever hangs in it ends with the
// test.
type fakeLegacy struct {
	url     string
	deletes atomic.Int32
	release chan struct{}
	once    sync.Once
}

// stop ends whatever hangs.
func (f *fakeLegacy) stop() { f.once.Do(func() { close(f.release) }) }

type fakeMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func newFakeLegacy(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, m fakeMsg) bool) *fakeLegacy {
	t.Helper()
	f := &fakeLegacy{release: make(chan struct{})}
	var sessions atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			f.deletes.Add(1)
			return
		case http.MethodGet:
			if handle == nil || !handle(w, r, fakeMsg{}) {
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
			return
		}
		var m fakeMsg
		json.NewDecoder(r.Body).Decode(&m)
		if handle != nil && handle(w, r, m) {
			return
		}
		switch {
		case m.Method == "" || m.ID == nil:
			w.WriteHeader(http.StatusAccepted)
		case m.Method == "initialize":
			w.Header().Set("Mcp-Session-Id", fmt.Sprintf("s-%d", sessions.Add(1)))
			fakeResult(w, m.ID, `{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"fake","version":"1"}}`)
		default:
			fakeResult(w, m.ID, `{}`)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(f.stop) // before srv.Close, which waits for the handlers
	f.url = srv.URL
	return f
}

func fakeResult(w http.ResponseWriter, id json.RawMessage, result string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result)
}

// hang holds a request until its client goes away or the test ends.
func (f *fakeLegacy) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}

// A legacy server that accepts connections and never answers gatehouse's initialize: while the
// handshake waits, /readyz's upstream states and a legacy client's requests are not held up, and
// the 2026-07-28 clients that need the session wait for one handshake, not one each.
func TestServeBridgeHandshakeDoesNotBlock(t *testing.T) {
	var handshakes atomic.Int32
	started := make(chan struct{}, 8)
	var f *fakeLegacy
	f = newFakeLegacy(t, func(w http.ResponseWriter, r *http.Request, m fakeMsg) bool {
		if m.Method != "initialize" || !strings.Contains(string(m.Params), `"name":"gatehouse"`) {
			return false
		}
		handshakes.Add(1)
		started <- struct{}{}
		f.hang(r)
		return true
	})
	up := httpUpstream(t, "old", "", f.url)
	up.Timeout = 5 * time.Second
	up.setEra(eraLegacy)
	url, backend := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{up}}, nil, nil)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, client := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendModern(ctx, url, client, map[string]any{"id": 1, "method": "tools/list", "params": map[string]any{"_meta": modernMeta()}})
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("gatehouse never began its handshake")
	}
	time.Sleep(100 * time.Millisecond) // let the second client reach the handshake too

	within := func(what string, d time.Duration, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
		case <-time.After(d):
			t.Errorf("%s took longer than %v while the handshake hangs", what, d)
			<-done
		}
	}
	within("the upstream states (/readyz)", time.Second, func() { backend.UpstreamStates() })
	within("a legacy client's initialize", 2*time.Second, func() {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"legacy","version":"1"}}}`
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("legacy initialize: %v", err)
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), `"fake"`) {
			t.Errorf("legacy initialize: %d %s, want the server's answer", resp.StatusCode, raw)
		}
	})
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes under way for two waiting clients, want 1", n)
	}
}

// A legacy server that asks a 2026-07-28 client something in a bridged call and then never takes
// gatehouse's refusal: the call still ends within the request timeout.
func TestServeBridgedServerRequestRefusalIsBounded(t *testing.T) {
	var f *fakeLegacy
	f = newFakeLegacy(t, func(w http.ResponseWriter, r *http.Request, m fakeMsg) bool {
		switch {
		case m.Method == "tools/call":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"ask\",\"method\":\"sampling/createMessage\",\"params\":{}}\n\n")
			w.(http.Flusher).Flush()
			f.hang(r)
			return true
		case m.Method == "" && string(m.ID) == `"ask"`: // gatehouse's refusal
			f.hang(r)
			return true
		}
		return false
	})
	up := httpUpstream(t, "old", "", f.url)
	up.Timeout = 300 * time.Millisecond
	up.setEra(eraLegacy)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{up}}, nil)
	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		status, body, err := modernPost(url, "tools/call", map[string]any{"name": "ask", "arguments": map[string]any{}})
		got <- answer{status, body, err}
	}()
	select {
	case a := <-got:
		if a.err != nil || a.status != http.StatusBadGateway {
			t.Errorf("tools/call: %d %v %v, want 502 once the request timeout ran out", a.status, a.body, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the call was still waiting for gatehouse's refusal of the server's request after 5s; the request timeout is 300ms")
		f.stop()
		<-got
	}
}

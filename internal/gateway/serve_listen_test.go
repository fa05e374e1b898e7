package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// listenUpstream is a Go SDK server with a tool and a resource, whose tools can be changed while a
// listen stream is open; legacy makes it a legacy-only server that refuses stateless requests as
// npm servers do. deletes counts the sessions gatehouse ended.
type listenUpstream struct {
	srv     *mcp.Server
	url     string
	deletes atomic.Int32
}

func newListenUpstream(t *testing.T, name string, legacy bool) *listenUpstream {
	t.Helper()
	var opts *mcp.ServerOptions
	hopts := &mcp.StreamableHTTPOptions{Stateless: true}
	if legacy {
		opts, hopts = &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}}, nil
	}
	u := &listenUpstream{srv: mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, opts)}
	mcp.AddTool(u.srv, &mcp.Tool{Name: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil, nil
	})
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return u.srv }, hopts)
	if legacy {
		h = typescriptRefusals(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			u.deletes.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

func (u *listenUpstream) addTool(name string) {
	mcp.AddTool(u.srv, &mcp.Tool{Name: name}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
}

// openListen sends a 2026-07-28 subscriptions/listen request and returns the messages of its
// stream as they come; cancel ends the stream.
func openListen(t *testing.T, url string, notifications map[string]any) (<-chan map[string]any, context.CancelFunc) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": map[string]any{
		"notifications": notifications,
		"_meta":         map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("subscriptions/listen: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
	}
	ch := make(chan map[string]any, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(d), &m) == nil {
					ch <- m
				}
			}
		}
	}()
	return ch, cancel
}

func next(t *testing.T, ch <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the listen stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came on the listen stream")
	}
	return nil
}

// subscriptions/listen with two upstreams — one 2026-07-28, one legacy-only and bridged — is one
// stream: one acknowledgment (the union of theirs, tagged with the client's request id), then the
// list changes of both, until the client goes away, when gatehouse ends its legacy session.
func TestServeFederatesSubscriptionsListen(t *testing.T) {
	modern := newListenUpstream(t, "alpha", false)
	legacy := newListenUpstream(t, "beta", true)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "alpha", "alpha", modern.url), httpUpstream(t, "beta", "beta", legacy.url)}}, nil)

	stream, cancel := openListen(t, url, map[string]any{"toolsListChanged": true, "promptsListChanged": true})
	defer cancel()
	ack := next(t, stream)
	params, _ := ack["params"].(map[string]any)
	meta, _ := params["_meta"].(map[string]any)
	got, _ := params["notifications"].(map[string]any)
	if ack["method"] != "notifications/subscriptions/acknowledged" || meta["io.modelcontextprotocol/subscriptionId"] != float64(1) || got["toolsListChanged"] != true {
		t.Fatalf("first message %v, want one acknowledgment of toolsListChanged for request 1", ack)
	}
	if got["promptsListChanged"] == true {
		t.Errorf("acknowledged promptsListChanged, which neither upstream offers (no prompts): %v", got)
	}
	for _, up := range []*listenUpstream{modern, legacy} {
		up.addTool("added")
		m := next(t, stream)
		if m["method"] != "notifications/tools/list_changed" {
			t.Errorf("after adding a tool: %v, want notifications/tools/list_changed", m)
		}
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for legacy.deletes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if legacy.deletes.Load() == 0 {
		t.Error("the legacy session opened for the listen stream was not ended when the client went away")
	}
}

// The Go SDK's client opens subscriptions/listen as part of connecting when it wants list changes;
// through a federation it connects, and hears of a change in either upstream.
func TestServeSDKClientListensThroughFederation(t *testing.T) {
	modern := newListenUpstream(t, "alpha", false)
	legacy := newListenUpstream(t, "beta", true)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "alpha", "alpha", modern.url), httpUpstream(t, "beta", "beta", legacy.url)}}, nil)
	changed := make(chan struct{}, 8)
	client := mcp.NewClient(&mcp.Implementation{Name: "listener", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	s, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer s.Close()
	for _, up := range []*listenUpstream{legacy, modern} {
		up.addTool("added")
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatal("no tools/list_changed reached the client")
		}
	}
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 4 {
		t.Errorf("tools after the changes: %v %v, want alpha's and beta's echo and added", tools, err)
	}
}

// One unprefixed legacy-only upstream: the listen request is relayed as it is, and the bridge
// emulates it from a legacy session of its own.
func TestServeBridgesSubscriptionsListenToLegacyUpstream(t *testing.T) {
	legacy := newListenUpstream(t, "beta", true)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{httpUpstream(t, "beta", "", legacy.url)}}, nil)
	stream, cancel := openListen(t, url, map[string]any{"toolsListChanged": true})
	defer cancel()
	if ack := next(t, stream); ack["method"] != "notifications/subscriptions/acknowledged" ||
		ack["params"].(map[string]any)["notifications"].(map[string]any)["toolsListChanged"] != true {
		t.Fatalf("first message %v, want an acknowledgment of toolsListChanged", ack)
	}
	legacy.addTool("added")
	m := next(t, stream)
	meta, _ := m["params"].(map[string]any)["_meta"].(map[string]any)
	if m["method"] != "notifications/tools/list_changed" || meta["io.modelcontextprotocol/subscriptionId"] != float64(1) {
		t.Errorf("after adding a tool: %v, want notifications/tools/list_changed tagged with subscription 1", m)
	}
}

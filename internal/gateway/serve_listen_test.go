package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
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

// listenRequest is a 2026-07-28 subscriptions/listen request's message for sendModern.
func listenRequest(notifications map[string]any) map[string]any {
	return map[string]any{"id": 1, "method": "subscriptions/listen", "params": map[string]any{"notifications": notifications, "_meta": modernMeta()}}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A federated listen request that fails after some upstreams opened their streams — here the
// union of the acknowledgments is over the message limit, because one upstream acknowledged far
// more than it was asked — closes what they opened: the legacy session gatehouse opened for the
// stream is ended.
func TestServeFailedListenClosesWhatItOpened(t *testing.T) {
	var uris []string
	for i := range 200 {
		uris = append(uris, fmt.Sprintf("file:///a/rather/long/path/to/resource/%04d", i))
	}
	ack, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
		"params": map[string]any{"_meta": map[string]any{"io.modelcontextprotocol/subscriptionId": 1},
			"notifications": map[string]any{"toolsListChanged": true, "resourceSubscriptions": uris}}})
	boastful := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "data: %s\n\n", ack)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(boastful.Close)
	legacy := newListenUpstream(t, "beta", true)
	url, _ := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "alpha", "alpha", boastful.URL), httpUpstream(t, "beta", "beta", legacy.url)}}, nil,
		func(o *Options, _ *streamable.Config) { o.Limits.MaxBytes = 4096 })
	status, body, err := sendModern(context.Background(), url, "a", listenRequest(map[string]any{"toolsListChanged": true}))
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Fatalf("subscriptions/listen: %d %s %v, want 413 (the acknowledgment is over the limit)", status, body, err)
	}
	if !waitFor(func() bool { return legacy.deletes.Load() == 1 }) {
		t.Errorf("legacy sessions ended: %d, want 1: the one opened for the failed listen stream", legacy.deletes.Load())
	}
}

// Setting an emulated listen stream up is bounded: a legacy server whose GET stream never answers
// fails the listen request after listenAckTimeout, and the session opened for it is ended.
func TestServeListenSetupIsBounded(t *testing.T) {
	defer func(d time.Duration) { listenAckTimeout = d }(listenAckTimeout)
	listenAckTimeout = 300 * time.Millisecond
	var f *fakeLegacy
	f = newFakeLegacy(t, func(w http.ResponseWriter, r *http.Request, m fakeMsg) bool {
		if r.Method == http.MethodGet {
			f.hang(r)
			return true
		}
		return false
	})
	up := httpUpstream(t, "old", "", f.url)
	up.setEra(eraLegacy)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{up}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, body, err := sendModern(ctx, url, "a", listenRequest(map[string]any{"toolsListChanged": true}))
	if err != nil || status != http.StatusBadGateway {
		t.Fatalf("subscriptions/listen: %d %s %v, want 502 within the setup bound", status, body, err)
	}
	if !waitFor(func() bool { return f.deletes.Load() == 1 }) {
		t.Errorf("legacy sessions ended: %d, want 1", f.deletes.Load())
	}
}

// A listen request may subscribe to at most maxResourceSubscriptions resources; more is invalid
// params, and nothing is opened.
func TestServeListenCapsResourceSubscriptions(t *testing.T) {
	modern := newListenUpstream(t, "alpha", false)
	legacy := newListenUpstream(t, "beta", true)
	url := allowAllServer(t, ServeOptions{Upstreams: []Upstream{
		httpUpstream(t, "alpha", "alpha", modern.url), httpUpstream(t, "beta", "beta", legacy.url)}}, nil)
	uris := make([]string, maxResourceSubscriptions+1)
	for i := range uris {
		uris[i] = fmt.Sprintf("file:///r/%d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, raw, err := sendModern(ctx, url, "a", listenRequest(map[string]any{"resourceSubscriptions": uris}))
	var body map[string]any
	json.Unmarshal(raw, &body)
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if err != nil || status != http.StatusOK || e["code"] != float64(-32602) || !strings.Contains(msg, fmt.Sprintf("at most %d", maxResourceSubscriptions)) {
		t.Fatalf("listen with %d subscriptions: %d %s %v, want -32602 saying at most %d", len(uris), status, raw, err, maxResourceSubscriptions)
	}
	if n := legacy.deletes.Load(); n != 0 {
		t.Errorf("a legacy session was opened (and ended) for a refused listen request")
	}
}

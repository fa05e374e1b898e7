package streamable

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// A client that stops reading its answer fails the write once http.write_timeout passes: the
// request ends, and the backend's Send returns an error instead of waiting forever.
func TestWriteTimeoutEndsAStreamNobodyReads(t *testing.T) {
	sendErr := make(chan error, 1)
	srv := newTestHandler(t, Config{WriteTimeout: 200 * time.Millisecond}, &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
		event := []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + strings.Repeat("x", 32<<10) + `"}}`)
		for {
			if err := ans.Send(event); err != nil {
				sendErr <- err
				return
			}
		}
	}})
	// A raw connection with a small receive buffer that reads nothing after the status line.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
		"MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("status line %q: %v", line, err)
	}
	select {
	case err := <-sendErr:
		if err == nil {
			t.Fatal("Send returned no error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Send still waits for a client that does not read")
	}
}

// A request body that does not arrive within http.read_timeout is answered 408 and never reaches
// the backend.
func TestReadTimeoutRefusesASlowBody(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestHandler(t, Config{ReadTimeout: 200 * time.Millisecond}, b)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("slow body: HTTP %d, want 408", resp.StatusCode)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) != 0 {
		t.Errorf("the backend saw %v", b.seen)
	}
}

// With http.max_in_flight requests being handled, one more is refused 503 with Retry-After, and
// counted; once one finishes, the next is handled.
func TestMaxInFlightShedsTheRequestOverTheLimit(t *testing.T) {
	entered, release := make(chan struct{}, 2), make(chan struct{})
	h := &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
		entered <- struct{}{}
		<-release
		ans.Finish([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), http.StatusOK)
	}}
	cfg := Config{MaxInFlight: 2, Auth: whoAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true}
	handler := New(cfg, h)
	srv := httptest.NewServer(handler)
	defer func() { srv.Close(); handler.Close() }()
	call := modern("tools/call", "x", nil)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, _ := do(t, srv.URL, call)
			done <- resp.StatusCode
		}()
		<-entered
	}
	resp, body := do(t, srv.URL, call)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "try again later") {
		t.Errorf("request over the limit: HTTP %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := handler.Shed(); n != 1 {
		t.Errorf("Shed() = %d, want 1", n)
	}
	close(release)
	for range 2 {
		if status := <-done; status != 200 {
			t.Errorf("request under the limit: HTTP %d", status)
		}
	}
	if resp, _ := do(t, srv.URL, call); resp.StatusCode != 200 {
		t.Errorf("after the others finished: HTTP %d", resp.StatusCode)
	}
}

// listenBackend keeps every GET stream open until its context ends, and counts those open.
type listenBackend struct {
	fakeBackend
	open atomic.Int32
}

func (b *listenBackend) Listen(ctx context.Context, s *Session, out Stream) {
	b.open.Add(1)
	defer b.open.Add(-1)
	<-ctx.Done()
}

// A session has one GET stream at a time: a new GET ends the one before, so a client cannot open
// streams, and upstream streams behind them, without bound.
func TestANewGETStreamEndsTheOneBefore(t *testing.T) {
	b := &listenBackend{}
	srv := newTestHandler(t, Config{}, b)
	resp, _ := do(t, srv.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": "alice"}})
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		t.Fatalf("initialize: HTTP %d", resp.StatusCode)
	}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("X-Who", "alice")
		req.Header.Set("Mcp-Session-Id", id)
		return http.DefaultClient.Do(req)
	}
	var streams []*http.Response
	for i := range 5 {
		resp, err := get()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d: %v %v", i, resp, err)
		}
		defer resp.Body.Close()
		streams = append(streams, resp)
	}
	// Every stream but the last ends.
	for i, resp := range streams[:4] {
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, resp.Body)
			done <- err
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("GET %d is still open after 4 more", i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.open.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := b.open.Load(); n != 1 {
		t.Errorf("%d listen streams open in the backend, want 1", n)
	}
}

// Under HTTP/2 a write deadline is a timer that resets the stream when it fires: a streamed answer
// quiet for longer than http.write_timeout between two events must still be delivered whole.
func TestAQuietStreamOutlivesTheWriteTimeoutOverHTTP2(t *testing.T) {
	const timeout = 200 * time.Millisecond
	b := &funcBackend{request: func(_ context.Context, ex *Exchange, ans Answer) {
		ans.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`))
		time.Sleep(4 * timeout)
		ans.Finish(jsonrpc.Result(ex.Msg.ID, []byte(`{"ok":true}`)), http.StatusOK)
	}}
	cfg := Config{WriteTimeout: timeout, Auth: whoAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true}
	handler := New(cfg, b)
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer func() { srv.Close(); handler.Close() }()
	call := modern("tools/call", "x", nil)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(call.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range call.headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || err != nil || !strings.Contains(string(body), `"ok":true`) {
		t.Errorf("HTTP/%d: %v, body %q; want the final answer", resp.ProtoMajor, err, body)
	}
}

// Open subscriptions/listen streams count in MaxListens, not MaxInFlight: they cannot keep calls
// out, and one more than MaxListens is refused.
func TestListenStreamsDoNotKeepCallsOut(t *testing.T) {
	opened := make(chan struct{}, 4)
	b := &funcBackend{request: func(ctx context.Context, ex *Exchange, ans Answer) {
		if ex.Msg.Method == "subscriptions/listen" {
			ans.Stream()
			opened <- struct{}{}
			<-ctx.Done()
			return
		}
		ans.Finish(jsonrpc.Result(ex.Msg.ID, []byte(`{"ok":true}`)), http.StatusOK)
	}}
	cfg := Config{MaxInFlight: 1, MaxListens: 2, Auth: whoAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true}
	handler := New(cfg, b)
	srv := httptest.NewServer(handler)
	defer func() { srv.Close(); handler.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listen := func() (*http.Response, error) {
		spec := modern("subscriptions/listen", "", nil)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(spec.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range spec.headers {
			req.Header.Set(k, v)
		}
		return http.DefaultClient.Do(req)
	}
	for i := range 2 {
		go listen()
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
			t.Fatalf("listen %d was not opened", i)
		}
	}
	if resp, body := do(t, srv.URL, modern("tools/call", "x", nil)); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Errorf("a call with two listens open and max_in_flight 1: HTTP %d %s", resp.StatusCode, body)
	}
	resp, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a third listen with max_listens 2: HTTP %d, want 503", resp.StatusCode)
	}
}

// One caller cannot hold every session: past http.max_sessions_per_caller its initialize is refused
// 429, others still open theirs, and a session it ends makes room again.
func TestSessionsPerCaller(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestHandler(t, Config{MaxSessions: 10, MaxSessionsPerCaller: 2}, b)
	open := func(who string) (int, string) {
		resp, _ := do(t, srv.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": who}})
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	var ids []string
	for range 2 {
		status, id := open("mallory")
		if status != 200 || id == "" {
			t.Fatalf("mallory's session: %d %q", status, id)
		}
		ids = append(ids, id)
	}
	if status, id := open("mallory"); status != http.StatusTooManyRequests || id != "" {
		t.Errorf("mallory's third session: %d %q, want 429 and no session", status, id)
	}
	if status, id := open("alice"); status != 200 || id == "" {
		t.Errorf("alice's session: %d %q", status, id)
	}
	do(t, srv.URL, reqSpec{method: http.MethodDelete, headers: map[string]string{"X-Who": "mallory", "Mcp-Session-Id": ids[0]}})
	if status, _ := open("mallory"); status != 200 {
		t.Errorf("mallory's session after ending one: %d, want 200", status)
	}
}

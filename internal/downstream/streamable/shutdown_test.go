package streamable

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// streamingBackend keeps listen streams open until their context ends, and answers tools/call
// after a delay.
type streamingBackend struct {
	fakeBackend
	slow time.Duration
	// listenEnded receives the cause of each listen stream's end.
	listenEnded chan error
}

func (b *streamingBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	switch ex.Msg.Method {
	case "subscriptions/listen":
		ans.Stream()
		ans.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged"}`))
		<-ctx.Done()
		b.listenEnded <- context.Cause(ctx)
	case "tools/call":
		time.Sleep(b.slow)
		ans.Finish(jsonrpc.Result(ex.Msg.ID, []byte(`{"slept":true}`)), http.StatusOK)
	default:
		b.fakeBackend.Request(ctx, ex, ans)
	}
}

func (b *streamingBackend) Listen(ctx context.Context, s *Session, out Stream) {
	out.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`))
	<-ctx.Done()
	b.listenEnded <- context.Cause(ctx)
}

// openStream sends req and returns its response once the first event has arrived.
func openStream(t *testing.T, req *http.Request) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%s %s: %d %s, want a 200 event stream", req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: stream ended before its first event: %v", req.Method, err)
		}
		if strings.HasPrefix(line, "data:") {
			return resp, br
		}
	}
}

// TestEndStreamsLetsShutdownFinish checks that a graceful shutdown is not held up by listen streams:
// with a legacy GET stream and a 2026-07-28 subscriptions/listen stream open and a slow call in
// flight, EndStreams then Shutdown returns as soon as the call is answered, the call gets its
// answer, and both streams end cleanly.
func TestEndStreamsLetsShutdownFinish(t *testing.T) {
	b := &streamingBackend{slow: 400 * time.Millisecond, listenEnded: make(chan error, 2)}
	h := New(Config{Auth: whoAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true}, b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	resp, _ := do(t, srv.URL, reqSpec{body: legacyInit})
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize opened no session: %d", resp.StatusCode)
	}
	get, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	get.Header.Set("Accept", "text/event-stream")
	get.Header.Set("Mcp-Session-Id", sid)
	getResp, getBody := openStream(t, get)
	defer getResp.Body.Close()

	const listen = `{"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	lreq, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(listen))
	lreq.Header.Set("Content-Type", "application/json")
	lreq.Header.Set("Accept", "application/json, text/event-stream")
	lreq.Header.Set("MCP-Protocol-Version", "2026-07-28")
	lreq.Header.Set("Mcp-Method", "subscriptions/listen")
	listenResp, listenBody := openStream(t, lreq)
	defer listenResp.Body.Close()

	called := make(chan string, 1)
	go func() {
		_, body := do(t, srv.URL, reqSpec{body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow"}}`,
			headers: map[string]string{"Mcp-Session-Id": sid}})
		called <- body
	}()
	time.Sleep(100 * time.Millisecond) // the call is in flight

	const grace = 3 * time.Second
	start := time.Now()
	h.EndStreams()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v after %v, want it to finish once the call is answered", err, time.Since(start))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %v, want well within the %v grace", took, grace)
	}
	if got := <-called; !strings.Contains(got, `"slept":true`) {
		t.Errorf("the call in flight got %q, want its answer", got)
	}
	for name, body := range map[string]*bufio.Reader{"GET stream": getBody, "subscriptions/listen stream": listenBody} {
		ended := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(body)
			ended <- err
		}()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("%s: %v, want a clean end", name, err)
			}
		case <-time.After(time.Second):
			t.Errorf("%s is still open after shutdown", name)
		}
	}
	srv.CloseClientConnections()
	for range 2 {
		select {
		case cause := <-b.listenEnded:
			if !errors.Is(cause, ErrStreamsEnded) {
				t.Errorf("a listen stream ended with cause %v, want ErrStreamsEnded", cause)
			}
		case <-time.After(time.Second):
			t.Fatal("a listen stream did not end")
		}
	}
	if n := h.Sessions().Len(); n != 1 {
		t.Errorf("%d sessions after EndStreams, want the session untouched", n)
	}
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	upstreamhttp "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// TestServeUpstreamStates checks what /readyz shows of HTTP upstreams: how the last exchanges went,
// the last fault, and whether the upstream counts as usable — not after one failure, but after
// failuresToFail in a row.
func TestServeUpstreamStates(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	byName := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, st := range h.backend.UpstreamStates() {
			out[st["name"].(string)] = st
		}
		return out
	}
	for name, st := range byName() {
		if st["kind"] != "http" || st["state"] != "unknown" || st["usable"] != true {
			t.Errorf("%s before any request: %v, want an http upstream in state unknown, usable", name, st)
		}
	}
	if status, body := post(t, h.url, "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "hi"}}); status != http.StatusOK {
		t.Fatalf("call to files: %d %v", status, body)
	}
	h.calc.srv.Close()
	for i := 1; i <= failuresToFail; i++ {
		if status, _ := post(t, h.url, "tools/call", map[string]any{"name": "calc.add", "arguments": map[string]any{"a": 1, "b": 2}}); status != http.StatusBadGateway {
			t.Fatalf("call %d to the closed upstream: %d, want 502", i, status)
		}
		states := byName()
		if f := states["files"]; f["state"] != "ok" || f["usable"] != true || f["last_ok"] == nil || f["last_error"] != nil || f["era"] == "unknown" {
			t.Errorf("files after a good call: %v, want state ok, usable, its era learned, no error", f)
		}
		c := states["calc"]
		if c["last_error"] == nil || c["last_error_at"] == nil || c["consecutive_failures"] != i {
			t.Errorf("calc after %d failed calls: %v, want its last error and %d consecutive failures", i, c, i)
		}
		if want := i < failuresToFail; c["usable"] != want || (want && c["state"] != "degraded") || (!want && c["state"] != "failing") {
			t.Errorf("calc after %d failed calls: %v, want usable %v (degraded until %d in a row, then failing)", i, c, want, failuresToFail)
		}
	}
}

// Only the upstream's own faults count against it: a request that runs out of time or that the
// upstream refuses with a 4xx is the request's problem, and a client could repeat it at will to
// take every replica out of rotation. A 5xx from in front of the upstream, or a connection it
// refuses, counts — after failuresToFail in a row; an answer in between starts the count again.
func TestServeHealthCountsOnlyUpstreamFaults(t *testing.T) {
	answer := sdkUpstreamWith(t, "flaky", nil, func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil, nil
		})
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var m struct {
				Params struct{ Name string } `json:"params"`
			}
			json.Unmarshal(body, &m)
			switch m.Params.Name {
			case "slow": // outlasts the request timeout
				<-r.Context().Done()
			case "large": // a body the upstream (or a proxy) will not take
				http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			case "broken": // a proxy in front of an upstream that is down
				http.Error(w, "<html>Bad Gateway</html>", http.StatusBadGateway)
			default:
				next.ServeHTTP(w, r)
			}
		})
	})
	up := httpUpstream(t, "flaky", "", answer)
	up.Timeout = 200 * time.Millisecond
	url, backend := allowAllBackend(t, ServeOptions{Upstreams: []Upstream{up}}, nil, nil)
	call := func(tool string) int {
		t.Helper()
		status, _ := post(t, url, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{"message": "hi"}})
		return status
	}
	state := func() map[string]any { return backend.UpstreamStates()[0] }

	if status := call("echo"); status != http.StatusOK {
		t.Fatalf("echo: %d", status)
	}
	for _, tool := range []string{"slow", "large"} {
		for i := 0; i < failuresToFail+1; i++ {
			if status := call(tool); status != http.StatusBadGateway {
				t.Fatalf("%s: %d, want 502", tool, status)
			}
		}
		if st := state(); st["state"] != "ok" || st["usable"] != true || st["last_error"] != nil {
			t.Errorf("after %d %s calls failed: %v, want state ok, usable, no error: the requests failed, not the upstream", failuresToFail+1, tool, st)
		}
	}
	for i := 1; i < failuresToFail; i++ {
		call("broken")
	}
	if st := state(); st["state"] != "degraded" || st["usable"] != true {
		t.Errorf("after %d 502s: %v, want degraded and still usable", failuresToFail-1, st)
	}
	call("echo")
	call("broken")
	if st := state(); st["state"] != "degraded" || st["usable"] != true || st["consecutive_failures"] != 1 {
		t.Errorf("after an answer and a 502: %v, want the count started again (1), usable", st)
	}
	for i := 1; i < failuresToFail; i++ {
		call("broken")
	}
	if st := state(); st["state"] != "failing" || st["usable"] != false {
		t.Errorf("after %d 502s in a row: %v, want failing, not usable", failuresToFail, st)
	}
}

// TestUpstreamFault checks which failures of a request are the upstream's fault.
func TestUpstreamFault(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://upstream", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name   string
		err    error
		status int
		want   bool
	}{
		{"connection refused", fmt.Errorf("upstream u: %w", refused), 0, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 200, true},
		{"stream ended before the answer", io.EOF, 200, true},
		{"cut short", io.ErrUnexpectedEOF, 200, true},
		{"bad gateway", fmt.Errorf("%w: HTTP 502: not JSON", upstreamhttp.ErrNotJSONRPC), 502, true},
		{"service unavailable, empty", io.EOF, 503, true},
		{"request timeout", fmt.Errorf("upstream u: %w", &url.Error{Op: "Post", URL: "http://upstream", Err: context.DeadlineExceeded}), 0, false},
		{"the client went away", context.Canceled, 0, false},
		{"too large for the upstream", fmt.Errorf("%w: HTTP 413: not JSON", upstreamhttp.ErrNotJSONRPC), 413, false},
		{"refused, empty body", io.EOF, 413, false},
		{"gatehouse's own", errors.New("the name could not be rewritten"), 0, false},
		{"session lost", ErrUpstreamSessionLost, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *upstreamFault
			if got := errors.As(fault(tt.err, tt.status), &f); got != tt.want {
				t.Errorf("fault(%v, %d) counts: %v, want %v", tt.err, tt.status, got, tt.want)
			}
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var errCut = errors.New("connection cut by the test")

// cutBody passes an SSE body through until the end of the first event containing marker, then
// fails as a dropped connection would.
type cutBody struct {
	body   io.ReadCloser
	marker []byte
	seen   []byte
	cut    bool
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	n, err := c.body.Read(p)
	start := len(c.seen)
	c.seen = append(c.seen, p[:n]...)
	if i := bytes.Index(c.seen, c.marker); i >= 0 {
		if j := bytes.Index(c.seen[i:], []byte("\n\n")); j >= 0 {
			c.cut = true
			c.body.Close()
			return i + j + 2 - start, nil
		}
	}
	return n, err
}

func (c *cutBody) Close() error { return c.body.Close() }

// cuttingTransport cuts the answer of the first POST whose body contains cutPost after its first
// progress notification, and records the Last-Event-ID of every GET.
type cuttingTransport struct {
	cutPost string
	mu      sync.Mutex
	cutDone bool
	resumes []string
}

func (tr *cuttingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cut := false
	if req.Method == http.MethodPost && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		tr.mu.Lock()
		if !tr.cutDone && strings.Contains(string(body), tr.cutPost) {
			tr.cutDone, cut = true, true
		}
		tr.mu.Unlock()
	}
	if req.Method == http.MethodGet {
		if id := req.Header.Get("Last-Event-ID"); id != "" {
			tr.mu.Lock()
			tr.resumes = append(tr.resumes, id)
			tr.mu.Unlock()
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && cut && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &cutBody{body: resp.Body, marker: []byte("notifications/progress")}
	}
	return resp, err
}

// TestServeResumesACutAnswer checks Last-Event-ID resumption through gatehouse serve with the Go SDK
// client in the 2025-11-25 era: a long tool call's streamed answer is cut after its first progress
// notification; the client resumes it with a GET carrying the last id it saw, and gets the rest —
// every progress notification exactly once, then the result — from gatehouse's replay buffer.
func TestServeResumesACutAnswer(t *testing.T) {
	dir := t.TempDir()
	gw := freeAddr(t)
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: ""}
pins: {file: memory}
policy:
  rules: %s
audit:
  path: %s
upstreams:
  - name: everything
    prefix: ""
    command: [%q, stdio]
`, gw, example("policies", "allow-all.yaml"), filepath.Join(dir, "audit.jsonl"), peer(t, "mcp-server-everything"))), 0o600)
	startServe(t, cfg, gw)

	tr := &cuttingTransport{cutPost: "trigger-long-running-operation"}
	progress := &progressLog{}
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, &mcp.ClientOptions{ProgressNotificationHandler: progress.add})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := connectLegacy(t, ctx, client, "http://"+gw+"/mcp", tr)
	resumedLongCall(t, ctx, s, tr, progress)
}

// connectLegacy connects client to endpoint through rt in the 2025-11-25 era (a legacy session),
// failing the test unless that era is negotiated. The session is closed when the test ends.
func connectLegacy(t *testing.T, ctx context.Context, client *mcp.Client, endpoint string, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: rt}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if v := s.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Fatalf("negotiated %s, want the legacy era 2025-11-25", v)
	}
	return s
}

// progressLog keeps the progress notifications a client receives.
type progressLog struct {
	mu  sync.Mutex
	got []float64
}

func (p *progressLog) add(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.got = append(p.got, r.Params.Progress)
	p.mu.Unlock()
}

// settled waits up to 2 s for n notifications (they are handled apart from the result), then
// 100 ms more to catch a duplicate arriving late, and returns them sorted.
func (p *progressLog) settled(n int) []float64 {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		have := len(p.got)
		p.mu.Unlock()
		if have >= n || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	got := slices.Clone(p.got)
	slices.Sort(got)
	return got
}

// resumedLongCall calls server-everything's trigger-long-running-operation (four steps) in session
// s, whose transport tr cuts the answer after its first progress notification, and checks that
// the client resumed the answer and got the result and every progress notification exactly once.
func resumedLongCall(t *testing.T, ctx context.Context, s *mcp.ClientSession, tr *cuttingTransport, progress *progressLog) {
	t.Helper()
	params := &mcp.CallToolParams{Name: "trigger-long-running-operation", Arguments: map[string]any{"duration": 2, "steps": 4}}
	params.SetProgressToken("resume-me")
	res, err := s.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("the cut call: %v, want its result through the resumption", err)
	}
	if text := toolText(res); !strings.Contains(text, "Long running operation completed") {
		t.Errorf("result %q, want the operation's completion", text)
	}
	tr.mu.Lock()
	cutDone, resumes := tr.cutDone, slices.Clone(tr.resumes)
	tr.mu.Unlock()
	t.Logf("resumed with Last-Event-ID %q", resumes)
	if !cutDone || len(resumes) == 0 {
		t.Fatalf("cut %v, resumptions %q: the test did not exercise resumption", cutDone, resumes)
	}
	if got := progress.settled(4); !slices.Equal(got, []float64{1, 2, 3, 4}) {
		t.Errorf("progress notifications %v, want 1 to 4, each exactly once", got)
	}
}

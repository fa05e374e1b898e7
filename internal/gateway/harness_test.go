package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// harness runs a Relay in-process between the test (playing the MCP client) and the test peer.
type harness struct {
	t         *testing.T
	in        io.WriteCloser
	out       *bufio.Reader
	record    string
	starts    string
	auditPath string
	writer    *auditlog.Writer
	logs      *syncBuffer
	done      chan error
	cancel    context.CancelFunc

	mu     sync.Mutex
	extra  []map[string]any // frames read while waiting for another id
	closed bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Harnesses that start while these are set run the relay with its event loop (eventLoop), and give it
// the client's input as an io.Reader that is not a file (clientAsReader), which the loop cannot take.
var eventLoop, clientAsReader bool

// setup customises a harness before it starts.
type setup struct {
	policy   string
	mode     pipeline.Mode
	fail     pipeline.Fail
	agent    string
	roles    []string
	store    state.Store
	opts     func(*Options)
	env      []string
	maxBytes int
	// maxTokens bounds the tokens of every frame, as limits.max_tokens does.
	maxTokens int
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, record: filepath.Join(dir, "record.jsonl"), starts: filepath.Join(dir, "starts"),
		auditPath: filepath.Join(dir, "audit.jsonl"), logs: &syncBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if s.mode == "" {
		s.mode = pipeline.ModeEnforce
	}
	if s.fail == "" {
		s.fail = pipeline.FailClosed
	}
	if s.store == nil {
		s.store = state.NewMemory(nil)
	}
	var engines []*engine.Stage
	if s.policy != "" {
		pol, err := rules.Load("policy.yaml", []byte(s.policy))
		if err != nil {
			t.Fatalf("policy: %v", err)
		}
		engines = append(engines, engine.New(engine.Config{Name: "rules", Mode: s.mode, Fail: s.fail,
			Metrics: engine.NewMetrics(prometheus.NewRegistry()), Logger: logger}, engine.NewRules(pol)))
	}
	w, err := auditlog.Open(auditlog.Options{Path: h.auditPath, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h.writer = w
	o := Options{
		Limits:       jsonrpc.Limits{MaxBytes: s.maxBytes, MaxTokens: s.maxTokens},
		Identity:     identity.NewLocal(s.agent, s.roles),
		Engines:      engines,
		Fail:         s.fail,
		Store:        s.store,
		Recorder:     audit.NewRecorder(w, string(s.mode), logger),
		Logger:       logger,
		DrainTimeout: 2 * time.Second,
		EventLoop:    eventLoop,
	}
	if s.opts != nil {
		s.opts(&o)
	}
	gw := New(o)
	env := append([]string{"TESTPEER_RECORD=" + h.record, "TESTPEER_STARTS=" + h.starts}, s.env...)
	up := upstream.NewStdio(upstream.StdioConfig{Name: "peer", Command: []string{testpeer.Binary(t)}, Env: env,
		BackoffInitial: 20 * time.Millisecond, MaxFrame: s.maxBytes, Logger: logger})
	// The client's input is a pipe, as gatehouse run's stdin usually is; with clientAsReader it is a
	// plain io.Reader.
	var in io.Reader
	if clientAsReader {
		r, w := io.Pipe()
		in, h.in = r, w
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		in, h.in = r, w
	}
	outR, outW := io.Pipe()
	h.out = bufio.NewReaderSize(outR, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	relay := gw.NewRelay(&Session{ID: "sess_test", Upstream: "peer"}, up, in, outW)
	go func() {
		err := relay.Run(ctx, nil)
		outW.Close()
		h.done <- err
	}()
	t.Cleanup(func() {
		h.close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", h.logs.String())
		}
	})
	return h
}

// send writes one raw line as the client.
func (h *harness) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		h.t.Fatalf("client write: %v", err)
	}
}

// request sends a request and returns its response.
func (h *harness) request(id any, method string, params any) map[string]any {
	h.t.Helper()
	frame := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		frame["params"] = params
	}
	b, _ := json.Marshal(frame)
	h.send(string(b))
	return h.await(id)
}

// call makes a tools/call and returns its response.
func (h *harness) call(id any, tool string, args map[string]any) map[string]any {
	h.t.Helper()
	return h.request(id, "tools/call", map[string]any{"name": tool, "arguments": args})
}

// await reads frames until the response with id arrives; others are kept for next().
func (h *harness) await(id any) map[string]any {
	h.t.Helper()
	want := fmt.Sprint(id)
	h.mu.Lock()
	for i, f := range h.extra {
		if _, isResp := f["method"]; !isResp && fmt.Sprint(f["id"]) == want {
			h.extra = append(h.extra[:i], h.extra[i+1:]...)
			h.mu.Unlock()
			return f
		}
	}
	h.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		f := h.read()
		if _, isMsg := f["method"]; !isMsg && fmt.Sprint(f["id"]) == want {
			return f
		}
		h.mu.Lock()
		h.extra = append(h.extra, f)
		h.mu.Unlock()
	}
	h.t.Fatalf("no response for id %v", id)
	return nil
}

// read reads the next frame from the gateway.
func (h *harness) read() map[string]any {
	h.t.Helper()
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := h.out.ReadBytes('\n')
		ch <- res{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			h.t.Fatalf("reading gateway output: %v", r.err)
		}
		var f map[string]any
		if err := json.Unmarshal(r.line, &f); err != nil {
			h.t.Fatalf("gateway wrote a non-JSON line %q: %v", r.line, err)
		}
		return f
	case <-time.After(20 * time.Second):
		h.t.Fatalf("gateway wrote nothing for 20s")
		return nil
	}
}

// initialize performs the legacy handshake.
func (h *harness) initialize() {
	h.t.Helper()
	r := h.request(0, "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "test", "version": "1"}})
	if r["result"] == nil {
		h.t.Fatalf("initialize failed: %v", r)
	}
	h.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// close hangs up as the client and waits for the relay to finish.
func (h *harness) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	h.in.Close()
	go io.Copy(io.Discard, h.out)
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("relay: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Errorf("relay did not stop within 20s of the client hanging up")
		h.cancel()
	}
	if err := h.writer.Close(); err != nil {
		h.t.Errorf("closing audit: %v", err)
	}
}

// recorded returns what the upstream received, as raw lines.
func (h *harness) recorded() []string { return testpeer.Recorded(h.t, h.record) }

// received reports whether the upstream received a line containing s.
func (h *harness) received(s string) bool {
	for _, l := range h.recorded() {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// auditRecords closes the harness and returns the decision records of the audit log, after proving
// the log verifies.
func (h *harness) auditRecords() []auditlog.Record {
	return h.auditOf(auditlog.TypeDecision)
}

// auditOf returns the records of one type, after closing the harness and verifying the log.
func (h *harness) auditOf(typ string) []auditlog.Record {
	h.t.Helper()
	h.close()
	if _, err := auditlog.Verify([]string{h.auditPath}, auditlog.VerifyOptions{}); err != nil {
		h.t.Fatalf("audit log does not verify: %v", err)
	}
	data, err := os.ReadFile(h.auditPath)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []auditlog.Record
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		rec, err := auditlog.ParseLine(line)
		if err != nil {
			h.t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Type == typ {
			out = append(out, *rec)
		}
	}
	return out
}

// errorData returns the error data of a response, failing if it is not an error.
func errorData(t *testing.T, resp map[string]any) map[string]any {
	t.Helper()
	e, ok := resp["error"].(map[string]any)
	if !ok {
		t.Fatalf("response is not an error: %v", resp)
	}
	d, _ := e["data"].(map[string]any)
	return d
}

// resultText returns the first text content of a tools/call result.
func resultText(t *testing.T, resp map[string]any) string {
	t.Helper()
	r, ok := resp["result"].(map[string]any)
	if !ok {
		t.Fatalf("response has no result: %v", resp)
	}
	content, _ := r["content"].([]any)
	if len(content) == 0 {
		t.Fatalf("result has no content: %v", r)
	}
	txt, _ := content[0].(map[string]any)["text"].(string)
	return txt
}

// enforcingRules is the rules engine for pol in enforce mode, failing closed, with metrics of its own.
func enforcingRules(pol *rules.Policy, logger *slog.Logger) *engine.Stage {
	return engine.New(engine.Config{Name: "rules", Mode: pipeline.ModeEnforce, Fail: pipeline.FailClosed,
		Metrics: engine.NewMetrics(prometheus.NewRegistry()), Logger: logger}, engine.NewRules(pol))
}

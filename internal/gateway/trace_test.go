package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

const (
	clientTrace = "0af7651916cd43dd8448eb211c80319c"
	clientSpan  = "00f067aa0ba902b7"
)

// tracedHarness runs the relay with a tracer whose ended spans are recorded.
func tracedHarness(t *testing.T, cfg tracing.Config) (*harness, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tr := tracing.NewWithProcessor(sr, cfg).ForTransport("pipe")
	h := newHarness(t, setup{policy: testPolicy, opts: func(o *Options) { o.Tracer = tr }})
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return h, sr
}

// ended waits for the spans of n calls' server spans to end, and returns every span ended.
func ended(t *testing.T, sr *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := sr.Ended()
		servers := 0
		for _, s := range spans {
			if s.SpanKind() == trace.SpanKindServer {
				servers++
			}
		}
		if servers >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d server spans ended", servers, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// upstreamMeta returns the _meta of the tools/call the upstream received whose arguments carry mark.
func upstreamMeta(t *testing.T, h *harness, mark string) (line string, meta map[string]any) {
	t.Helper()
	for _, l := range h.recorded() {
		if !strings.Contains(l, mark) {
			continue
		}
		var f struct {
			Params struct {
				Meta map[string]any `json:"_meta"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("upstream received %q: %v", l, err)
		}
		return l, f.Params.Meta
	}
	t.Fatalf("the upstream did not receive %s", mark)
	return "", nil
}

// TestTracedCallJoinsTheClientsTrace drives a traced call through the relay to the recording
// peer: gatehouse's span continues the trace the client sent in _meta, the engine's verdict is a
// child span, and the upstream is given gatehouse's client span as its parent, with the client's
// other _meta and its arguments untouched. The span names the audit record that holds the call.
func TestTracedCallJoinsTheClientsTrace(t *testing.T) {
	h, sr := tracedHarness(t, tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"message":"TRACED"},` +
		`"_meta":{"traceparent":"00-` + clientTrace + `-` + clientSpan + `-01","tracestate":"rojo=1","progressToken":"p1"}}}`)
	if got := resultText(t, h.await(5)); got != "Echo: TRACED" {
		t.Fatalf("result %q", got)
	}
	_, meta := upstreamMeta(t, h, "TRACED")
	spans := ended(t, sr, 2) // initialize and the call
	var server, client, policy sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() != "tools/call echo" && s.Name() != "policy rules" {
			continue
		}
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindInternal:
			if s.Parent().TraceID().String() == clientTrace && spanAttr(s, "gatehouse.policy.phase") == "request" {
				policy = s // the result is decided too (testPolicy has a response rule): its own span
			}
		}
	}
	if server == nil || client == nil || policy == nil {
		t.Fatalf("spans %v: want a server, a client and a policy span of the call", spans)
	}
	if server.Parent().SpanID().String() != clientSpan || server.SpanContext().TraceID().String() != clientTrace {
		t.Errorf("server span's parent %v, want the client's %s", server.Parent(), clientSpan)
	}
	want := "00-" + clientTrace + "-" + client.SpanContext().SpanID().String() + "-01"
	if meta["traceparent"] != want {
		t.Errorf("upstream's traceparent %v, want gatehouse's client span %s", meta["traceparent"], want)
	}
	if meta["tracestate"] != "rojo=1" || meta["progressToken"] != "p1" {
		t.Errorf("upstream's _meta %v lost the client's other members", meta)
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() || policy.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("the client and policy spans are not children of the server span")
	}
	var responsePolicy bool
	for _, s := range spans {
		responsePolicy = responsePolicy || s.Name() == "policy rules" && spanAttr(s, "gatehouse.policy.phase") == "response" &&
			s.Parent().SpanID() == server.SpanContext().SpanID()
	}
	if !responsePolicy {
		t.Error("the result's decision has no policy span under the call")
	}
	if spanAttr(policy, "gatehouse.decision.rule_id") != "safe-tools" || spanAttr(server, "gatehouse.decision.effect") != "allow" {
		t.Errorf("policy span %v, server span %v", policy.Attributes(), server.Attributes())
	}
	decision := spanAttr(server, "gatehouse.decision_id")
	seq := spanAttr(server, "gatehouse.audit.seq")
	var found bool
	for _, r := range h.auditRecords() {
		if r.DecisionID == decision {
			found = seq != "" && seq == jsonNumber(r.Seq)
		}
	}
	if !found {
		t.Errorf("no audit record of decision %s at seq %s", decision, seq)
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestTracingChangesOnlyWhatItMust: a denied call is traced but never forwarded; an unsampled
// call, and any call with propagation off, reaches the upstream byte for byte.
func TestTracingChangesOnlyWhatItMust(t *testing.T) {
	t.Run("denied", func(t *testing.T) {
		h, sr := tracedHarness(t, tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true})
		h.initialize()
		resp := h.call(1, "temp.convert", map[string]any{"marker": "DENIED-MARKER"})
		if errorData(t, resp)["reason"] != "policy_deny" {
			t.Fatalf("not denied: %v", resp)
		}
		h.call(2, "echo", map[string]any{"message": "after"})
		if h.received("DENIED-MARKER") {
			t.Fatal("the upstream received a denied call")
		}
		for _, s := range ended(t, sr, 3) {
			if s.Name() == "tools/call temp.convert" {
				if s.SpanKind() != trace.SpanKindServer {
					t.Errorf("a denied call has a %s span", s.SpanKind())
				}
				if spanAttr(s, "error.type") != "policy_deny" || spanAttr(s, "gatehouse.audit.status") != "refused" {
					t.Errorf("denied call's span %v", s.Attributes())
				}
			}
		}
	})
	for _, tc := range []struct {
		name      string
		cfg       tracing.Config
		sampled   string
		wantSpans bool
	}{
		{"unsampled parent", tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true}, "00", false},
		{"propagation off", tracing.Config{SampleRatio: 1, AcceptParent: true}, "01", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, sr := tracedHarness(t, tc.cfg)
			h.initialize()
			line := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"_meta":{"traceparent":"00-` + clientTrace + `-` + clientSpan + `-` + tc.sampled + `"},"name":"echo","arguments":{"message":"ASIS"}}}`
			h.send(line)
			h.await(3)
			got, _ := upstreamMeta(t, h, "ASIS")
			if got != line {
				t.Errorf("upstream received\n%s\nwant byte for byte\n%s", got, line)
			}
			var traced bool
			for _, s := range ended(t, sr, 1) {
				traced = traced || s.Name() == "tools/call echo"
			}
			if traced != tc.wantSpans {
				t.Errorf("call traced = %v, want %v", traced, tc.wantSpans)
			}
		})
	}
}

// TestTracedHoldSpansTheWait: a call held for a human under approvals.wait is one span from its
// arrival to its answer, with the hold as an event, the decision as it ended (allowed once
// approved), and a forward made only after the approval.
func TestTracedHoldSpansTheWait(t *testing.T) {
	store := state.NewMemory(nil)
	sr := tracetest.NewSpanRecorder()
	tr := tracing.NewWithProcessor(sr, tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true})
	h := newHarness(t, setup{policy: approvalPolicy, agent: "a1", store: store, opts: func(o *Options) {
		o.Approvals = approval.Options{Wait: 30 * time.Second, Poll: 5 * time.Millisecond}
		o.Tracer = tr
	}})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":"held","method":"tools/call","params":{"name":"refund","arguments":{"amount":900}}}`)
	a := pendingApproval(t, store, 900)
	time.Sleep(20 * time.Millisecond)
	for _, s := range sr.Ended() {
		if s.Name() == "tools/call refund" {
			t.Fatalf("the held call's %s span ended before the hold was decided", s.SpanKind())
		}
	}
	approvedAt := time.Now()
	if _, err := store.DecideApproval(context.Background(), a.ID, true, "alice", "fine"); err != nil {
		t.Fatal(err)
	}
	if r := h.await("held"); r["result"] == nil {
		t.Fatalf("the held call after approval: %v", r)
	}
	var server, client sdktrace.ReadOnlySpan
	for _, s := range ended(t, sr, 2) {
		if s.Name() == "tools/call refund" {
			switch s.SpanKind() {
			case trace.SpanKindServer:
				server = s
			case trace.SpanKindClient:
				client = s
			}
		}
	}
	if server == nil || client == nil {
		t.Fatal("the held call has no server or no forward span")
	}
	if ev := server.Events(); len(ev) != 1 || ev[0].Name != "held for approval" {
		t.Errorf("events %v, want the hold", ev)
	}
	if got := spanAttr(server, "gatehouse.decision.effect"); got != "allow" {
		t.Errorf("effect %q, want the decision as it ended (allow)", got)
	}
	if client.StartTime().Before(approvedAt) || server.EndTime().Before(approvedAt) {
		t.Errorf("forward began %v, call ended %v, approval at %v", client.StartTime(), server.EndTime(), approvedAt)
	}
	// The span's decision id and seq name one record, the call's last; the hold's is on its event.
	decision, seq := spanAttr(server, "gatehouse.decision_id"), spanAttr(server, "gatehouse.audit.seq")
	var heldID string
	for _, kv := range server.Events()[0].Attributes {
		if kv.Key == "gatehouse.decision_id" {
			heldID = kv.Value.AsString()
		}
	}
	var last, held bool
	for _, r := range h.auditRecords() {
		if r.DecisionID == decision {
			last = jsonNumber(r.Seq) == seq && r.Status == "answered"
		}
		if r.DecisionID == heldID {
			held = r.Status == "held"
		}
	}
	if !last || !held {
		t.Errorf("span decision %s at seq %s (its answered record: %v), hold's %s (its held record: %v)", decision, seq, last, heldID, held)
	}
}

// TestTracedServeCallAtTheSizeLimit: gatehouse serve forwards a request within the size limit,
// with its traceparent added, although the addition takes the frame past the limit (the limit is
// the client's; gatehouse's own additions are not held to it); a ping is not traced.
func TestTracedServeCallAtTheSizeLimit(t *testing.T) {
	params := map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "hi"}}
	pm := map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "hi"},
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": pm}) // as post sends it
	limit := jsonrpc.Limits{MaxBytes: len(body) + 10}
	sr := tracetest.NewSpanRecorder()
	h := newServeHarness(t, ServeOptions{}, func(o *Options, c *streamable.Config) {
		o.Limits, c.Limits = limit, limit
		o.Tracer = tracing.NewWithProcessor(sr, tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true}).ForTransport("tcp")
	})
	status, resp := post(t, h.url, "tools/call", params)
	if status != http.StatusOK || resp["result"] == nil {
		t.Fatalf("a call within the limit, traced: %d %v", status, resp)
	}
	post(t, h.url, "ping", nil) // answered as the upstreams answer it; decided, not traced
	for _, s := range ended(t, sr, 1) {
		if s.Name() == "ping" {
			t.Error("a ping was traced")
		}
	}
}

package tracing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	clientTrace  = "0af7651916cd43dd8448eb211c80319c"
	clientSpan   = "00f067aa0ba902b7"
	headerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	headerSpan   = "a3ce929d0e0e4736"
	sampledMeta  = "00-" + clientTrace + "-" + clientSpan + "-01"
	unsampled    = "00-" + clientTrace + "-" + clientSpan + "-00"
	sampledHdr   = "00-" + headerTrace + "-" + headerSpan + "-01"
	defaultRatio = 1
)

// newTest returns a tracer that hands every ended span to an in-memory exporter at once.
func newTest(t *testing.T, cfg Config) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithProcessor(sdktrace.NewSimpleSpanProcessor(exp), cfg).ForTransport("pipe")
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr, exp
}

// waitEnded waits for the server spans whose records were reported (Call.Recorded) to end.
func waitEnded(tr *Tracer) {
	for tr.ending.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
}

func attrs(s tracetest.SpanStub) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func byName(t *testing.T, exp *tracetest.InMemoryExporter, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	for _, s := range exp.GetSpans() {
		if s.SpanKind == kind {
			return s
		}
	}
	t.Fatalf("no %s span among %d", kind, len(exp.GetSpans()))
	return tracetest.SpanStub{}
}

// finish ends a call the way the gateway does: the outcome, then the record durable as seq.
func finish(c *Call, status, errType string, upstreamErr bool, seq uint64, err error) {
	c.Finish(status, errType, upstreamErr, time.Now())
	c.Recorded()(seq, err)
}

func TestServerSpanTakesTheClientsParentFromMeta(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: defaultRatio, AcceptParent: true, Propagate: true})
	received := time.Now().Add(-time.Millisecond)
	c := tr.Start(context.Background(), Start{Received: received, Method: "tools/call", Tool: "echo", RequestID: "7",
		ProtocolVersion: "2026-07-28", DecisionID: "dec_1", Upstream: "peer", MetaParent: sampledMeta, MetaState: "rojo=1",
		HeaderParent: sampledHdr})
	if c == nil {
		t.Fatal("a sampled parent's call was not traced")
	}
	c.Decided(Decision{Effect: "allow", RuleID: "echo", Engine: "rules", Agent: "bot", ThreatScore: 0.5})
	finish(c, "answered", "", false, 42, nil)
	waitEnded(tr)

	s := byName(t, exp, trace.SpanKindServer)
	if s.Name != "tools/call echo" {
		t.Errorf("name %q, want %q", s.Name, "tools/call echo")
	}
	if got := s.Parent.TraceID().String(); got != clientTrace || s.Parent.SpanID().String() != clientSpan || !s.Parent.IsRemote() {
		t.Errorf("parent %v, want the client's remote span %s/%s", s.Parent, clientTrace, clientSpan)
	}
	if s.SpanContext.TraceID().String() != clientTrace {
		t.Errorf("trace %s, want the client's %s", s.SpanContext.TraceID(), clientTrace)
	}
	if s.Parent.TraceState().Get("rojo") != "1" {
		t.Errorf("tracestate %q not kept", s.Parent.TraceState())
	}
	if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != headerTrace {
		t.Errorf("links %v, want the HTTP header's context linked", s.Links)
	}
	if !s.StartTime.Equal(received) {
		t.Errorf("start %v, want the time received %v", s.StartTime, received)
	}
	a := attrs(s)
	for k, want := range map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo", "gen_ai.operation.name": "execute_tool",
		"jsonrpc.request.id": "7", "mcp.protocol.version": "2026-07-28", "network.transport": "pipe", "gatehouse.decision_id": "dec_1",
		"gatehouse.upstream": "peer", "gatehouse.decision.effect": "allow", "gatehouse.decision.rule_id": "echo",
		"gatehouse.decision.engine": "rules", "gatehouse.agent.id": "bot", "gatehouse.audit.status": "answered"} {
		if got := a[k].AsString(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if a["gatehouse.audit.seq"].AsInt64() != 42 || a["gatehouse.threat.score"].AsFloat64() != 0.5 {
		t.Errorf("seq %v threat %v, want 42 and 0.5", a["gatehouse.audit.seq"], a["gatehouse.threat.score"])
	}
	if _, ok := a["error.type"]; ok || s.Status.Code == codes.Error {
		t.Errorf("an answered call is marked failed: %v %v", a["error.type"], s.Status)
	}
}

func TestParentChoice(t *testing.T) {
	cases := []struct {
		name          string
		accept        bool
		meta, header  string
		ratio         float64
		traced        bool
		parent        string // trace id the span continues; "" for a new root
		links         int
		sampledAtZero bool
	}{
		{name: "meta parent", accept: true, meta: sampledMeta, ratio: 1, traced: true, parent: clientTrace},
		{name: "header parent when meta has none", accept: true, header: sampledHdr, ratio: 1, traced: true, parent: headerTrace},
		{name: "no parent: a root", accept: true, ratio: 1, traced: true},
		{name: "malformed traceparent: a root", accept: true, meta: "00-" + clientTrace + "-" + clientSpan, ratio: 1, traced: true},
		{name: "all-zero trace id: a root", accept: true, meta: "00-00000000000000000000000000000000-" + clientSpan + "-01", ratio: 1, traced: true},
		{name: "upper-case hex refused: a root", accept: true, meta: "00-" + strings.ToUpper(clientTrace) + "-" + clientSpan + "-01", ratio: 1, traced: true},
		{name: "parent not sampled: not traced", accept: true, meta: unsampled, ratio: 1, traced: false},
		{name: "parent sampled at ratio 0: traced", accept: true, meta: sampledMeta, ratio: 0, traced: true, parent: clientTrace},
		{name: "root at ratio 0: not traced", accept: true, ratio: 0, traced: false},
		{name: "parent refused: root linked to both", accept: false, meta: sampledMeta, header: sampledHdr, ratio: 1, traced: true, links: 2},
		{name: "parent refused: its sampled flag ignored", accept: false, meta: sampledMeta, ratio: 0, traced: false},
		{name: "parent refused: unsampled parent still traced", accept: false, meta: unsampled, ratio: 1, traced: true, links: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := newTest(t, Config{SampleRatio: tc.ratio, AcceptParent: tc.accept})
			c := tr.Start(context.Background(), Start{Method: "tools/list", MetaParent: tc.meta, HeaderParent: tc.header})
			if (c != nil) != tc.traced {
				t.Fatalf("traced = %v, want %v", c != nil, tc.traced)
			}
			if c == nil {
				return
			}
			finish(c, "answered", "", false, 1, nil)
			waitEnded(tr)
			s := byName(t, exp, trace.SpanKindServer)
			if tc.parent == "" {
				if s.Parent.IsValid() {
					t.Errorf("parent %v, want a new root", s.Parent)
				}
				for _, id := range []string{clientTrace, headerTrace} {
					if s.SpanContext.TraceID().String() == id {
						t.Errorf("a root span took the client's trace id")
					}
				}
			} else if s.Parent.TraceID().String() != tc.parent {
				t.Errorf("parent trace %s, want %s", s.Parent.TraceID(), tc.parent)
			}
			if len(s.Links) != tc.links {
				t.Errorf("%d links, want %d", len(s.Links), tc.links)
			}
		})
	}
}

func TestForwardGivesTheUpstreamTheClientSpan(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1, AcceptParent: true, Propagate: true})
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: "echo", MetaParent: sampledMeta, MetaState: "rojo=1"})
	tp, ts := c.Forward("peer")
	if ts != "rojo=1" {
		t.Errorf("tracestate %q, want the parent's", ts)
	}
	if again, _ := c.Forward("peer"); again != "" {
		t.Errorf("a second Forward gave %q, want nothing (one client span per call)", again)
	}
	finish(c, "upstream_error", "-32603", true, 3, nil)
	waitEnded(tr)

	client := byName(t, exp, trace.SpanKindClient)
	server := byName(t, exp, trace.SpanKindServer)
	want := "00-" + clientTrace + "-" + client.SpanContext.SpanID().String() + "-01"
	if tp != want {
		t.Errorf("traceparent %q, want the client span's %q", tp, want)
	}
	if client.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("client span's parent %s, want the server span %s", client.Parent.SpanID(), server.SpanContext.SpanID())
	}
	if client.Name != "tools/call echo" || attrs(client)["gatehouse.upstream"].AsString() != "peer" {
		t.Errorf("client span %q %v", client.Name, client.Attributes)
	}
	for _, s := range []tracetest.SpanStub{client, server} {
		if attrs(s)["error.type"].AsString() != "-32603" || s.Status.Code != codes.Error {
			t.Errorf("%s span: error.type %v status %v, want -32603 and Error", s.SpanKind, attrs(s)["error.type"], s.Status)
		}
	}
	if attrs(server)["rpc.response.status_code"].AsString() != "-32603" {
		t.Errorf("rpc.response.status_code %v", attrs(server)["rpc.response.status_code"])
	}
}

func TestNoPropagationKeepsTheClientSpanLocal(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1, AcceptParent: true})
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: "echo"})
	if tp, _ := c.Forward("peer"); tp != "" {
		t.Errorf("traceparent %q with propagate off", tp)
	}
	finish(c, "answered", "", false, 1, nil)
	waitEnded(tr)
	if len(exp.GetSpans()) != 2 {
		t.Errorf("%d spans, want the server's and the client's", len(exp.GetSpans()))
	}
}

func TestRefusalAndAuditFailure(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1})
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: "drop"})
	c.Decided(Decision{Effect: "deny", Code: "policy_deny", RuleID: "no-drop", Engine: "rules", Would: "deny"})
	finish(c, "refused", "policy_deny", false, 0, errors.New("disk full"))
	waitEnded(tr)
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want only the server's (nothing forwarded)", len(spans))
	}
	a := attrs(spans[0])
	if a["gatehouse.decision.code"].AsString() != "policy_deny" || a["gatehouse.decision.would_effect"].AsString() != "deny" {
		t.Errorf("decision attributes %v", spans[0].Attributes)
	}
	// The audit failure is what the client saw (the answer withheld), so it is the error recorded.
	if a["error.type"].AsString() != "audit_failed" || spans[0].Status.Description != "audit_failed" {
		t.Errorf("error.type %v status %v, want audit_failed", a["error.type"], spans[0].Status)
	}
	if _, ok := a["gatehouse.audit.seq"]; ok {
		t.Error("a record that failed has a sequence number")
	}
}

func TestPolicySpansAreChildrenOfTheCall(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1})
	if end := Policy(context.Background(), "rules", "request"); end != nil {
		t.Fatal("a policy span without a traced call")
	}
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: "echo"})
	end := Policy(c.Context(context.Background()), "rego", "response")
	if end == nil {
		t.Fatal("no policy span under a traced call")
	}
	end("deny", "policy_error", "", true, true)
	finish(c, "result_refused", "policy_error", false, 1, nil)
	waitEnded(tr)
	server := byName(t, exp, trace.SpanKindServer)
	p := byName(t, exp, trace.SpanKindInternal)
	if p.Name != "policy rego" || p.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("policy span %q parent %s, want %q under %s", p.Name, p.Parent.SpanID(), "policy rego", server.SpanContext.SpanID())
	}
	a := attrs(p)
	if a["gatehouse.policy.phase"].AsString() != "response" || !a["gatehouse.policy.monitor"].AsBool() || !a["gatehouse.policy.failed"].AsBool() || p.Status.Code != codes.Error {
		t.Errorf("policy span attributes %v status %v", p.Attributes, p.Status)
	}
}

func TestHeldCallKeepsItsSpanOpen(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1})
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: "refund"})
	c.Held("apr_1", "dec_held")
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans ended by a hold", n)
	}
	finish(c, "answered", "", false, 9, nil)
	waitEnded(tr)
	s := byName(t, exp, trace.SpanKindServer)
	if len(s.Events) != 1 || s.Events[0].Name != "held for approval" {
		t.Errorf("events %v, want the hold", s.Events)
	}
}

func TestShutdownWaitsForRecords(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tr := NewWithProcessor(sr, Config{SampleRatio: 1})
	c := tr.Start(context.Background(), Start{Method: "ping"})
	c.Finish("answered", "", false, time.Now())
	recorded := c.Recorded()
	go func() {
		time.Sleep(50 * time.Millisecond)
		recorded(5, nil)
	}()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sr.Ended()) != 1 {
		t.Errorf("%d spans ended, want the span whose record completed during shutdown", len(sr.Ended()))
	}
}

func TestNilTracerAndCall(t *testing.T) {
	var tr *Tracer
	c := tr.Start(context.Background(), Start{Method: "tools/call", MetaParent: sampledMeta})
	if c != nil {
		t.Fatal("a nil tracer traced a call")
	}
	ctx := context.Background()
	if tp, _ := c.Forward("x"); c.Context(ctx) != ctx || tp != "" {
		t.Error("a nil call changed something")
	}
	c.Decided(Decision{})
	c.Held("a", "b")
	c.Finish("answered", "", false, time.Now())
	if c.Recorded() != nil || tr.ForTransport("tcp") != nil || tr.Shutdown(ctx) != nil {
		t.Error("a nil tracer did something")
	}
}

func TestAttributeValuesAreBounded(t *testing.T) {
	tr, exp := newTest(t, Config{SampleRatio: 1})
	long := strings.Repeat("é", 5000) // two bytes each: a cut must not split one
	c := tr.Start(context.Background(), Start{Method: "tools/call", Tool: long, RequestID: long})
	c.Forward("peer")
	finish(c, "answered", "", false, 1, nil)
	waitEnded(tr)
	for _, s := range exp.GetSpans() {
		if len(s.Name) > len("tools/call ")+maxValue || !utf8.ValidString(s.Name) {
			t.Errorf("%s span's name is %d bytes long (valid UTF-8: %v)", s.SpanKind, len(s.Name), utf8.ValidString(s.Name))
		}
		for _, kv := range s.Attributes {
			if v := kv.Value.Emit(); len(v) > maxValue || !utf8.ValidString(v) {
				t.Errorf("%s is %d bytes long", kv.Key, len(v))
			}
		}
	}
}

func TestNewRefusesBadExporterSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no scheme", Config{Endpoint: "127.0.0.1:4318"}, "must be an http:// or https:// URL"},
		{"other scheme", Config{Endpoint: "ftp://collector"}, "must be an http:// or https:// URL"},
		{"grpc with a path", Config{Endpoint: "http://127.0.0.1:4317/v1/traces", Protocol: ProtocolGRPC}, "no path"},
		{"unknown protocol", Config{Endpoint: "http://127.0.0.1:4318", Protocol: "thrift"}, "protocol must be"},
		{"missing CA", Config{Endpoint: "https://collector:4318", CAFile: filepath.Join(dir, "none.pem")}, "tracing CA file"},
		{"CA not PEM", Config{Endpoint: "https://collector:4318", CAFile: notPEM}, "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(context.Background(), tc.cfg)
			if err == nil {
				waitEnded(tr)
				t.Fatalf("accepted %+v", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

const (
	e2eTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	e2eSpan  = "00f067aa0ba902b7"
)

// collector is an OTLP receiver (the protocol an OpenTelemetry Collector speaks) that keeps what
// it is sent: every span with its service name, and the credential of every export.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string
	auth    []string
}

func (c *collector) add(req *coltracepb.ExportTraceServiceRequest, auth string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, auth)
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				c.service = append(c.service, kv.Value.GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
}

// Export implements OTLP/gRPC.
func (c *collector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.add(req, strings.Join(md.Get("authorization"), ","))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// ServeHTTP implements OTLP/HTTP with protobuf bodies.
func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.add(&req, r.Header.Get("Authorization"))
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// wait returns the spans once one is named name, failing after a while.
func (c *collector) wait(t *testing.T, name string) []*tracepb.Span {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c.mu.Lock()
		spans := append([]*tracepb.Span(nil), c.spans...)
		c.mu.Unlock()
		for _, s := range spans {
			if s.Name == name {
				return spans
			}
		}
	}
	t.Fatalf("the collector received no span %q", name)
	return nil
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// spansOf returns the spans of one call, by its decision id, keyed by kind.
func spansOf(t *testing.T, spans []*tracepb.Span, name string) (server *tracepb.Span, client *tracepb.Span, policy []*tracepb.Span) {
	t.Helper()
	for _, s := range spans {
		if s.Name == name && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			server = s
		}
	}
	if server == nil {
		t.Fatalf("no server span %q", name)
	}
	for _, s := range spans {
		if string(s.ParentSpanId) != string(server.SpanId) {
			continue
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_CLIENT:
			client = s
		case tracepb.Span_SPAN_KIND_INTERNAL:
			policy = append(policy, s)
		}
	}
	return server, client, policy
}

// TestTracingThroughRunToACollector runs gatehouse run in front of the real server-everything with
// tracing to an OTLP/HTTP collector that requires a credential. The client's trace continues
// through gatehouse (its traceparent in _meta is the parent), each call's spans name the decision
// and the audit record that holds it, a denied call has no forward, and no argument or credential
// is in a span or in gatehouse's log.
func TestTracingThroughRunToACollector(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
policy: {rules: %s}
audit: {path: %s}
tracing:
  enabled: true
  endpoint: %s
  auth_header: Authorization
  auth_env: E2E_OTLP_TOKEN
  service_name: gatehouse-e2e
`, example("policies", "everything-demo.yaml"), auditPath, srv.URL)), 0o600)
	const token = "Bearer otlp-canary-7d1f"
	t.Setenv("E2E_OTLP_TOKEN", token)

	s, stderr := connect(t, []string{"--config", cfg}, peer(t, "mcp-server-everything"), "stdio")
	const secretArg = "argument-canary-93ab"
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": secretArg},
		Meta: mcp.Meta{"traceparent": "00-" + e2eTrace + "-" + e2eSpan + "-01"}})
	if err != nil || res.IsError {
		t.Fatalf("echo: %v %v", err, res)
	}
	if _, reason := refusal(t, s, "get-env", nil); reason != "policy_deny" {
		t.Fatalf("get-env: %q", reason)
	}
	s.Close() // gatehouse exits: what it still holds is exported

	spans := col.wait(t, "tools/call get-env")
	echo, forward, policy := spansOf(t, spans, "tools/call echo")
	if hex.EncodeToString(echo.TraceId) != e2eTrace || hex.EncodeToString(echo.ParentSpanId) != e2eSpan {
		t.Errorf("echo span trace %x parent %x, want the client's %s/%s", echo.TraceId, echo.ParentSpanId, e2eTrace, e2eSpan)
	}
	if forward == nil || len(policy) == 0 {
		t.Fatalf("echo has forward %v and %d policy spans, want both", forward, len(policy))
	}
	if attr(forward, "gatehouse.upstream").GetStringValue() != "upstream" {
		t.Errorf("forward span %v", forward.Attributes)
	}
	denied, deniedForward, _ := spansOf(t, spans, "tools/call get-env")
	if deniedForward != nil {
		t.Error("a denied call has a forward span")
	}
	if attr(denied, "error.type").GetStringValue() != "policy_deny" || denied.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("denied span %v status %v", denied.Attributes, denied.Status)
	}
	// Each call's span names its audit record.
	recs := readAudit(t, auditPath)
	for _, sp := range []*tracepb.Span{echo, denied} {
		id := attr(sp, "gatehouse.decision_id").GetStringValue()
		var found bool
		for _, r := range recs {
			if r.DecisionID == id {
				found = strconv.FormatUint(r.Seq, 10) == strconv.FormatInt(attr(sp, "gatehouse.audit.seq").GetIntValue(), 10)
			}
		}
		if !found {
			t.Errorf("span %s: no audit record of decision %q at its seq", sp.Name, id)
		}
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, a := range col.auth {
		if a != token {
			t.Errorf("an export carried Authorization %q, want the configured credential", a)
		}
	}
	if len(col.service) == 0 || col.service[0] != "gatehouse-e2e" {
		t.Errorf("service names %v", col.service)
	}
	dump, _ := json.Marshal(col.spans)
	for _, leak := range []string{secretArg, "otlp-canary"} {
		if strings.Contains(string(dump), leak) {
			t.Errorf("a span holds %q", leak)
		}
	}
	if strings.Contains(stderr.String(), "otlp-canary") {
		t.Error("gatehouse's log holds the collector's credential")
	}
}

// TestTracingThroughServeOverGRPC runs gatehouse serve, exporting over OTLP/gRPC, in front of the
// recording test server. A 2026-07-28 request carries its trace context only as an HTTP header:
// gatehouse's span continues it, and the upstream is given gatehouse's forward span as its parent
// in the request's _meta.
func TestTracingThroughServeOverGRPC(t *testing.T) {
	col := &collector{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(lis)
	defer gs.Stop()

	dir := t.TempDir()
	record := filepath.Join(dir, "record.jsonl")
	gw := freeAddr(t)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: ""}
policy: {rules: %s}
audit: {path: %s}
upstreams:
  - name: peer
    command: [%q]
    env: [TESTPEER_RECORD=%s]
tracing:
  enabled: true
  protocol: grpc
  endpoint: http://%s
`, gw, example("policies", "allow-all.yaml"), filepath.Join(dir, "audit.jsonl"), testpeer.Binary(t), record, lis.Addr())), 0o600)
	// OTEL_BSP_SCHEDULE_DELAY: spans go out after 100ms rather than the default 5s.
	background(t, gw, []string{"OTEL_BSP_SCHEDULE_DELAY=100"}, gatehouseBin, "serve", "--config", cfg)

	h := http.Header{}
	h.Set("Traceparent", "00-"+e2eTrace+"-"+e2eSpan+"-01")
	status, out, err := modernCallWith("http://"+gw+"/mcp", h, "tools/call", map[string]any{"name": "peer.echo", "arguments": map[string]any{"message": "grpc-traced"}})
	if err != nil || status != http.StatusOK || out["result"] == nil {
		t.Fatalf("call: %d %v %v", status, out, err)
	}
	spans := col.wait(t, "tools/call peer.echo")
	server, forward, _ := spansOf(t, spans, "tools/call peer.echo")
	if hex.EncodeToString(server.ParentSpanId) != e2eSpan || hex.EncodeToString(server.TraceId) != e2eTrace {
		t.Errorf("server span parent %x trace %x, want the header's", server.ParentSpanId, server.TraceId)
	}
	if attr(server, "network.transport").GetStringValue() != "tcp" || attr(server, "mcp.protocol.version").GetStringValue() != "2026-07-28" {
		t.Errorf("server span attributes %v", server.Attributes)
	}
	if forward == nil {
		t.Fatal("no forward span")
	}
	want := "00-" + e2eTrace + "-" + hex.EncodeToString(forward.SpanId) + "-01"
	var got string
	for _, line := range testpeer.Recorded(t, record) {
		if strings.Contains(line, "grpc-traced") {
			var f struct {
				Params struct {
					Meta map[string]any `json:"_meta"`
				} `json:"params"`
			}
			json.Unmarshal([]byte(line), &f)
			got, _ = f.Params.Meta["traceparent"].(string)
		}
	}
	if got != want {
		t.Errorf("the upstream was given traceparent %q, want gatehouse's forward span %q", got, want)
	}
}

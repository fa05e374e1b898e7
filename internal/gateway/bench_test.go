package gateway

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/pin"
	stagethreat "github.com/gatehouse-mcp/gatehouse/internal/stage/threat"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// BenchmarkRequestPipeline measures the whole request path of one tools/call inside the gateway
// (SPEC §14: p99 ≤ 150 µs) as configured by default: strict parse, params decode, the request chain
// with the threat scanner, the rules engine, the tool pinner and a budget, the outbound frame, and
// the audit record's redaction, encoding and enqueue (not its fsync, which is group-committed off
// this path).
func BenchmarkRequestPipeline(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pol, err := rules.Load("policy.yaml", []byte(testPolicy))
	if err != nil {
		b.Fatal(err)
	}
	w, err := auditlog.Open(auditlog.Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	gw := New(Options{
		Identity: identity.NewLocal("bench-agent", []string{"dev"}),
		Engines:  []*engine.Stage{enforcingRules(pol, logger)},
		Fail:     pipeline.FailClosed, Store: state.NewMemory(nil), Recorder: audit.NewRecorder(w, "enforce", logger), Logger: logger,
		Threat: withThreatStage(b), Pins: mustPins(b),
	})
	sess := &Session{ID: "sess_bench", Upstream: "peer"}
	frames := map[string][]byte{
		"allow":        []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark","n":7}}}`),
		"redact":       []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"message":"secret:hunter2","n":7}}}`),
		"deny":         []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"temp.convert","arguments":{"temp":-500}}}`),
		"allow-budget": []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"refund","arguments":{"amount":0}}}`),
	}
	for _, name := range []string{"allow", "redact", "deny", "allow-budget"} {
		frame := frames[name]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			once := func() *auditlog.Pending {
				msg, err := jsonrpc.Parse(frame, jsonrpc.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				c := gw.decide(ctx, sess, msg)
				if c.Decision.Forwards() {
					if _, _, err := gw.outbound(c); err != nil {
						b.Fatal(err)
					}
				}
				return gw.record(c, audit.Outcome{Status: audit.StatusAnswered, Args: previewArgs(c), Result: []byte(`{"content":[{"type":"text","text":"ok"}]}`)})
			}
			b.ReportAllocs()
			var last *auditlog.Pending
			for b.Loop() {
				last = once()
			}
			last.Wait()
			const n = 20000
			d := make([]time.Duration, n)
			for i := range d {
				t0 := time.Now()
				last = once()
				d[i] = time.Since(t0)
			}
			last.Wait()
			slices.Sort(d)
			b.ReportMetric(float64(d[n/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(d[n*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

func withThreatStage(tb testing.TB) *stagethreat.Stage {
	var o Options
	withThreat(tb)(&o)
	return o.Threat
}

func mustPins(tb testing.TB) *pin.Pinner {
	p, err := pin.New(pin.Config{Fail: pipeline.FailClosed})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkExchange measures the CPU gatehouse run spends on the path of one echo tools/call, with
// the example policy, the default threat scanner and pins, and the audit log in durability write:
// parse and decide the request, parse and decide the answer, build, commit and write its record,
// and write the answer. It leaves out the pipes and thread wake-ups that loadgen stdio measures too.
func BenchmarkExchange(b *testing.B) {
	benchExchange(b, nil, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from loadgen"}}}`)
}

// BenchmarkExchangeTraced is BenchmarkExchange with tracing on and the call recorded: the client's
// trace context read from _meta, the server, policy and forward spans, the traceparent set in the
// forwarded frame, and the spans handed to the batch processor (its exporter discards them).
func BenchmarkExchangeTraced(b *testing.B) {
	tr := tracing.NewWithExporter(tracetest.NewNoopExporter(), tracing.Config{SampleRatio: 1, AcceptParent: true, Propagate: true}).ForTransport("pipe")
	defer tr.Shutdown(context.Background())
	benchExchange(b, tr, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from loadgen"},`+
		`"_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}}}`)
}

func benchExchange(b *testing.B, tr *tracing.Tracer, requestFrame string) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := os.ReadFile("../../examples/policies/everything-demo.yaml")
	if err != nil {
		b.Fatal(err)
	}
	pol, err := rules.Load("everything-demo.yaml", src)
	if err != nil {
		b.Fatal(err)
	}
	w, err := auditlog.Open(auditlog.Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Logger: logger, Durability: auditlog.DurabilityWrite})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	gw := New(Options{
		Identity: identity.NewLocal("", nil),
		Engines:  []*engine.Stage{enforcingRules(pol, logger)},
		Fail:     pipeline.FailClosed, Store: state.NewMemory(nil), Recorder: audit.NewRecorder(w, "enforce", logger), Logger: logger,
		Threat: withThreatStage(b), Pins: mustPins(b), Metrics: NewMetrics(prometheus.NewRegistry()), Tracer: tr,
	})
	sess := &Session{ID: "sess_bench", Upstream: "upstream"}
	out := newWriter(io.Discard, gw.durable, logger)
	request := []byte(requestFrame)
	answer := []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"Echo: hello from loadgen"}]}}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		msg, err := jsonrpc.Parse(request, jsonrpc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		c := gw.decide(ctx, sess, msg)
		_, args, err := gw.outbound(c)
		if err != nil || !c.Decision.Forwards() {
			b.Fatalf("not forwarded: %v %v", c.Decision, err)
		}
		resp, err := jsonrpc.Parse(answer, jsonrpc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		frame, o := gw.respond(ctx, c, resp, nil)
		o.Args = args
		out.write(outItem{frame: frame, rec: held{gw.record(c, o), msg.ID, c.DecisionID}}, true)
	}
}

// Package tracing exports OpenTelemetry spans of the calls gatehouse decides (SPEC §13.2), so that
// an agent's trace shows what the gateway did to each of its calls: which policy engine decided
// what, how long the upstream took, and which audit record holds the decision.
//
// A call's server span takes its parent from the W3C trace context a client puts in the request's
// params._meta (traceparent, tracestate, as the MCP specification reserves them), or else from the
// HTTP request's headers; its client span, for the forward to the upstream, is what the upstream
// is given as its parent in the forwarded request's _meta. Spans carry names, ids and decisions,
// never arguments, results, headers or credentials.
//
// A nil *Tracer is tracing turned off: every method is a no-op and costs a nil check, so the call
// path pays nothing for it.
package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
)

// The protocols an exporter speaks.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// scope names gatehouse's instrumentation.
const scope = "github.com/gatehouse-mcp/gatehouse"

// Config is where spans go and which calls are traced.
type Config struct {
	// Endpoint is the collector's OTLP URL: http:// or https://, host and port; for
	// http/protobuf an optional path (default /v1/traces).
	Endpoint string
	// Protocol is ProtocolHTTP or ProtocolGRPC.
	Protocol string
	// Headers are sent with every export (a collector's credential among them).
	Headers map[string]string
	// CAFile, when set, is the PEM bundle the collector's certificate is verified against instead
	// of the system's roots.
	CAFile string
	// SampleRatio is the share of traces begun here that are recorded; a call with a parent
	// follows its parent's decision when AcceptParent.
	SampleRatio float64
	// AcceptParent makes a client's trace context the parent of its calls' spans. Off, every call
	// begins a trace of its own, linked to the client's.
	AcceptParent bool
	// Propagate gives the upstream the trace context of the call's client span, in the forwarded
	// request's params._meta.
	Propagate bool
	// ServiceName and ServiceVersion describe this gateway on every span.
	ServiceName, ServiceVersion string
	// Timeout bounds one export.
	Timeout time.Duration
	// OnError, when set, is told of every failed export. The error names the collector's URL and
	// may quote its answer.
	OnError func(error)
}

// Tracer starts the spans of calls. Its methods are safe for concurrent use; a nil Tracer traces
// nothing.
type Tracer struct {
	tp           *sdktrace.TracerProvider
	tracer       trace.Tracer
	acceptParent bool
	propagate    bool
	transport    string
	// ending counts the server spans waiting for their calls' records (Call.Recorded). Not a
	// WaitGroup: calls may still be recorded while Shutdown waits.
	ending *atomic.Int64
}

// New builds a tracer that exports to cfg's collector in batches, off the call path: spans wait
// in a bounded queue (2048) and are dropped, never waited for, when the collector falls behind.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.OnError != nil {
		// Export failures are reported through OpenTelemetry's global handler.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(cfg.OnError))
	}
	return NewWithExporter(exp, cfg), nil
}

// NewWithExporter builds a tracer that exports to exp in batches.
func NewWithExporter(exp sdktrace.SpanExporter, cfg Config) *Tracer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return NewWithProcessor(sdktrace.NewBatchSpanProcessor(exp, sdktrace.WithExportTimeout(cfg.Timeout)), cfg)
}

// NewWithProcessor builds a tracer whose ended spans go to sp (tests export them synchronously).
func NewWithProcessor(sp sdktrace.SpanProcessor, cfg Config) *Tracer {
	name := cfg.ServiceName
	if name == "" {
		name = "gatehouse"
	}
	// The SDK's own attributes and OTEL_RESOURCE_ATTRIBUTES (a pod's name, say), under ours.
	ours := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.version", cfg.ServiceVersion))
	res, err := resource.Merge(resource.Default(), ours)
	if err != nil { // conflicting schema URLs: ours alone
		res = ours
	}
	// Attribute values come from clients (tool names, request ids): bounded.
	limits := sdktrace.NewSpanLimits()
	limits.AttributeValueLengthLimit = 256
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithResource(res),
	)
	return &Tracer{tp: tp, tracer: tp.Tracer(scope, trace.WithInstrumentationVersion(cfg.ServiceVersion)),
		acceptParent: cfg.AcceptParent, propagate: cfg.Propagate, ending: &atomic.Int64{}}
}

// ForTransport returns a tracer whose calls are marked with the downstream transport: "pipe" for
// stdio, "tcp" for HTTP (OpenTelemetry's network.transport).
func (t *Tracer) ForTransport(transport string) *Tracer {
	if t == nil {
		return nil
	}
	c := *t
	c.transport = transport
	return &c
}

// Shutdown ends the spans of calls whose records are still being written, then exports the spans
// still queued, within ctx. Close the audit log first: it completes every record.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	for t.ending.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	return t.tp.Shutdown(ctx)
}

// newExporter builds the OTLP exporter cfg names.
func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing endpoint %q: must be an http:// or https:// URL with a host", cfg.Endpoint)
	}
	var tlsConf *tls.Config
	if u.Scheme == "https" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tracing CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tracing CA file %s: no PEM certificate in it", cfg.CAFile)
			}
			tlsConf.RootCAs = pool
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second // as NewWithExporter's
	}
	switch cfg.Protocol {
	case ProtocolHTTP, "":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithTimeout(timeout),
			otlptracehttp.WithHeaders(cfg.Headers)}
		if u.Path != "" && u.Path != "/" {
			opts = append(opts, otlptracehttp.WithURLPath(u.Path))
		}
		if tlsConf == nil {
			opts = append(opts, otlptracehttp.WithInsecure())
		} else {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConf))
		}
		return otlptrace.New(ctx, otlptracehttp.NewClient(opts...))
	case ProtocolGRPC:
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("tracing endpoint %q: a gRPC endpoint has no path", cfg.Endpoint)
		}
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithTimeout(timeout),
			otlptracegrpc.WithHeaders(cfg.Headers)}
		if tlsConf == nil {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConf)))
		}
		return otlptrace.New(ctx, otlptracegrpc.NewClient(opts...))
	}
	return nil, errors.New("tracing protocol must be " + ProtocolHTTP + " or " + ProtocolGRPC)
}

// traceContext is the W3C Trace Context propagator: it parses a traceparent strictly (version,
// lengths, hex, no all-zero ids) and refuses anything else.
var traceContext propagation.TraceContext

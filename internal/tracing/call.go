package tracing

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys: OpenTelemetry's semantic conventions for MCP where they have one, gatehouse.*
// for the decision.
const (
	attrMethod          = "mcp.method.name"
	attrProtocolVersion = "mcp.protocol.version"
	attrRequestID       = "jsonrpc.request.id"
	attrTool            = "gen_ai.tool.name"
	attrPrompt          = "gen_ai.prompt.name"
	attrOperation       = "gen_ai.operation.name"
	attrTransport       = "network.transport"
	attrErrorType       = "error.type"
	attrRPCStatus       = "rpc.response.status_code"

	attrDecisionID = "gatehouse.decision_id"
	attrUpstream   = "gatehouse.upstream"
	attrEffect     = "gatehouse.decision.effect"
	attrCode       = "gatehouse.decision.code"
	attrRule       = "gatehouse.decision.rule_id"
	attrEngine     = "gatehouse.decision.engine"
	attrWould      = "gatehouse.decision.would_effect"
	attrAgent      = "gatehouse.agent.id"
	attrTenant     = "gatehouse.tenant"
	attrThreat     = "gatehouse.threat.score"
	attrStatus     = "gatehouse.audit.status"
	attrAuditSeq   = "gatehouse.audit.seq"
	attrPhase      = "gatehouse.policy.phase"
	attrMonitor    = "gatehouse.policy.monitor"
	attrFailed     = "gatehouse.policy.failed"
)

// maxValue bounds, in bytes, what a client's request puts in a span: the tool or prompt name in the
// span's name, the request id and protocol version.
const maxValue = 256

// clip cuts s to at most maxValue bytes, on a character boundary.
func clip(s string) string {
	if len(s) <= maxValue {
		return s
	}
	i := maxValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// maxTraceState bounds the tracestate read from a request (W3C allows 32 members of 256 bytes;
// 512 is what it asks every participant to keep).
const maxTraceState = 512

// Start is a request as it arrives: what its spans are named after and where their parent is.
type Start struct {
	// Received is when the request arrived: the server span's start.
	Received time.Time
	// Method is the JSON-RPC method; Tool and Prompt the target of tools/call and prompts/get.
	Method, Tool, Prompt string
	// RequestID is the request's id as text.
	RequestID       string
	ProtocolVersion string
	DecisionID      string
	Upstream        string
	// MetaParent and MetaState are the request's params._meta traceparent and tracestate;
	// HeaderParent and HeaderState the HTTP request's headers of those names (serve).
	MetaParent, MetaState     string
	HeaderParent, HeaderState string
}

// Call holds the spans of one request gatehouse decides. A nil *Call is a request not traced (or
// not sampled): every method is a no-op.
type Call struct {
	t      *Tracer
	ctx    context.Context
	server trace.Span
	client trace.Span
	name   string
	method string
}

// Start begins the server span of a request. It returns nil when t is nil or the trace is not
// sampled, so that an unsampled call costs no more than that decision.
func (t *Tracer) Start(ctx context.Context, s Start) *Call {
	if t == nil {
		return nil
	}
	meta := remote(s.MetaParent, s.MetaState)
	header := remote(s.HeaderParent, s.HeaderState)
	var parent trace.SpanContext
	var links []trace.Link
	if t.acceptParent {
		parent = meta
		if !parent.IsValid() {
			parent = header
		} else if header.IsValid() && !header.Equal(meta) {
			links = append(links, trace.Link{SpanContext: header})
		}
	} else {
		for _, sc := range []trace.SpanContext{meta, header} {
			if sc.IsValid() && (len(links) == 0 || !links[0].SpanContext.Equal(sc)) {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithLinks(links...),
		trace.WithAttributes(s.attributes(t.transport)...)}
	if !s.Received.IsZero() {
		opts = append(opts, trace.WithTimestamp(s.Received))
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	name := spanName(clip(s.Method), clip(s.Tool), clip(s.Prompt))
	ctx, span := t.tracer.Start(ctx, name, opts...)
	if !span.IsRecording() {
		span.End()
		return nil
	}
	return &Call{t: t, ctx: ctx, server: span, name: name, method: s.Method}
}

// remote is the span context a traceparent and tracestate carry, invalid when they do not parse.
func remote(parent, state string) trace.SpanContext {
	if parent == "" {
		return trace.SpanContext{}
	}
	if len(state) > maxTraceState {
		state = ""
	}
	c := propagation.MapCarrier{"traceparent": parent}
	if state != "" {
		c["tracestate"] = state
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), c))
}

func (s *Start) attributes(transport string) []attribute.KeyValue {
	as := make([]attribute.KeyValue, 0, 9)
	as = append(as, attribute.String(attrMethod, clip(s.Method)), attribute.String(attrDecisionID, s.DecisionID))
	if s.Tool != "" {
		as = append(as, attribute.String(attrTool, clip(s.Tool)), attribute.String(attrOperation, "execute_tool"))
	}
	if s.Prompt != "" {
		as = append(as, attribute.String(attrPrompt, clip(s.Prompt)))
	}
	if s.RequestID != "" {
		as = append(as, attribute.String(attrRequestID, clip(s.RequestID)))
	}
	if s.ProtocolVersion != "" {
		as = append(as, attribute.String(attrProtocolVersion, clip(s.ProtocolVersion)))
	}
	if transport != "" {
		as = append(as, attribute.String(attrTransport, transport))
	}
	if s.Upstream != "" {
		as = append(as, attribute.String(attrUpstream, s.Upstream))
	}
	return as
}

// spanName follows OpenTelemetry's MCP conventions: "{method} {target}", the target being a tool
// or prompt name (resource URIs are left out: many, and they may name what is private).
func spanName(method, tool, prompt string) string {
	switch {
	case tool != "":
		return method + " " + tool
	case prompt != "":
		return method + " " + prompt
	}
	return method
}

// Context returns ctx carrying the call's server span, for the spans of the stages that decide
// it. Without a call it returns ctx.
func (c *Call) Context(ctx context.Context) context.Context {
	if c == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, c.server)
}

// Decision is what the request path decided, as the server span shows it.
type Decision struct {
	// DecisionID names the decision's audit record (a held call's changes once a human decides).
	DecisionID                   string
	Effect, Code, RuleID, Engine string
	// Would is the effect a monitoring engine would have applied.
	Would         string
	Agent, Tenant string
	ThreatScore   float64
}

// Decided records the request path's decision on the server span.
func (c *Call) Decided(d Decision) {
	if c == nil {
		return
	}
	as := []attribute.KeyValue{attribute.String(attrEffect, d.Effect)}
	for _, kv := range [...]struct{ k, v string }{{attrDecisionID, d.DecisionID}, {attrCode, d.Code}, {attrRule, d.RuleID}, {attrEngine, d.Engine},
		{attrWould, d.Would}, {attrAgent, d.Agent}, {attrTenant, d.Tenant}} {
		if kv.v != "" {
			as = append(as, attribute.String(kv.k, kv.v))
		}
	}
	if d.ThreatScore > 0 {
		as = append(as, attribute.Float64(attrThreat, d.ThreatScore))
	}
	c.server.SetAttributes(as...)
}

// Held marks the call held for a human, on record as decisionID: its spans go on when the hold is
// decided.
func (c *Call) Held(approvalID, decisionID string) {
	if c == nil {
		return
	}
	c.server.AddEvent("held for approval", trace.WithAttributes(attribute.String("gatehouse.approval_id", approvalID),
		attribute.String(attrDecisionID, decisionID)))
}

// Forward begins the client span of the call's forward to upstream and returns the trace context
// the upstream is to be given (its tracestate is the parent's, "" for a trace begun here), or ""
// when the tracer does not propagate (or there is no call).
func (c *Call) Forward(upstream string) (traceparent, tracestate string) {
	if c == nil || c.client != nil {
		return "", ""
	}
	as := []attribute.KeyValue{attribute.String(attrMethod, c.method)}
	if upstream != "" {
		as = append(as, attribute.String(attrUpstream, upstream))
	}
	ctx, span := c.t.tracer.Start(c.ctx, c.name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(as...))
	c.client = span
	if !c.t.propagate {
		return "", ""
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier["traceparent"], carrier["tracestate"]
}

// Finish records how the exchange ended: status is its audit status; errType, for a call that
// failed, its reason code or the upstream's JSON-RPC error code; upstreamErr whether the failure
// is the upstream's (an error answer, no answer). The client span, if any, ends at answered.
func (c *Call) Finish(status, errType string, upstreamErr bool, answered time.Time) {
	if c == nil {
		return
	}
	if c.client != nil {
		if upstreamErr && errType != "" {
			c.client.SetAttributes(attribute.String(attrErrorType, errType))
			c.client.SetStatus(codes.Error, errType)
		}
		c.client.End(trace.WithTimestamp(answered))
	}
	c.server.SetAttributes(attribute.String(attrStatus, status))
	if errType != "" {
		c.server.SetAttributes(attribute.String(attrErrorType, errType))
		if _, err := strconv.Atoi(errType); err == nil {
			c.server.SetAttributes(attribute.String(attrRPCStatus, errType))
		}
		c.server.SetStatus(codes.Error, errType)
	}
}

// Recorded returns the function that ends the server span when the call's answer may be
// released: its audit record is durable as seq, or failed with err (the answer then withheld). The
// tracer's Shutdown waits for every such function returned and not yet called. Nil for no call.
func (c *Call) Recorded() func(seq uint64, err error) {
	if c == nil {
		return nil
	}
	c.t.ending.Add(1)
	return func(seq uint64, err error) {
		defer c.t.ending.Add(-1)
		if err != nil {
			c.server.SetAttributes(attribute.String(attrErrorType, "audit_failed"))
			c.server.SetStatus(codes.Error, "audit_failed")
		} else {
			c.server.SetAttributes(attribute.Int64(attrAuditSeq, int64(seq)))
		}
		c.server.End()
	}
}

// Policy begins the span of one policy engine's decision, a child of ctx's call span, and returns
// the function that ends it with the engine's verdict; nil when ctx carries no recording span.
func Policy(ctx context.Context, engine, phase string) func(effect, code, rule string, monitor, failed bool) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return nil
	}
	_, span := parent.TracerProvider().Tracer(scope).Start(ctx, "policy "+engine,
		trace.WithAttributes(attribute.String(attrEngine, engine), attribute.String(attrPhase, phase)))
	return func(effect, code, rule string, monitor, failed bool) {
		as := []attribute.KeyValue{attribute.String(attrEffect, effect)}
		if code != "" {
			as = append(as, attribute.String(attrCode, code))
		}
		if rule != "" {
			as = append(as, attribute.String(attrRule, rule))
		}
		if monitor {
			as = append(as, attribute.Bool(attrMonitor, true))
		}
		if failed {
			as = append(as, attribute.Bool(attrFailed, true))
			span.SetStatus(codes.Error, "policy engine failed")
		}
		span.SetAttributes(as...)
		span.End()
	}
}

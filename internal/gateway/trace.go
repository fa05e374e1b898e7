package gateway

import (
	"strconv"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// traceRecorded records a traced call's decision and outcome as its record is submitted, ends its
// client span at the answer, and returns what ends its server span once the record is durable,
// when the answer may be released. A held call's record is not its last, so its spans go on.
func (g *Gateway) traceRecorded(c *pipeline.Call, o audit.Outcome) func(seq uint64, err error) {
	if c.Trace == nil {
		return nil
	}
	// The decision as it stands when recorded: a held call's is decided again once a human has.
	c.Trace.Decided(tracing.Decision{DecisionID: c.DecisionID, Effect: string(c.Decision.Effect), Code: string(c.Decision.Code), RuleID: c.Decision.RuleID,
		Engine: c.Decision.Engine, Would: string(c.Decision.Would), Agent: c.Input.Agent.ID, Tenant: c.Input.Tenant, ThreatScore: c.Threats.Score})
	if o.Status == audit.StatusHeld {
		c.Trace.Held(c.Decision.ApprovalID, c.DecisionID)
		return nil
	}
	errType, upstreamErr := "", false
	switch {
	case o.Status == audit.StatusResultRefused && o.Response != nil:
		errType = string(o.Response.Code)
	case !c.Decision.Forwards():
		errType, upstreamErr = string(c.Decision.Code), c.Decision.Engine == "upstream"
	case o.Status == audit.StatusUpstreamError:
		errType, upstreamErr = rpcErrorCode(o.Result), true
	}
	c.Trace.Finish(string(o.Status), errType, upstreamErr, o.Done)
	return c.Trace.Recorded()
}

// rpcErrorCode is the code of a JSON-RPC error object, as text ("error" when it has none).
func rpcErrorCode(errObj []byte) string {
	if code, _, _ := errorObject(errObj); code != 0 {
		return strconv.Itoa(code)
	}
	return "error"
}

// withTraceContext sets the upstream's trace context in params._meta: traceparent, and tracestate
// when there is one or the client sent one (the client's belongs to its own span, or, when
// gatehouse began a trace of its own, to another trace). Params that cannot carry _meta (not an
// object) go without it.
func withTraceContext(params []byte, traceparent, tracestate string, sent *mcp.TraceContext) []byte {
	p, err := mcp.SetMeta(params, mcp.MetaTraceParent, strconv.AppendQuote(nil, traceparent))
	if err != nil {
		return params
	}
	if tracestate != "" || sent != nil && sent.State != "" {
		if p, err = mcp.SetMeta(p, mcp.MetaTraceState, strconv.AppendQuote(nil, tracestate)); err != nil {
			return params
		}
	}
	return p
}

// traceRoom is what the trace context may add to a forwarded frame: _meta with a traceparent and a
// tracestate of at most 512 bytes.
const traceRoom = 1024

// outboundLimits are the limits a frame gatehouse forwards is read again under when it is routed:
// the client's, with room for the trace context tracing adds. A policy's rewrite is held to the
// client's limits; tracing's addition is not what the client sent.
func (g *Gateway) outboundLimits() jsonrpc.Limits {
	l := g.opts.Limits
	if g.opts.Tracer != nil {
		if l.MaxBytes > 0 {
			l.MaxBytes += traceRoom
		}
		if l.MaxTokens > 0 {
			l.MaxTokens += 8
		}
	}
	return l
}

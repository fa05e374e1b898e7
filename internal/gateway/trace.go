package gateway

import (
	"encoding/json"
	"strconv"

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
	c.Trace.Decided(tracing.Decision{Effect: string(c.Decision.Effect), Code: string(c.Decision.Code), RuleID: c.Decision.RuleID,
		Engine: c.Decision.Engine, Would: string(c.Decision.Would), Agent: c.Input.Agent.ID, Tenant: c.Input.Tenant, ThreatScore: c.Threats.Score})
	if o.Status == audit.StatusHeld {
		c.Trace.Held(c.Decision.ApprovalID)
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
	var e struct {
		Code *int64 `json:"code"`
	}
	if json.Unmarshal(errObj, &e) != nil || e.Code == nil {
		return "error"
	}
	return strconv.FormatInt(*e.Code, 10)
}

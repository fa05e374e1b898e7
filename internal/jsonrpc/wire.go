package jsonrpc

import (
	"encoding/json"
	"strconv"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Standard JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// reasons gives every gatehouse reason its JSON-RPC code and default message. Codes come from the
// implementation range -32000..-32019 (SPEC §3.3; -32020..-32099 belong to MCP) and never change once
// published: clients match on them. docs/errors.md lists this table; a test keeps the two in step.
// -32003, -32004 and -32005 are left unused: the official Go SDK gives them transport meanings
// (client closing, server closing, rejected by transport), so a Go client would read a refusal
// with one of them as a dead connection and never see its reason.
var reasons = map[policy.Code]struct {
	code    int
	message string
}{
	policy.CodeInternal:            {-32000, "Internal gateway error"},
	policy.CodePolicyDeny:          {-32001, "Denied by policy"},
	policy.CodeValidationFailed:    {-32002, "Arguments failed policy validation"},
	policy.CodeApprovalRequired:    {-32017, "Held for human approval"},
	policy.CodeApprovalDenied:      {-32018, "Approval denied"},
	policy.CodeApprovalTimeout:     {-32019, "Approval timed out"},
	policy.CodeSessionKilled:       {-32006, "Session killed"},
	policy.CodeCrossTenant:         {-32007, "Outside this tenant's allowlist"},
	policy.CodeRateLimited:         {-32008, "Rate limit exceeded"},
	policy.CodeBudgetExceeded:      {-32009, "Budget exceeded"},
	policy.CodePayloadTooLarge:     {-32010, "Payload too large"},
	policy.CodeThreatDetected:      {-32011, "Threat detected"},
	policy.CodeUnauthenticated:     {-32012, "Unauthenticated"},
	policy.CodeUpstreamUnavailable: {-32013, "Upstream unavailable"},
	policy.CodePolicyError:         {-32014, "Policy engine error"},
	policy.CodeAuditUnavailable:    {-32015, "Audit log unavailable"},
	policy.CodeMalformed:           {-32016, "Malformed message"},
}

// CodeFor returns the JSON-RPC error code for a gatehouse reason; unknown reasons map to the internal
// error code so that a new reason can never leak an undefined code.
func CodeFor(r policy.Code) int {
	if e, ok := reasons[r]; ok {
		return e.code
	}
	return reasons[policy.CodeInternal].code
}

// MessageFor returns the default human message for a reason.
func MessageFor(r policy.Code) string {
	if e, ok := reasons[r]; ok {
		return e.message
	}
	return "Request refused"
}

// Reasons lists every reason with its code and message, for documentation and its test.
func Reasons() map[policy.Code]int {
	out := make(map[policy.Code]int, len(reasons))
	for r, e := range reasons {
		out[r] = e.code
	}
	return out
}

// ErrorData is the data member of every gatehouse error (SPEC §3.3).
type ErrorData struct {
	// Reason is the stable snake_case reason clients match on.
	Reason policy.Code `json:"reason"`
	// Detail is the human reason from the policy, or the gateway's own explanation.
	Detail string `json:"detail,omitempty"`
	// RuleID names the rule that decided, when one did.
	RuleID string `json:"rule_id,omitempty"`
	// DecisionID finds the audit record of the decision.
	DecisionID string `json:"decision_id,omitempty"`
	// ApprovalID names the approval a held call waits for.
	ApprovalID string `json:"approval_id,omitempty"`
	// RetryAfterMS tells a rate-limited caller when it may try again.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// ErrorResponse builds an error response frame. A zero id is written as null, as JSON-RPC requires
// when the request's id could not be read. message may be empty to use the reason's default.
func ErrorResponse(id ID, code int, message string, data *ErrorData) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id.Raw()...)
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	if data != nil {
		d, _ := json.Marshal(data) // plain struct of strings and ints: cannot fail
		b = append(b, `,"data":`...)
		b = append(b, d...)
	}
	return append(b, "}}"...)
}

// Refusal builds the error response for a gatehouse reason.
func Refusal(id ID, data ErrorData) []byte {
	msg := MessageFor(data.Reason)
	if data.Detail != "" {
		msg += ": " + data.Detail
	}
	return ErrorResponse(id, CodeFor(data.Reason), msg, &data)
}

// FrameRefusal answers a frame Parse refused.
func FrameRefusal(fe *FrameError, decisionID string) []byte {
	return ErrorResponse(fe.ID, fe.Code, MessageFor(fe.Reason)+": "+fe.Detail,
		&ErrorData{Reason: fe.Reason, Detail: fe.Detail, DecisionID: decisionID})
}

// Request builds a request frame, for the few requests gatehouse sends itself (liveness pings, the
// replayed initialize after an upstream restart). params may be nil.
func Request(id ID, method string, params []byte) []byte {
	b := make([]byte, 0, 64+len(params))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id.Raw()...)
	b = append(b, `,"method":`...)
	b = appendString(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// Result builds a result response frame.
func Result(id ID, result []byte) []byte {
	b := make([]byte, 0, 48+len(result))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id.Raw()...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a Go string always marshals
	return append(b, q...)
}

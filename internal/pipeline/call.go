package pipeline

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// Mode says how an engine's verdicts are used (SPEC §3.5).
type Mode string

// The modes an engine runs in.
const (
	ModeEnforce Mode = "enforce"
	ModeMonitor Mode = "monitor"
	ModeOff     Mode = "off"
)

// Fail is the posture applied when an engine or the state behind it fails (SPEC §3.6).
type Fail string

// The fail postures.
const (
	FailClosed Fail = "closed"
	FailOpen   Fail = "open"
)

// Verdict is an engine's answer as the pipeline holds it: the engine's policy.Verdict plus how it was
// reached.
type Verdict struct {
	policy.Verdict
	// Monitor marks a verdict computed in monitor mode: audited and logged, never applied.
	Monitor bool
	// Fail is set when the engine failed and the posture decided instead; Error says why.
	Fail  Fail
	Error string
}

// Call is one message on its way through the pipeline. Stages may fill in Input (identity, tenant,
// threat) and add Verdicts; the Decide stage sets Decision. The message itself is never modified.
type Call struct {
	// DecisionID names this decision in the audit log and in error data.
	DecisionID string
	Received   time.Time
	Msg        *jsonrpc.Message
	// Request is what the mcp package read from the params.
	Request *mcp.Request
	// Input is the decision input shown to every engine.
	Input    policy.Input
	Verdicts []Verdict
	Decision Decision
	// Upstream names the server the call is routed to.
	Upstream string
	// Principal is the caller as the transport authenticated it, for the identity stage; nil when
	// the identity stage has its own source (the stdio wrapper's local identity).
	Principal *policy.Principal
	// TenantProblem says why the transport could not establish the call's engagement (none named,
	// sources that disagree, an untrusted header); the tenancy stage refuses such a call.
	TenantProblem string
	// Wait, when a stage sets it, is the rest of the call's path, suspended until something outside
	// the gateway happens: a human deciding a hold (SPEC §10.2). Until it runs, Decision is what the
	// client gets if it is never run. The transport runs it before acting on Decision, on a
	// goroutine of the call's own, since it may block until ctx ends; progress, which may be nil,
	// tells the client the call is still waiting.
	Wait func(ctx context.Context, progress func(message string)) error
	// HoldAnswer is the client's answer to the elicitation of gatehouse's input_required answer to
	// this call, when the call is the retry that answer asked for: "accept", "decline", "cancel", or
	// "" (none given); HoldApproval is the approval that answer named, as the client echoed it
	// (unverified). Both empty for any other call.
	HoldAnswer, HoldApproval string
	// Threats is what the threat scanner found in the call's messages, both phases together, for
	// the audit record.
	Threats ThreatSummary
	// Trace holds the call's spans; nil when it is not traced.
	Trace *tracing.Call
}

// ThreatSummary is the highest threat score of a call's messages and the scanner rules that
// matched them, in the order found, each named once. The threat stage adds only scans that reach
// the scanner's threshold (a hit), so a clean call has none.
type ThreatSummary struct {
	Score float64
	Rules []string
}

// maxThreatRules bounds ThreatSummary.Rules (the audit record keeps at most 16).
const maxThreatRules = 16

// Add merges a scan of one of the call's messages.
func (t *ThreatSummary) Add(th policy.Threat) {
	t.Score = max(t.Score, th.Score)
	for _, f := range th.Findings {
		t.addRule(f.Rule)
	}
}

// Merge merges another summary of the same call (its other phase).
func (t *ThreatSummary) Merge(o ThreatSummary) {
	t.Score = max(t.Score, o.Score)
	for _, r := range o.Rules {
		t.addRule(r)
	}
}

func (t *ThreatSummary) addRule(rule string) {
	if len(t.Rules) < maxThreatRules && !slices.Contains(t.Rules, rule) {
		t.Rules = append(t.Rules, rule)
	}
}

// Refuse ends the call with a refusal that no engine made (limits, identity, kill state, budgets).
// The stage that calls it must not call next. The revisions of the policies consulted so far are kept
// for the audit record.
func (c *Call) Refuse(stage string, code policy.Code, reason string) {
	c.Decision = Decision{Effect: policy.EffectDeny, Code: code, Reason: reason, Engine: stage, Revisions: c.Decision.Revisions}
}

// Package audit turns a finished exchange into an audit record and hands it to the chained log
// (package auditlog). It is the last step of both paths (SPEC §3.1, §3.2): the gateway releases a
// decision's effect to the client only once Record's Pending reports the record durable, so nothing a
// client sees is missing from the log.
//
// Previews are what was forwarded and returned, not what was received: when a policy redacts an
// argument, the record must not keep the secret the policy removed.
package audit

import (
	"log/slog"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

// Status says how an exchange ended. The values are part of the audit schema.
type Status string

// The statuses of an exchange.
const (
	// StatusAnswered: forwarded, and the upstream's result returned.
	StatusAnswered Status = "answered"
	// StatusUpstreamError: forwarded, and the upstream answered with a JSON-RPC error.
	StatusUpstreamError Status = "upstream_error"
	// StatusRefused: refused by gatehouse before forwarding.
	StatusRefused Status = "refused"
	// StatusHeld: held for a human, who has yet to decide; a later record with the same approval id
	// says how it ended.
	StatusHeld Status = "held"
	// StatusResultRefused: forwarded, but the response phase refused the result.
	StatusResultRefused Status = "result_refused"
	// StatusUnavailable: forwarded (or about to be), and the upstream exited, hung or could not be
	// reached.
	StatusUnavailable Status = "upstream_unavailable"
	// StatusMalformed: the message could not be read.
	StatusMalformed Status = "malformed"
)

// Outcome is how an exchange ended, as the gateway saw it.
type Outcome struct {
	Status Status
	// Response is the response-phase decision, when one was made.
	Response *pipeline.Decision
	// Args are the arguments as forwarded (or, for a refusal, as received). Result is the result or
	// error as returned to the client.
	Args   []byte
	Result []byte
	// Upstream is the time the upstream took; Done is when the exchange ended.
	Upstream time.Duration
	Done     time.Time
}

// policyEngines are the engines whose refusals are recorded as "blocked by <engine>: <reason>".
var policyEngines = map[string]bool{"rules": true, "rego": true, "pack": true}

// Recorder writes audit records.
type Recorder struct {
	w      *auditlog.Writer
	mode   string
	logger *slog.Logger
}

// NewRecorder returns a recorder writing to w. mode is recorded on every record (enforce, monitor,
// off, or a per-engine summary such as "rules=enforce,rego=monitor").
func NewRecorder(w *auditlog.Writer, mode string, logger *slog.Logger) *Recorder {
	return &Recorder{w: w, mode: mode, logger: logger}
}

// Record submits the record of c's exchange and returns at once; Wait on the result before releasing
// anything to the client.
func (r *Recorder) Record(c *pipeline.Call, o Outcome) *auditlog.Pending {
	return r.RecordThen(c, o, nil)
}

// RecordThen is Record, and then (when not nil) is told how the record ended (auditlog.SubmitThen).
func (r *Recorder) RecordThen(c *pipeline.Call, o Outcome, then func(seq uint64, err error)) *auditlog.Pending {
	rec := r.record(c, o)
	return r.w.SubmitThen(&rec, then)
}

func (r *Recorder) record(c *pipeline.Call, o Outcome) auditlog.Record {
	d := &c.Decision
	in := &c.Input
	rec := auditlog.Record{
		Type:        auditlog.TypeDecision,
		DecisionID:  c.DecisionID,
		SessionID:   in.Session.ID,
		RunID:       in.Session.RunID,
		Tenant:      in.Tenant,
		Agent:       in.Agent.ID,
		User:        in.User.ID,
		Roles:       in.Agent.Roles,
		ClientIP:    in.RequestIP,
		Method:      in.Kind,
		Upstream:    c.Upstream,
		Tool:        in.Target(),
		Effect:      string(d.Effect),
		WouldEffect: string(d.Would),
		Code:        string(d.Code),
		RuleID:      d.RuleID,
		Reason:      d.Reason,
		Engine:      d.Engine,
		Mode:        r.mode,
		Fail:        string(d.Fail),
		EngineError: d.EngineError,
		RulesRev:    d.Revisions.Rules,
		BundleRev:   d.Revisions.Bundle,
		PackSHA:     d.Revisions.Pack,
		ApprovalID:  d.ApprovalID,
		Status:      string(o.Status),
		LatencyUS:   o.Done.Sub(c.Received).Microseconds(),
		UpstreamUS:  o.Upstream.Microseconds(),
		ThreatScore: auditlog.RoundScore(c.Threats.Score),
		Threats:     c.Threats.Rules,
	}
	if c.Msg != nil {
		rec.CallID = c.Msg.ID.String()
	}
	if c.Request != nil {
		rec.ProtocolVersion = c.Request.ProtocolVersion
	}
	if !d.Forwards() && policyEngines[d.Engine] {
		// SPEC §5.3: the record of an engine's refusal names the engine, e.g. "blocked by rego: role_mismatch".
		rec.Reason = "blocked by " + d.Engine + ": " + d.Reason
	}
	if d.Would != "" {
		// The rule and reason of a would-be refusal are what an operator reviewing monitor mode
		// needs; the applied decision's own rule is still in the engine's verdict log.
		rec.Code, rec.RuleID, rec.Reason = string(d.WouldCode), d.WouldRule, d.WouldReason
	}
	if o.Response != nil {
		rec.ResponseEffect = string(o.Response.Effect)
		rec.ResponseRuleID = o.Response.RuleID
	}
	return redact.Record(rec, o.Args, o.Result)
}

// Event is something the gateway records that is not the decision of a client's message: an
// operator's change through the admin API (an engagement's allowlist, a tool approval), or a tool
// definition that appeared, changed or reads as poisoned (SPEC §9). Events are in the same chain as
// decisions, so the log shows who could call what, and since when.
type Event struct {
	// Method names the event, e.g. admin/allowlist.put or tools/pin.changed.
	Method string
	// Engine is what made it: admin, pin.
	Engine string
	// Effect and Code say what it did (allow for an applied change; deny with a code for a
	// quarantine).
	Effect, Code string
	// Tenant is the engagement concerned, when there is one.
	Tenant   string
	User     string
	ClientIP string
	Upstream string
	Tool     string
	// Args is the request or definition as JSON (redacted before it is written); Detail says what
	// changed.
	Args   []byte
	Detail string
	// Status is how it ended: applied, not_applied, observed.
	Status string
	// ApprovalID is the approval an approver's decision is about.
	ApprovalID string
}

// Event submits the record of an event; Wait on the result before acknowledging it.
func (r *Recorder) Event(id string, e Event) *auditlog.Pending {
	rec := redact.Record(auditlog.Record{
		Type:       auditlog.TypeEvent,
		DecisionID: id,
		Tenant:     e.Tenant,
		User:       e.User,
		ClientIP:   e.ClientIP,
		Method:     e.Method,
		Upstream:   e.Upstream,
		Tool:       e.Tool,
		Effect:     e.Effect,
		Code:       e.Code,
		Engine:     e.Engine,
		Mode:       r.mode,
		Status:     e.Status,
		Detail:     e.Detail,
		ApprovalID: e.ApprovalID,
	}, e.Args, nil)
	return r.w.Submit(&rec)
}

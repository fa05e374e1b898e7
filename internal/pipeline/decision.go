package pipeline

import (
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Decision is the combined outcome for one message.
type Decision struct {
	// Effect is the effect applied. A refusal is EffectDeny (or EffectRequireApproval /
	// EffectKillSession) with Code saying why.
	Effect policy.Effect
	Code   policy.Code
	Reason string
	RuleID string
	Engine string
	// Ops are the rewrites to apply before forwarding (request) or returning (response), in engine
	// order.
	Ops []policy.Op
	// Would is the effect a monitored engine would have applied, when it is stronger than Effect:
	// logged as would_deny and audited, never applied.
	Would       policy.Effect
	WouldCode   policy.Code
	WouldRule   string
	WouldReason string
	// Fail and EngineError record that an engine failed and the fail posture decided.
	Fail        Fail
	EngineError string
	ApprovalID  string
	// Ask, on a hold whose approval is pending, answers the call with an input_required result
	// that asks the human to retry once it is approved (mcp.HoldResult), instead of the refusal;
	// the approval stage sets it only for a request that may be answered so (mcp.Request.Elicits).
	Ask        bool
	RetryAfter time.Duration
	// Revisions of the policies that took part.
	Revisions Revisions

	abandon []func()
	durable []func()
}

// Revisions identify the policies behind a decision (SPEC §12.1).
type Revisions struct {
	Rules  string
	Bundle string
	Pack   string
}

// Forwards reports whether the message is passed on.
func (d *Decision) Forwards() bool { return d.Effect.Forwards() }

// OnAbandon registers f to run if a forwarding decision is not carried out after all — the audit
// write failed or the upstream could not be reached. Budgets use it to give back what they reserved,
// since a budget counts only calls that were forwarded (SPEC §4.4).
func (d *Decision) OnAbandon(f func()) { d.abandon = append(d.abandon, f) }

// Abandon runs the registered callbacks once.
func (d *Decision) Abandon() {
	fs := d.abandon
	d.abandon = nil
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// OnDurable registers f to run once the audit record of this decision is on disk: announcing a new
// hold (the approvals webhook) must not run ahead of the record of the hold.
func (d *Decision) OnDurable(f func()) { d.durable = append(d.durable, f) }

// TakeDurable returns the callbacks OnDurable registered, and forgets them: the gateway runs them
// once the record it writes for the decision is durable.
func (d *Decision) TakeDurable() []func() {
	fs := d.durable
	d.durable = nil
	return fs
}

// Combine merges engine verdicts by SPEC §3.3: any kill_session wins, then any deny, then any hold,
// then rewrites applied in engine order, then allow. Monitor verdicts take no part in the effect; the
// strongest of them is reported in Would when it is stronger than what applies. With no verdicts at
// all (no engine configured, or mode off) the call is allowed.
func Combine(vs []Verdict) Decision {
	d := Decision{Effect: policy.EffectAllow}
	var applied, would *Verdict
	for i := range vs {
		v := &vs[i]
		if v.Fail != "" && d.Fail == "" {
			d.Fail, d.EngineError = v.Fail, v.Error
		}
		if v.Monitor {
			if would == nil || v.Effect.Severity() > would.Effect.Severity() {
				would = v
			}
			continue
		}
		if applied == nil || v.Effect.Severity() > applied.Effect.Severity() {
			applied = v
		}
		if v.Effect.Forwards() {
			d.Ops = append(d.Ops, v.Ops...)
		}
	}
	if applied != nil {
		d.Effect, d.Code, d.Reason, d.RuleID, d.Engine = applied.Effect, applied.Code, applied.Reason, applied.RuleID, applied.Engine
		if !d.Effect.Forwards() {
			d.Ops = nil
			if d.Code == "" {
				d.Code = defaultCode(d.Effect)
			}
		}
	}
	if would != nil && would.Effect.Severity() > d.Effect.Severity() && !would.Effect.Forwards() {
		d.Would, d.WouldCode, d.WouldRule, d.WouldReason = would.Effect, would.Code, would.RuleID, would.Reason
		if d.WouldCode == "" {
			d.WouldCode = defaultCode(would.Effect)
		}
	}
	return d
}

func defaultCode(e policy.Effect) policy.Code {
	switch e {
	case policy.EffectKillSession:
		return policy.CodeSessionKilled
	case policy.EffectRequireApproval:
		return policy.CodeApprovalRequired
	}
	return policy.CodePolicyDeny
}

// Package replay decides recorded traffic again under other policies: for every decision record of
// an audit log, what the engines configured now would decide, next to what was decided then
// (`gatehouse replay`, SPEC §13.4). A policy author sees which past calls a change would refuse or
// let through before it is deployed.
//
// A record is replayed through the same stages the gateway runs after the caller is established: the
// policy engines, the combination of their verdicts, and the budgets and rule rates, counted from
// empty (again at each restart of a gateway that kept them in memory) in the order the calls were
// decided, with those times as the clock. The input is rebuilt from the
// record, which holds less than the call did: the arguments as forwarded (after the old policy's
// rewrites), redacted and cut at 500 characters; no headers, token claims or workflow attributes; a
// threat score only when it reached the scanner's threshold. A replay whose input is known to differ
// from the call's says so (Result.Inexact). Refusals made before the engines run (identity, tenancy,
// kill switch, scanner, malformed frames) and the human side of approvals are not replayed.
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/budget"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Forwarded is the effect of a past decision recorded only as "the policies let it through": the
// upstream then failed, and its refusal replaced the policies' decision in the record.
const Forwarded = "forward"

// Options are the policies to replay with.
type Options struct {
	// Engines are the engine stages, in the order the gateway runs them (rules, rego, pack).
	Engines []pipeline.Stage
	// Fail is the posture of the budget stage when its state fails (it is in memory here: never).
	Fail pipeline.Fail
	// MemoryState says the gateway kept budgets and rates in its memory, so that they started again
	// from zero at each restart: at a closing checkpoint, and at a recovery record. False when they
	// were kept in Redis, across restarts.
	MemoryState bool
	// Emit receives every result, in the order the calls were decided.
	Emit func(*Result)
}

// Replayer replays the records of a log given in chain order, keeping the budgets and rates between
// them. The log is in the order calls ended (a record is written once its outcome is known), so the
// decisions of one run of the gateway are held until the run ends (Flush, a closing checkpoint, a
// recovery record) and replayed in the order they were made.
type Replayer struct {
	o       Options
	chain   *pipeline.Chain
	now     time.Time
	pending []*auditlog.Record
	sum     Summary
}

// New returns a replayer for the engines in o.
func New(o Options) *Replayer {
	r := &Replayer{o: o}
	r.restart()
	r.sum.Transitions = map[string]int{}
	r.sum.Skipped = map[string]int{}
	return r
}

// restart starts the budgets and rates from zero, as a gateway that starts with them in memory.
func (r *Replayer) restart() {
	store := state.NewMemory(func() time.Time { return r.now })
	stages := append(slices.Clone(r.o.Engines), pipeline.Decide{}, budget.New(store, r.o.Fail, discard))
	r.chain = pipeline.NewChain(stages...)
}

// Outcome is a decision as replay compares it.
type Outcome struct {
	// Effect is the effect applied: allow, deny, redact, patch, require_approval, kill_session, or
	// Forwarded for a past call whose exact forwarding effect was not recorded.
	Effect string `json:"effect"`
	// Would is the stronger effect a monitoring engine reported, when there was one.
	Would  string `json:"would_effect,omitempty"`
	Code   string `json:"code,omitempty"`
	RuleID string `json:"rule_id,omitempty"`
	Engine string `json:"engine,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Result is one decision record, replayed or not.
type Result struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	DecisionID string    `json:"decision_id,omitempty"`
	Agent      string    `json:"agent,omitempty"`
	Tenant     string    `json:"tenant,omitempty"`
	Method     string    `json:"method"`
	Target     string    `json:"target,omitempty"`
	// Skipped says why the record was not replayed; empty when it was.
	Skipped string   `json:"skipped,omitempty"`
	Then    Outcome  `json:"then"`
	Now     *Outcome `json:"now,omitempty"`
	// Status is StatusChanged, StatusUnchanged or StatusUncertain; empty for a record not replayed.
	Status string `json:"status,omitempty"`
	// Inexact lists why the replayed input is known to differ from the call's.
	Inexact []string `json:"inexact,omitempty"`
}

// What a replay found, in Result.Status.
const (
	// StatusChanged: the effect, or the effect a monitoring engine reported, differs, and the
	// record gave back the whole input.
	StatusChanged = "changed"
	// StatusUnchanged: the same effect (perhaps by another rule or for another reason).
	StatusUnchanged = "unchanged"
	// StatusUncertain: the effect differs, but the replay's input is inexact, so the difference
	// may come from what the record lacks rather than from the policies.
	StatusUncertain = "uncertain"
)

// Summary counts the results of a replay.
type Summary struct {
	// Decisions is the number of decision records read.
	Decisions int `json:"decisions"`
	// Replayed is the number decided again: Changed, Unchanged and Uncertain (see the statuses).
	// Inexact of them were replayed from an input known to be incomplete.
	Replayed  int `json:"replayed"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
	Uncertain int `json:"uncertain"`
	Inexact   int `json:"inexact"`
	// OtherRule counts the unchanged decisions made by another rule or for another reason code.
	OtherRule int `json:"unchanged_other_rule"`
	// Transitions counts the changed decisions by "then → now" effect.
	Transitions map[string]int `json:"transitions"`
	// Skipped counts the records not replayed, by why.
	Skipped map[string]int `json:"skipped"`
}

// Summary returns the counts so far.
func (r *Replayer) Summary() Summary { return r.sum }

// Inexactness reasons, stable for tools that read the JSON output.
const (
	InexactArgsCut       = "arguments_cut"          // the record's preview was cut at 500 characters: replayed without arguments
	InexactArgsRedacted  = "arguments_redacted"     // the preview holds redacted values, replayed as the [REDACTED] markers
	InexactArgsRewritten = "arguments_rewritten"    // the old policy rewrote the arguments: replayed as forwarded
	InexactNoAttributes  = "no_workflow_attributes" // a workflow pack decided, then or now: records keep no workflow attributes
	InexactThreatScore   = "threat_score"           // the recorded score is the call's highest, its result's included
)

// Record takes the next record of the log, in chain order.
func (r *Replayer) Record(ctx context.Context, rec *auditlog.Record) {
	switch {
	case rec.Type == auditlog.TypeDecision:
		r.pending = append(r.pending, rec)
	case rec.Type == auditlog.TypeRecovery,
		rec.Type == auditlog.TypeCheckpoint && rec.Checkpoint != nil && rec.Checkpoint.Reason == auditlog.CheckpointClose:
		// The gateway stopped here (cleanly, or it crashed and the next one recovered the log).
		r.Flush(ctx)
		if r.o.MemoryState {
			r.restart()
		}
	}
}

// Flush replays the decisions held, in the order they were made. Call it at the end of the log.
func (r *Replayer) Flush(ctx context.Context) {
	slices.SortStableFunc(r.pending, func(a, b *auditlog.Record) int { return decided(a).Compare(decided(b)) })
	for i, rec := range r.pending {
		r.o.Emit(r.replay(ctx, rec))
		r.pending[i] = nil
	}
	r.pending = r.pending[:0]
}

// decided is when the gateway received the call: the record's time is when its outcome was known.
func decided(rec *auditlog.Record) time.Time {
	return rec.Time.Add(-time.Duration(max(rec.LatencyUS, 0)) * time.Microsecond)
}

func (r *Replayer) replay(ctx context.Context, rec *auditlog.Record) *Result {
	r.sum.Decisions++
	res := &Result{Seq: rec.Seq, Time: rec.Time, DecisionID: rec.DecisionID, Agent: rec.Agent, Tenant: rec.Tenant,
		Method: rec.Method, Target: rec.Tool}
	res.Then, res.Skipped = then(rec)
	if res.Skipped != "" {
		r.sum.Skipped[res.Skipped]++
		return res
	}
	r.now = decided(rec)
	in, inexact := input(rec)
	c := &pipeline.Call{DecisionID: rec.DecisionID, Received: r.now, Upstream: rec.Upstream, Input: in}
	if err := r.chain.Run(ctx, c); err != nil {
		c.Refuse("replay", policy.CodeInternal, err.Error())
	}
	if c.Decision.Forwards() && rec.Code == string(policy.CodeUpstreamUnavailable) && rec.UpstreamUS == 0 {
		// The call never reached the upstream, and the gateway gave back what it had reserved.
		c.Decision.Abandon()
	}
	if rec.Method == mcp.MethodToolsCall && (c.Decision.Engine == "pack" || rec.Engine == "pack") && hasEngine(r.o.Engines, "pack") {
		// The pack decided, then or now, from workflow attributes the record does not keep.
		inexact = append(inexact, InexactNoAttributes)
	}
	now := outcome(&c.Decision)
	res.Now, res.Inexact = &now, inexact
	r.count(res)
	return res
}

func hasEngine(stages []pipeline.Stage, name string) bool {
	return slices.ContainsFunc(stages, func(s pipeline.Stage) bool { return s.Name() == name })
}

// count sets res.Status and counts it.
func (r *Replayer) count(res *Result) {
	r.sum.Replayed++
	if len(res.Inexact) > 0 {
		r.sum.Inexact++
	}
	switch {
	case !differs(res.Then, *res.Now):
		res.Status = StatusUnchanged
		r.sum.Unchanged++
		if res.Then.RuleID != res.Now.RuleID || res.Then.Code != res.Now.Code {
			r.sum.OtherRule++
		}
		return
	case len(res.Inexact) > 0:
		res.Status = StatusUncertain
		r.sum.Uncertain++
	default:
		res.Status = StatusChanged
		r.sum.Changed++
		r.sum.Transitions[Transition(res.Then, *res.Now)]++
	}
}

// Transition names a change, e.g. "allow → deny" or "allow → allow (would deny)".
func Transition(then, now Outcome) string {
	return then.label() + " → " + now.label()
}

func (o Outcome) label() string {
	if o.Would != "" {
		return o.Effect + " (would " + o.Would + ")"
	}
	return o.Effect
}

// differs compares what applied and what a monitoring engine reported.
func differs(then, now Outcome) bool {
	if then.Effect == Forwarded {
		return !policy.Effect(now.Effect).Forwards() || now.Would != ""
	}
	return then.Effect != now.Effect || then.Would != now.Would
}

// Skip reasons name who refused a call before the engines decided it, or why a record is not a
// decision of the policies at all.
const (
	skipMalformed   = "malformed message (refused before the policies)"
	skipPin         = "tool definition changed (tool pinning, not a decision of the policies)"
	skipBudgetState = "budget state unavailable (not a decision of the policies)"
)

// then reads what the policies decided from a record, or says why it cannot be replayed. A record
// names the stage that made a refusal in its engine member: the policy engines, or a stage before
// them (then the engines never decided), or one after them (budgets, approvals, the upstream).
func then(rec *auditlog.Record) (Outcome, string) {
	// The record of an engine's refusal says which engine refused in its reason (SPEC §5.3); here
	// the engine has a member of its own.
	reason := strings.TrimPrefix(rec.Reason, "blocked by "+rec.Engine+": ")
	o := Outcome{Effect: rec.Effect, Would: rec.WouldEffect, Code: rec.Code, RuleID: rec.RuleID, Engine: rec.Engine, Reason: reason}
	switch {
	case rec.Status == string(audit.StatusMalformed):
		return o, skipMalformed
	case rec.Engine == "pin" || strings.HasPrefix(rec.RuleID, "pin."):
		// Held or refused because a tool's definition changed (or its approval of that was denied):
		// the pins are state of the gateway's, not a policy.
		return o, skipPin
	case rec.Engine == "budget" && rec.Code == string(policy.CodePolicyError):
		return o, skipBudgetState
	case rec.Engine == "approval" || rec.ApprovalID != "":
		// Held by the policies: whatever the human then did, the policies' effect was a hold.
		o.Effect, o.Code = string(policy.EffectRequireApproval), string(policy.CodeApprovalRequired)
		return o, ""
	case rec.Engine == "upstream":
		o.Effect = Forwarded
		return o, ""
	case rec.Engine == "", rec.Engine == "budget", policyEngine[rec.Engine]:
		return o, ""
	}
	return o, fmt.Sprintf("refused by %s: %s (not a decision of the policies)", rec.Engine, rec.Code)
}

// discard takes the budget stage's log: a replay reports its decisions itself.
var discard = slog.New(slog.DiscardHandler)

// policyEngine names the engines whose decisions are replayed.
var policyEngine = map[string]bool{"rules": true, "rego": true, "pack": true}

// outcome is a combined decision as replay compares it.
func outcome(d *pipeline.Decision) Outcome {
	o := Outcome{Effect: string(d.Effect), Would: string(d.Would), Code: string(d.Code), RuleID: d.RuleID, Engine: d.Engine, Reason: d.Reason}
	if d.Would != "" {
		// As the audit record shows a monitored refusal: its rule and reason.
		o.Code, o.RuleID, o.Reason = string(d.WouldCode), d.WouldRule, d.WouldReason
	}
	if d.EngineError != "" && o.Reason == "" {
		o.Reason = d.EngineError
	}
	return o
}

// input rebuilds the decision input of a recorded request, as the gateway builds it (baseInput), and
// says where it is known to differ.
func input(rec *auditlog.Record) (policy.Input, []string) {
	p := policy.Principal{ID: rec.Agent, Roles: slices.Clone(rec.Roles), Claims: map[string]any{}}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	user := p
	if rec.User != "" {
		user.ID = rec.User
	}
	in := policy.Input{
		Kind:      rec.Method,
		Phase:     policy.PhaseRequest,
		RequestIP: rec.ClientIP,
		Headers:   map[string]string{},
		Tenant:    rec.Tenant,
		Session:   policy.Session{ID: rec.SessionID, RunID: rec.RunID},
		Tool:      policy.Tool{Server: rec.Upstream, Args: map[string]any{}},
		Prompt:    policy.Prompt{Args: map[string]any{}},
		User:      user,
		Agent:     p,
		Threat:    policy.Threat{Score: rec.ThreatScore, Findings: []policy.Finding{}},
	}
	for _, rule := range rec.Threats {
		in.Threat.Findings = append(in.Threat.Findings, policy.Finding{Rule: rule})
	}
	args, inexact := arguments(rec)
	if rec.ThreatScore > 0 {
		inexact = append(inexact, InexactThreatScore)
	}
	switch rec.Method {
	case mcp.MethodToolsCall:
		in.Tool.Name = rec.Tool
		if args != nil {
			in.Tool.Args = args
		}
	case mcp.MethodPromptsGet:
		in.Prompt.Name = rec.Tool
		if args != nil {
			in.Prompt.Args = args
		}
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		in.Resource.URI = rec.Tool
	}
	return in, inexact
}

// arguments reads a record's arguments preview back into arguments. A preview cut short is not
// JSON: the call is replayed without arguments.
func arguments(rec *auditlog.Record) (map[string]any, []string) {
	if rec.ArgsPreview == "" || (rec.Method != mcp.MethodToolsCall && rec.Method != mcp.MethodPromptsGet) {
		return nil, nil
	}
	var inexact []string
	switch policy.Effect(rec.Effect) {
	case policy.EffectRedact, policy.EffectPatch:
		inexact = append(inexact, InexactArgsRewritten)
	}
	v, err := mcp.DecodeValue([]byte(rec.ArgsPreview))
	args, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, append(inexact, InexactArgsCut)
	}
	if strings.Contains(rec.ArgsPreview, "[REDACTED") {
		inexact = append(inexact, InexactArgsRedacted)
	}
	return args, inexact
}

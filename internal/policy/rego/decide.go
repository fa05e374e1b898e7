package rego

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego/plan"
)

// The members of a decision object (SPEC §5.3). Only allow is required.
const (
	outAllow  = "allow"
	outPatch  = "patch"
	outReason = "reason"
	outCode   = "code"
	outEffect = "effect"
	outRuleID = "rule_id"
)

// noMetrics spares every evaluation the allocation of OPA's per-query metrics, which nothing reads.
var noMetrics = metrics.NoOp()

// denyCodes are the reason codes a policy may give a denial. They are the codes a client can act on
// for a refusal that policy made; the others (policy_error, upstream_unavailable, ...) describe what
// gatehouse itself did and are not a policy's to claim.
var denyCodes = map[policy.Code]bool{
	policy.CodePolicyDeny:       true,
	policy.CodeValidationFailed: true,
	policy.CodeThreatDetected:   true,
	policy.CodeCrossTenant:      true,
	policy.CodeUnauthenticated:  true,
	policy.CodeRateLimited:      true,
	policy.CodeBudgetExceeded:   true,
	policy.CodePayloadTooLarge:  true,
}

// Decide evaluates the decision for in (the request phase, or the response phase with in.Response set)
// and turns it into a verdict. Errors are engine errors: the input could not be converted, the
// evaluation failed or timed out, or the decision broke the output contract. The engine stage's fail
// posture decides those (SPEC §3.6).
func (d *Decider) Decide(ctx context.Context, in *policy.Input) (policy.Verdict, error) {
	val, err := d.evaluate(ctx, in, nil)
	if err != nil {
		return policy.Verdict{}, err
	}
	return d.verdict(in, val)
}

// evaluate runs the prepared decision query. A nil value means the decision is undefined.
//
// The evaluation is bounded by d.timeout through a cancel OPA checks as it evaluates, armed by a timer:
// left to itself, OPA would start a goroutine per evaluation to watch the context, which costs more
// than many decisions. The caller's context is checked before evaluation starts.
func (d *Decider) evaluate(ctx context.Context, in *policy.Input, extra []opa.EvalOption) (ast.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", d.query, err)
	}
	input, err := d.input(in)
	if err != nil {
		return nil, err
	}
	cancel := startDeadline(d.timeout)
	if d.prog != nil && extra == nil {
		res, err := d.prog.Eval(ctx, input, plan.EvalOptions{Cancel: cancel})
		if timedOut := cancel.stop(); err != nil {
			return nil, d.evalError(err, timedOut)
		}
		return d.planResult(res)
	}
	cache := getCache()
	rs, err := d.eval.Eval(ctx, append(extra, opa.EvalParsedInput(input), opa.EvalMetrics(noMetrics),
		opa.EvalTransaction(d.txn), opa.EvalExternalCancel(cancel), opa.EvalVirtualCache(cache))...)
	cache.release()
	if timedOut := cancel.stop(); err != nil {
		return nil, d.evalError(err, timedOut)
	}
	switch len(rs) {
	case 0:
		return nil, nil
	case 1:
		t, ok := rs[0].Expressions[0].Value.(*ast.Term)
		if !ok {
			return nil, fmt.Errorf("evaluating %s: unexpected result %T", d.query, rs[0].Expressions[0].Value)
		}
		return t.Value, nil
	}
	return nil, fmt.Errorf("evaluating %s: %d results, want one", d.query, len(rs))
}

// deadline cancels an evaluation when its timer fires. Deadlines are pooled: a timer and its cancel
// for every decision cost more than some decisions.
type deadline struct {
	cancelled atomic.Bool
	timer     *time.Timer
}

var _ topdown.Cancel = (*deadline)(nil)

var deadlines sync.Pool

// startDeadline returns a deadline that cancels after d.
func startDeadline(d time.Duration) *deadline {
	dl, _ := deadlines.Get().(*deadline)
	if dl == nil {
		dl = &deadline{}
		dl.timer = time.AfterFunc(d, dl.Cancel)
		return dl
	}
	dl.cancelled.Store(false)
	dl.timer.Reset(d)
	return dl
}

func (dl *deadline) Cancel()         { dl.cancelled.Store(true) }
func (dl *deadline) Cancelled() bool { return dl.cancelled.Load() }

// stop disarms the deadline and reports whether it had fired. Only one that had not is reused: the
// callback of one that fired may still be running.
func (dl *deadline) stop() (fired bool) {
	if dl.timer.Stop() {
		deadlines.Put(dl)
		return false
	}
	return true
}

// evalError says that the evaluation failed, and whether it was stopped by its timeout.
func (d *Decider) evalError(err error, timedOut bool) error {
	if timedOut {
		return fmt.Errorf("evaluating %s took longer than %v: %w", d.query, d.timeout, err)
	}
	return fmt.Errorf("evaluating %s: %w", d.query, err)
}

// planResult reads the result of the decision's plan: no result is undefined, one is an object
// holding the decision as its only member.
func (d *Decider) planResult(res []*ast.Term) (ast.Value, error) {
	switch len(res) {
	case 0:
		return nil, nil
	case 1:
		if obj, ok := res[0].Value.(ast.Object); ok && obj.Len() == 1 {
			var v ast.Value
			obj.Foreach(func(_, t *ast.Term) { v = t.Value })
			return v, nil
		}
		return nil, fmt.Errorf("evaluating %s: unexpected plan result %v", d.query, res[0])
	}
	return nil, fmt.Errorf("evaluating %s: %d results, want one", d.query, len(res))
}

// verdict reads a decision value (nil: undefined) against the output contract.
func (d *Decider) verdict(in *policy.Input, val ast.Value) (policy.Verdict, error) {
	if val == nil {
		return policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny,
			Reason: d.query + " is undefined for this input (no rule decided): denied", Revision: d.revision}, nil
	}
	obj, ok := val.(ast.Object)
	if !ok {
		return policy.Verdict{}, fmt.Errorf("%s must be an object such as {\"allow\": true}, got %s", d.query, ast.ValueName(val))
	}
	out, err := readOutput(obj)
	if err != nil {
		return policy.Verdict{}, fmt.Errorf("%s: %w", d.query, err)
	}
	v := policy.Verdict{Reason: out.reason, RuleID: out.ruleID, Revision: d.revision}
	if v.RuleID == "" {
		v.RuleID = d.query
	}
	switch {
	case out.effect != "":
		v.Effect = out.effect
		if v.Effect == policy.EffectDeny {
			v.Code = denyCode(out.code)
		}
	case !out.allow:
		v.Effect, v.Code = policy.EffectDeny, denyCode(out.code)
	default:
		v.Effect = policy.EffectAllow
		if out.patch != nil {
			if v.Ops, err = d.patchOps(in, out.patch); err != nil {
				return policy.Verdict{}, fmt.Errorf("%s: %w", d.query, err)
			}
			if len(v.Ops) > 0 {
				v.Effect = policy.EffectPatch
			}
		}
	}
	return v, nil
}

// patchOps converts a decision's patch to rewrites of the arguments (request) or the result (response).
func (d *Decider) patchOps(in *policy.Input, patch ast.Value) ([]policy.Op, error) {
	if in.Phase == policy.PhaseResponse {
		return MergeOps(in.Response, patch)
	}
	switch in.Kind {
	case "tools/call", "prompts/get":
		return MergeOps(in.Args(), patch)
	}
	return nil, fmt.Errorf("patch rewrites arguments or results, and a %s request has no arguments", in.Kind)
}

func denyCode(c policy.Code) policy.Code {
	if denyCodes[c] {
		return c
	}
	// A deny stands even when its code is misspelled: refusing is what the policy asked for.
	return policy.CodePolicyDeny
}

// output is a decision object, read.
type output struct {
	allow  bool
	patch  ast.Value
	reason string
	code   policy.Code
	effect policy.Effect
	ruleID string
}

// The decision's member names as terms, for lookups that allocate nothing.
var (
	tAllow, tPatch, tReason = ast.StringTerm(outAllow), ast.StringTerm(outPatch), ast.StringTerm(outReason)
	tCode, tEffect, tRuleID = ast.StringTerm(outCode), ast.StringTerm(outEffect), ast.StringTerm(outRuleID)
)

func readOutput(obj ast.Object) (output, error) {
	var out output
	known := 0
	allow := obj.Get(tAllow)
	if allow == nil {
		return out, errors.New("allow is required (true or false)")
	}
	known++
	b, ok := allow.Value.(ast.Boolean)
	if !ok {
		return out, fmt.Errorf("allow must be true or false, got %s", ast.ValueName(allow.Value))
	}
	out.allow = bool(b)
	if v := obj.Get(tPatch); v != nil {
		out.patch = v.Value
		known++
	}
	// str reads an optional string member; ok says whether it is there.
	str := func(key *ast.Term, name string) (s string, ok bool, err error) {
		v := obj.Get(key)
		if v == nil {
			return "", false, nil
		}
		known++
		s, err = stringMember(name, v)
		return s, true, err
	}
	var err error
	if out.reason, _, err = str(tReason, outReason); err != nil {
		return out, err
	}
	code, _, err := str(tCode, outCode)
	if err != nil {
		return out, err
	}
	out.code = policy.Code(code)
	if out.ruleID, _, err = str(tRuleID, outRuleID); err != nil {
		return out, err
	}
	effect, hasEffect, err := str(tEffect, outEffect)
	if err != nil {
		return out, err
	}
	if hasEffect {
		if out.effect, err = parseEffect(effect); err != nil {
			return out, err
		}
	}
	if known < obj.Len() {
		return out, unknownMember(obj)
	}
	return out, nil
}

// unknownMember names a member of a decision that is not one of its members.
func unknownMember(obj ast.Object) error {
	var err error
	obj.Until(func(k, _ *ast.Term) bool {
		name, ok := k.Value.(ast.String)
		switch {
		case !ok:
			err = fmt.Errorf("member %v: decision members are named by strings", k)
		case !slices.Contains([]string{outAllow, outPatch, outReason, outCode, outEffect, outRuleID}, string(name)):
			err = fmt.Errorf("unknown member %q: a decision has allow, patch, reason, code, effect and rule_id", string(name))
		}
		return err != nil
	})
	return err
}

func stringMember(name string, v *ast.Term) (string, error) {
	s, ok := v.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", name, ast.ValueName(v.Value))
	}
	return string(s), nil
}

// parseEffect accepts the effects a decision names explicitly. allow and patch are said with allow
// and patch; redaction is a patch.
func parseEffect(s string) (policy.Effect, error) {
	switch s {
	case "require_approval", "hold_for_approval":
		return policy.EffectRequireApproval, nil
	case "kill_session":
		return policy.EffectKillSession, nil
	case "deny":
		return policy.EffectDeny, nil
	}
	return "", fmt.Errorf("effect %q is not one of require_approval, hold_for_approval, kill_session, deny (allow and patch are said with allow and patch)", s)
}

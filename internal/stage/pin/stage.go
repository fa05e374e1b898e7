package pin

import (
	"context"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Stage puts the Pinner's quarantine on the request path. For a tools/call of a quarantined tool it
// adds a verdict of engine "pin" — require_approval (hold) or deny (hide), rule pin.changed or
// pin.poisoned — and calls next; the Decide stage combines it with the policy engines' verdicts, so
// a policy deny still wins and an approval of the call goes through the approval stage. Place it
// with the engines, before Decide. As a pipeline.Visibility it hides quarantined tools from lists
// when the action is hide.
type Stage struct{ p *Pinner }

var (
	_ pipeline.Stage      = (*Stage)(nil)
	_ pipeline.Visibility = (*Stage)(nil)
)

// Stage returns the request-path stage of p.
func (p *Pinner) Stage() *Stage { return &Stage{p: p} }

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "pin" }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if c.Input.Kind != "tools/call" || c.Input.Phase == policy.PhaseResponse {
		return next(ctx, c)
	}
	r, q := s.p.quarantined(ctx, c.Upstream, c.Input.Tool.Name)
	if !q {
		return next(ctx, c)
	}
	v := policy.Verdict{Engine: "pin", RuleID: "pin." + r.Reason}
	if s.p.action == ActionHide {
		v.Effect, v.Code = policy.EffectDeny, policy.CodePolicyDeny
		v.Reason = "the tool's definition changed since it was approved and it is hidden until an operator approves it again"
	} else {
		v.Effect, v.Code = policy.EffectRequireApproval, policy.CodeApprovalRequired
		v.Reason = "the tool's definition changed since it was approved; calls are held until an operator approves it again"
	}
	if r.Reason == ReasonPoisoned {
		v.Reason = "the tool's definition reads as tool poisoning; calls are held until an operator approves it"
		if s.p.action == ActionHide {
			v.Reason = "the tool's definition reads as tool poisoning; it is hidden until an operator approves it"
		}
	}
	s.p.metrics.blocked(s.p.action)
	c.Verdicts = append(c.Verdicts, pipeline.Verdict{Verdict: v})
	return next(ctx, c)
}

// Visible implements pipeline.Visibility: with the hide action, a quarantined tool is not listed.
func (s *Stage) Visible(ctx context.Context, c *pipeline.Call) bool {
	if s.p.action != ActionHide || c.Input.Kind != "tools/call" {
		return true
	}
	_, q := s.p.quarantined(ctx, c.Upstream, c.Input.Tool.Name)
	return !q
}

package rules

import (
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Decide evaluates the rules of in.Phase (anything but response means request) top to bottom and returns the verdict of
// the first rule whose every criterion holds. When none does, a request gets default_effect and a
// response is allowed unchanged: default_effect is about which calls may be made, and a result with no
// rule about it is the result of a call that was allowed.
//
// Decide is pure and safe for concurrent use. It does not allocate unless a rule with rewrites, a
// budget or a rate decides.
func (p *Policy) Decide(in *policy.Input) policy.Verdict {
	if in == nil {
		return p.requestDefault
	}
	target := in.Target()
	if in.Phase == policy.PhaseResponse {
		for _, r := range p.respIdx.lookup(in.Kind, target) {
			if r.matchesRest(in, target) {
				return p.verdict(r, in)
			}
		}
		return p.responseDefault
	}
	for _, r := range p.reqIndex.lookup(in.Kind, target) {
		if r.matchesRest(in, target) {
			return p.verdict(r, in)
		}
	}
	return p.requestDefault
}

// verdict is the decision of a matched rule.
func (p *Policy) verdict(r *rule, in *policy.Input) policy.Verdict {
	v := policy.Verdict{
		Engine:   Engine,
		Effect:   r.effect,
		Code:     r.code,
		Reason:   r.reason,
		RuleID:   r.id,
		Revision: p.revision,
	}
	if r.budget != nil {
		amount, why := r.budget.amount(in)
		if why != "" {
			return policy.Verdict{
				Engine:   Engine,
				Effect:   policy.EffectDeny,
				Code:     policy.CodeValidationFailed,
				Reason:   why,
				RuleID:   r.id,
				Revision: p.revision,
			}
		}
		v.Budget = &policy.Budget{
			Key:    r.budget.key,
			Scope:  r.budget.scope,
			Amount: amount,
			Limit:  r.budget.limit,
			Window: r.budget.window,
		}
	}
	if r.rate != nil {
		rate := *r.rate
		v.Rate = &rate
	}
	if len(r.ops) > 0 {
		v.Ops = cloneOps(r.ops)
	}
	if r.secrets {
		v.Ops = append(v.Ops, policy.Op{Kind: policy.OpRedactSecrets}) // expanded where applied
	}
	return v
}

// rulesFor returns the rules of the input's phase in file order.
func (p *Policy) rulesFor(in *policy.Input) []*rule {
	if in.Phase == policy.PhaseResponse {
		return p.response
	}
	return p.request
}

// defaultFor returns the verdict when no rule of the input's phase matches.
func (p *Policy) defaultFor(in *policy.Input) policy.Verdict {
	if in.Phase == policy.PhaseResponse {
		return p.responseDefault
	}
	return p.requestDefault
}

package rules

import (
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Visible reports whether a list result (tools/list, prompts/list, resources/list) should show the
// target of a hypothetical call to the caller (SPEC §3.4: a caller sees exactly what it may call).
//
// in describes that call: Kind (tools/call, prompts/get or resources/read), the target name, and the
// caller (agent, user, tenant, session, headers). Its arguments and threat score are unknown, so the
// request rules are evaluated three-valued: conditions on arguments, response.* or threat.*, and
// min_threat_score, are "maybe"; everything else is decided. Walking the rules in order:
//
//   - a rule whose decided criteria fail is skipped;
//   - a rule that surely matches decides: visible if it forwards (allow, redact, patch) or holds
//     (require_approval, which a human may approve), hidden if it denies or kills;
//   - a rule that maybe matches makes the target visible if it forwards or holds (some arguments may
//     be allowed) and is skipped otherwise;
//   - when no rule decides, default_effect does.
//
// The answer is sound: a target is hidden only if no arguments and no threat score could get the call
// forwarded or held. It may show a target that every actual call will be refused.
func (p *Policy) Visible(in *policy.Input) bool {
	if in == nil {
		return p.defaultEffect.Forwards()
	}
	target := in.Target()
	for _, r := range p.reqIndex.lookup(in.Kind, target) {
		switch r.matchesTri(in, target) {
		case triFalse:
			continue
		case triTrue:
			return showable(r.effect)
		case triUnknown:
			if showable(r.effect) {
				return true
			}
		}
	}
	return p.defaultEffect.Forwards()
}

// showable reports whether a call decided with effect e can ever reach the upstream.
func showable(e policy.Effect) bool {
	return e.Forwards() || e == policy.EffectRequireApproval
}

// matchesTri is matchesRest with arguments and the threat score unknown.
func (r *rule) matchesTri(in *policy.Input, target string) tri {
	if !r.tools.match(target) ||
		!r.servers.match(in.Tool.Server) ||
		!r.agents.match(in.Agent.ID) ||
		!r.tenants.match(in.Tenant) {
		return triFalse
	}
	if r.roles != nil && !in.Agent.HasAnyRole(r.roles) && !in.User.HasAnyRole(r.roles) {
		return triFalse
	}
	out := triTrue
	if r.hasMinThreat {
		out = triUnknown
	}
	if r.when != nil {
		switch r.when.evalTri(in) {
		case triFalse:
			return triFalse
		case triUnknown:
			out = triUnknown
		}
	}
	return out
}

package rules

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

var ruleFields = []string{
	"id", "effect", "reason", "code",
	"methods", "tools", "servers", "agents", "tenants", "require_roles", "when", "min_threat_score", "phase",
	"redact_fields", "redact_secrets", "patch", "budget", "rate",
}

var effectNames = "allow, deny, redact, patch, require_approval, hold_for_approval, kill_session"

// loadRule compiles the i-th rule. It returns nil when the rule has errors; they are recorded in ps.
func (ps *problems) loadRule(i int, n *yaml.Node) *rule {
	ps.label = fmt.Sprintf("rules[%d]", i)
	if id := peekID(n); id != "" {
		ps.label = id
	}
	r := &rule{index: i, line: n.Line, phase: policy.PhaseRequest}
	f, ok := ps.mapping(n, "rule", ruleFields)
	if !ok {
		return nil
	}
	good := true
	fail := func() { good = false }

	if m, ok := f.get("id"); !ok {
		ps.errorf(n, "rule has no id")
		fail()
	} else if id, ok := ps.str(m.val, "id"); !ok {
		fail()
	} else if msg := badID(id); msg != "" {
		ps.errorf(m.val, "%s", msg)
		fail()
	} else {
		r.id = id
	}

	if m, ok := f.get("phase"); ok {
		s, ok := ps.strictStr(m.val, "phase")
		switch {
		case !ok:
			fail()
		case s == "response":
			r.phase = policy.PhaseResponse
		case s != "request":
			ps.errorf(m.val, "phase %q is not request or response", s)
			fail()
		}
	}

	effectOK := false
	effectNode := n
	if m, ok := f.get("effect"); !ok {
		ps.errorf(n, "rule has no effect; want one of %s", effectNames)
		fail()
	} else if s, ok := ps.strictStr(m.val, "effect"); !ok {
		fail()
	} else if e, ok := policy.ParseEffect(s); !ok {
		ps.errorf(m.val, "effect %q is not one of %s%s", s, effectNames, suggest(s, strings.Split(effectNames, ", ")))
		fail()
	} else {
		r.effect, effectOK, effectNode = e, true, m.val
		if e == policy.EffectRequireApproval && r.phase == policy.PhaseResponse {
			ps.errorf(m.val, "effect %s cannot apply in the response phase: the call has already run", s)
			fail()
		}
	}

	if m, ok := f.get("reason"); ok {
		if s, ok := ps.str(m.val, "reason"); ok {
			r.reason = s
		} else {
			fail()
		}
	}

	if effectOK && (r.effect == policy.EffectDeny || r.effect == policy.EffectKillSession) {
		r.code = policy.CodePolicyDeny
	}
	if m, ok := f.get("code"); ok {
		if effectOK && r.code == "" {
			ps.errorf(m.key, "code applies only to deny and kill_session rules (effect is %s)", r.effect)
			fail()
		}
		s, ok := ps.strictStr(m.val, "code")
		switch {
		case !ok:
			fail()
		case s == string(policy.CodePolicyDeny) || s == string(policy.CodeValidationFailed):
			if r.code != "" {
				r.code = policy.Code(s)
			}
		default:
			ps.errorf(m.val, "code %q is not policy_deny or validation_failed", s)
			fail()
		}
	}

	if !ps.matchFields(r, f) {
		fail()
	}
	if !ps.extras(r, f, effectOK, effectNode) {
		fail()
	}
	if !good {
		return nil
	}
	return r
}

// peekID finds the id of a rule before it is checked, so that every problem in it is labelled.
func peekID(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "id" && v.Kind == yaml.ScalarNode && badID(v.Value) == "" {
			return v.Value
		}
	}
	return ""
}

// badID explains why a string cannot be a rule id. Ids appear in audit records, error data and
// file:line messages, so they are kept to one printable word.
func badID(id string) string {
	switch {
	case id == "":
		return "id is empty"
	case len(id) > 256:
		return "id is longer than 256 bytes"
	case strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Sprintf("id %q contains whitespace or control characters", id)
	}
	return ""
}

// matchFields compiles the match criteria of a rule.
func (ps *problems) matchFields(r *rule, f fields) bool {
	good := true
	if m, ok := f.get("methods"); ok {
		good = ps.methods(r, m.val) && good
	} else {
		r.methods = []string{"tools/call"}
	}
	for _, g := range []struct {
		name string
		dst  **globList
	}{{"tools", &r.tools}, {"servers", &r.servers}, {"agents", &r.agents}, {"tenants", &r.tenants}} {
		m, ok := f.get(g.name)
		if !ok {
			continue
		}
		l, ok := ps.globs(m.val, g.name)
		good = good && ok
		*g.dst = l
	}
	if m, ok := f.get("require_roles"); ok {
		roles, _, ok := ps.strList(m.val, "require_roles")
		good = good && ok
		r.roles = roles
	}
	if m, ok := f.get("min_threat_score"); ok {
		if v, _, ok := ps.number(m.val, "min_threat_score"); !ok {
			good = false
		} else if v < 0 {
			ps.errorf(m.val, "min_threat_score must be 0 or more, got %s", m.val.Value)
			good = false
		} else {
			r.minThreat, r.hasMinThreat = v, true
		}
	}
	if m, ok := f.get("when"); ok {
		r.when = ps.when(m.val, r.phase)
		good = good && r.when != nil
	}
	return good
}

// methods compiles methods: exact MCP method names or "*".
func (ps *problems) methods(r *rule, n *yaml.Node) bool {
	names, nodes, ok := ps.strList(n, "methods")
	if !ok {
		return false
	}
	good := true
	for i, m := range names {
		switch {
		case m == "*":
			r.anyMethod = true
		case strings.ContainsAny(m, "*?[]\\"):
			ps.errorf(nodes[i], "methods: %q: methods are exact names or \"*\" for any; globs are not supported", m)
			good = false
		case r.phase == policy.PhaseResponse && !contains(responseMethods, m):
			ps.errorf(nodes[i], "methods: %q has no results that response rules see; response rules apply to %s", m, strings.Join(responseMethods, ", "))
			good = false
		default:
			if !contains(decidedMethods, m) {
				ps.warnf(nodes[i], "methods: %q is not a known MCP method; the rule applies only if a client sends it%s", m, suggest(m, decidedMethods))
			}
			if !contains(r.methods, m) {
				r.methods = append(r.methods, m)
			}
		}
	}
	if r.anyMethod {
		r.methods = nil
		if r.phase == policy.PhaseResponse {
			r.anyMethod, r.methods = false, append([]string(nil), responseMethods...)
		}
	}
	return good
}

// globs compiles a list of globs.
func (ps *problems) globs(n *yaml.Node, what string) (*globList, bool) {
	srcs, nodes, ok := ps.strList(n, what)
	l := &globList{}
	for i, s := range srcs {
		g, err := compileGlob(s)
		if err != nil {
			ps.errorf(nodes[i], "%s: bad glob %q: %v", what, s, err)
			ok = false
			continue
		}
		l.globs = append(l.globs, g)
		l.all = l.all || g.kind == globAny
	}
	return l, ok
}

// extras compiles the effect extras and checks that each fits the effect and the phase.
func (ps *problems) extras(r *rule, f fields, effectOK bool, effectNode *yaml.Node) bool {
	good := true
	secrets, hasSecrets := f.get("redact_secrets")
	if hasSecrets {
		if !ps.noAlias(secrets.val) || secrets.val.Kind != yaml.ScalarNode || secrets.val.ShortTag() != "!!bool" {
			ps.errorf(secrets.val, "redact_secrets must be true or false, got %s", describe(secrets.val))
			good = false
		} else {
			r.secrets = secrets.val.Value == "true"
		}
		if effectOK && r.effect != policy.EffectRedact {
			ps.errorf(secrets.key, "redact_secrets needs effect: redact (effect is %s)", r.effect)
			good = false
		}
	}
	for _, x := range []struct {
		name   string
		effect policy.Effect
	}{{"redact_fields", policy.EffectRedact}, {"patch", policy.EffectPatch}} {
		m, present := f.get(x.name)
		if !effectOK {
			continue
		}
		switch {
		case present && r.effect != x.effect:
			ps.errorf(m.key, "%s needs effect: %s (effect is %s)", x.name, x.effect, r.effect)
			good = false
		case !present && r.effect == x.effect && !(x.name == "redact_fields" && r.secrets):
			if x.name == "redact_fields" {
				ps.errorf(effectNode, "effect redact needs redact_fields, redact_secrets: true, or both")
			} else {
				ps.errorf(effectNode, "effect %s needs %s", x.effect, x.name)
			}
			good = false
		case present:
			var ok bool
			if x.name == "redact_fields" {
				r.ops, ok = ps.redactOps(m.val, r.phase)
			} else {
				r.ops, ok = ps.patchOps(m.val, r.phase)
			}
			good = good && ok
		}
	}
	key := r.id
	if key == "" {
		key = ps.label
	}
	for _, name := range []string{"budget", "rate"} {
		m, present := f.get(name)
		if !present {
			continue
		}
		switch {
		case r.phase == policy.PhaseResponse:
			ps.errorf(m.key, "%s cannot apply in the response phase: the call has already been forwarded", name)
			good = false
		case effectOK && !r.effect.Forwards():
			ps.errorf(m.key, "%s applies only to rules that forward the call (allow, redact, patch); effect is %s", name, r.effect)
			good = false
		}
		if name == "budget" {
			r.budget = ps.budget(m.val, key)
			good = good && r.budget != nil
		} else {
			r.rate = ps.rate(m.val, key)
			good = good && r.rate != nil
		}
	}
	return good
}

package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Step is one rule tried by Explain.
type Step struct {
	// RuleID and Line name the rule.
	RuleID string `json:"rule_id"`
	Line   int    `json:"line"`
	// Matched is true for the rule that decided (always the last step, if any rule matched).
	Matched bool `json:"matched"`
	// Why names the first criterion that failed ("method tools/list not in [tools/call]",
	// "when: amount lt 500: got 600") or, for the rule that matched, every criterion that held.
	// It may quote argument values (truncated); treat it like the arguments themselves.
	Why string `json:"why"`
}

// String formats the step for a terminal: "line 12 refund-small: matched: …".
func (s Step) String() string {
	mark := "skip"
	if s.Matched {
		mark = "MATCH"
	}
	return fmt.Sprintf("%-5s line %d %s: %s", mark, s.Line, s.RuleID, s.Why)
}

// maxShown bounds the quoted value in an explanation.
const maxShown = 64

// Explain decides like Decide and also returns one Step per rule of the input's phase tried in order,
// up to and including the rule that matched. It allocates freely and is meant for gatehouse eval,
// replay and tests, not for the request path.
func (p *Policy) Explain(in *policy.Input) (policy.Verdict, []Step) {
	if in == nil {
		return p.requestDefault, nil
	}
	target := in.Target()
	var steps []Step
	for _, r := range p.rulesFor(in) {
		why, ok := r.explain(in, target)
		steps = append(steps, Step{RuleID: r.id, Line: r.line, Matched: ok, Why: why})
		if ok {
			return p.verdict(r, in), steps
		}
	}
	return p.defaultFor(in), steps
}

// explain checks the rule's criteria in the order matchesRest does, with the same primitives, and
// says which failed first or what held.
func (r *rule) explain(in *policy.Input, target string) (string, bool) {
	if !r.matchesMethod(in.Kind) {
		return fmt.Sprintf("method %s not in %s", showString(in.Kind), r.methodsText()), false
	}
	held := []string{"method " + showString(in.Kind)}
	for _, g := range []struct {
		name string
		list *globList
		v    string
	}{{"tools", r.tools, target}, {"servers", r.servers, in.Tool.Server}, {"agents", r.agents, in.Agent.ID}, {"tenants", r.tenants, in.Tenant}} {
		if g.list == nil {
			continue
		}
		if !g.list.match(g.v) {
			return fmt.Sprintf("%s: %s matches none of %s", g.name, quoteShort(g.v), g.list), false
		}
		held = append(held, fmt.Sprintf("%s: %s matches %s", g.name, quoteShort(g.v), g.list))
	}
	if r.roles != nil {
		roles := "[" + strings.Join(r.roles, ", ") + "]"
		if !in.Agent.HasAnyRole(r.roles) && !in.User.HasAnyRole(r.roles) {
			return "require_roles: caller has none of " + roles, false
		}
		held = append(held, "require_roles: caller has one of "+roles)
	}
	if r.hasMinThreat {
		score, min := fmtFloat(in.Threat.Score), fmtFloat(r.minThreat)
		if !(in.Threat.Score >= r.minThreat) {
			return fmt.Sprintf("min_threat_score: score %s is below %s", score, min), false
		}
		held = append(held, fmt.Sprintf("min_threat_score: score %s is at least %s", score, min))
	}
	if r.when != nil {
		if !r.when.eval(in) {
			return "when: " + r.when.whyFalse(in), false
		}
		held = append(held, "when: "+r.when.text+" held")
	}
	return "matched: " + strings.Join(held, "; "), true
}

func (r *rule) methodsText() string {
	if r.anyMethod {
		return "[*]"
	}
	return "[" + strings.Join(r.methods, ", ") + "]"
}

// whyFalse explains a condition that evaluated false: the leaf that failed and the value it saw.
func (c *cond) whyFalse(in *policy.Input) string {
	switch c.kind {
	case condAll:
		for _, k := range c.kids {
			if !k.eval(in) {
				return k.whyFalse(in)
			}
		}
	case condAny:
		return c.text + ": none held"
	case condNot:
		return c.text + ": " + c.kids[0].text + " held"
	}
	v := c.field.get(in)
	if v.kind == vMissing {
		return c.text + ": " + c.field.text + " is missing"
	}
	return c.text + ": got " + show(&v)
}

// show spells a field value for an explanation, truncated.
func show(v *val) string {
	switch v.kind {
	case vString:
		return quoteShort(v.s)
	case vNumber:
		return fmtFloat(v.f)
	case vStrings:
		return truncate("[" + strings.Join(v.ss, ", ") + "]")
	}
	switch x := v.a.(type) {
	case nil:
		return "null"
	case string:
		return quoteShort(x)
	case json.Number:
		return truncate(string(x))
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return fmt.Sprintf("an object of %d fields", len(x))
	case []any:
		return fmt.Sprintf("a list of %d", len(x))
	}
	return truncate(fmt.Sprintf("%v", v.a))
}

func showString(s string) string {
	if s == "" {
		return `""`
	}
	return truncate(s)
}

func quoteShort(s string) string {
	if len(s) > maxShown {
		return strconv.Quote(s[:maxShown]) + "…"
	}
	return strconv.Quote(s)
}

func truncate(s string) string {
	if len(s) > maxShown {
		return s[:maxShown] + "…"
	}
	return s
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

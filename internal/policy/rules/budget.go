package rules

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// budgetSpec is a rule's budget: what to count per call and against what limit. The counting itself is
// the budget stage's; a decision only says how much this call would add.
type budgetSpec struct {
	key    string
	field  *field // nil: every call counts 1
	limit  float64
	scope  policy.Scope
	window time.Duration
}

var budgetFields = []string{"key", "field", "limit", "scope", "window"}
var rateFields = []string{"limit", "per", "scope"}

var scopes = []string{string(policy.ScopeSession), string(policy.ScopeAgent), string(policy.ScopeRun), string(policy.ScopeTenant)}

// budget compiles budget: {key, field, limit, scope, window}.
func (ps *problems) budget(n *yaml.Node, ruleID string) *budgetSpec {
	f, ok := ps.mapping(n, "budget", budgetFields)
	if !ok {
		return nil
	}
	b := &budgetSpec{key: ruleID, scope: policy.ScopeSession}
	good := true
	if m, ok := f.get("key"); ok {
		if s, ok := ps.strictStr(m.val, "budget: key"); !ok {
			good = false
		} else if s == "" {
			ps.errorf(m.val, "budget: key is empty; leave it out to use the rule id")
			good = false
		} else {
			b.key = s
		}
	}
	if m, ok := f.get("field"); ok {
		if s, ok := ps.strictStr(m.val, "budget: field"); !ok {
			good = false
		} else if fld, err := compileField(s, policy.PhaseRequest); err != nil {
			ps.errorf(m.val, "budget: field %q: %v", s, err)
			good = false
		} else if fld.root != rootArgs {
			ps.errorf(m.val, "budget: field %q is a context field; a budget counts an argument (write args.%s for an argument of that name)", s, s)
			good = false
		} else {
			b.field = fld
		}
	}
	if m, ok := f.get("limit"); !ok {
		ps.errorf(n, "budget has no limit")
		good = false
	} else if v, _, ok := ps.number(m.val, "budget: limit"); !ok {
		good = false
	} else if v <= 0 {
		ps.errorf(m.val, "budget: limit must be greater than 0, got %s", m.val.Value)
		good = false
	} else {
		b.limit = v
	}
	if sc, ok := ps.scope(f, "budget"); !ok {
		good = false
	} else if sc != "" {
		b.scope = sc
	}
	if m, ok := f.get("window"); ok {
		if d, ok := ps.duration(m.val, "budget: window"); !ok {
			good = false
		} else {
			b.window = d
		}
	}
	if !good {
		return nil
	}
	return b
}

// rate compiles rate: {limit, per, scope}; the key is the rule id.
func (ps *problems) rate(n *yaml.Node, ruleID string) *policy.Rate {
	f, ok := ps.mapping(n, "rate", rateFields)
	if !ok {
		return nil
	}
	r := &policy.Rate{Key: ruleID, Scope: policy.ScopeSession}
	good := true
	if m, ok := f.get("limit"); !ok {
		ps.errorf(n, "rate has no limit")
		good = false
	} else if v, _, ok := ps.number(m.val, "rate: limit"); !ok {
		good = false
	} else if v < 1 || v != math.Trunc(v) || v > math.MaxInt32 {
		ps.errorf(m.val, "rate: limit must be a whole number of calls, at least 1, got %s", m.val.Value)
		good = false
	} else {
		r.Limit = int(v)
	}
	if m, ok := f.get("per"); !ok {
		ps.errorf(n, "rate has no per (a duration such as 1m)")
		good = false
	} else if d, ok := ps.duration(m.val, "rate: per"); !ok {
		good = false
	} else {
		r.Per = d
	}
	if sc, ok := ps.scope(f, "rate"); !ok {
		good = false
	} else if sc != "" {
		r.Scope = sc
	}
	if good && r.Per/time.Duration(r.Limit) < time.Microsecond {
		ps.errorf(n, "rate: %d per %s is more than one call per microsecond (at most 1000000 per second)", r.Limit, r.Per)
		good = false
	}
	if !good {
		return nil
	}
	return r
}

func (ps *problems) scope(f fields, what string) (policy.Scope, bool) {
	m, ok := f.get("scope")
	if !ok {
		return "", true
	}
	s, ok := ps.strictStr(m.val, what+": scope")
	if !ok {
		return "", false
	}
	if !contains(scopes, s) {
		ps.errorf(m.val, "%s: scope %q is not one of session, agent, run, tenant%s", what, s, suggest(s, scopes))
		return "", false
	}
	return policy.Scope(s), true
}

// duration reads a Go duration (90s, 1m, 24h) that must be positive.
func (ps *problems) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := ps.strictStr(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		ps.errorf(n, "%s: bad duration %q; write a Go duration such as 90s, 15m or 24h (there is no d unit)", what, s)
		return 0, false
	}
	if d <= 0 {
		ps.errorf(n, "%s: duration must be positive, got %s", what, s)
		return 0, false
	}
	return d, true
}

// amount is what this call adds to the budget, or a reason to refuse it. A negative amount would
// refill the budget, and NaN or infinity would poison the counter, so both are refused as
// validation_failed rather than passed to the budget stage.
func (b *budgetSpec) amount(in *policy.Input) (float64, string) {
	if b.field == nil {
		return 1, ""
	}
	v := b.field.get(in)
	if v.kind == vMissing {
		return 0, fmt.Sprintf("budget field %q is missing", b.field.text)
	}
	n, ok := v.num()
	if !ok {
		return 0, fmt.Sprintf("budget field %q is not a number", b.field.text)
	}
	switch {
	case math.IsInf(n.f, 0) || math.IsNaN(n.f):
		return 0, fmt.Sprintf("budget field %q is not a finite number", b.field.text)
	case n.f < 0:
		return 0, fmt.Sprintf("budget field %q is negative (%s); a budgeted amount must be zero or more", b.field.text, strconv.FormatFloat(n.f, 'g', -1, 64))
	case n.f == 0:
		return 0, "" // not -0
	}
	return n.f, ""
}

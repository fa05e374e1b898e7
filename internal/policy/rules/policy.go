package rules

import (
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Engine is the name rules verdicts carry in policy.Verdict.Engine.
const Engine = "rules"

// Policy is a loaded, validated and compiled rules file. It is immutable and safe for concurrent use;
// a reload builds a new Policy.
type Policy struct {
	name, version, revision string
	defaultEffect           policy.Effect

	rules             []*rule // every rule, in file order
	request, response []*rule // the rules of each phase, in file order
	reqIndex, respIdx methodIndex
	warnings          []Problem
	requestDefault    policy.Verdict
	responseDefault   policy.Verdict
}

// Name is the policy's name field.
func (p *Policy) Name() string { return p.name }

// Version is the policy's version field.
func (p *Policy) Version() string { return p.version }

// Revision identifies the exact file: the version, "@", and the first 12 hex digits of the SHA-256 of
// the file's bytes. It is stamped on every verdict so that an audit record names the policy that
// decided.
func (p *Policy) Revision() string { return p.revision }

// Rules is the number of rules in the policy.
func (p *Policy) Rules() int { return len(p.rules) }

// DefaultEffect is what a request no rule matches gets.
func (p *Policy) DefaultEffect() policy.Effect { return p.defaultEffect }

// HasResponseRules reports whether any rule decides results (phase: response). When none does, the
// gateway returns results without decoding them.
func (p *Policy) HasResponseRules() bool { return len(p.response) > 0 }

// Warnings are the problems that did not refuse the policy, in file order.
func (p *Policy) Warnings() []Problem { return append([]Problem(nil), p.warnings...) }

// methodIndex finds the rules that can apply to a message without trying every rule: a decision
// looks its kind up, then its target, and walks only the rules left, in file order. Most rules name
// their tools literally, so most decisions walk a handful of rules whatever the size of the policy.
type methodIndex struct {
	byKind map[string]*targetIndex
	// other holds the methods: ["*"] rules, which are all that can apply to a kind no rule names.
	other *targetIndex
}

// targetIndex holds the rules of one kind, narrowed by target.
type targetIndex struct {
	// byTarget maps each literal tools glob of these rules to the rules whose tools accept it.
	byTarget map[string][]*rule
	// others are the rules that can match a target byTarget does not hold: those without tools and
	// those with a tools pattern. When the index would be too large, others is every rule.
	others []*rule
}

// maxTargetIndex bounds the entries of a targetIndex (rules × literal names); past it a decision walks
// every rule of the kind, which is slower but still correct.
const maxTargetIndex = 1 << 20

func buildIndex(rules []*rule) methodIndex {
	kinds := map[string][]*rule{}
	for _, r := range rules {
		for _, m := range r.methods {
			kinds[m] = nil
		}
	}
	var other []*rule
	for _, r := range rules {
		if r.anyMethod {
			other = append(other, r)
		}
		for kind := range kinds {
			if r.matchesMethod(kind) {
				kinds[kind] = append(kinds[kind], r)
			}
		}
	}
	ix := methodIndex{byKind: map[string]*targetIndex{}, other: buildTargetIndex(other)}
	for kind, rs := range kinds {
		ix.byKind[kind] = buildTargetIndex(rs)
	}
	return ix
}

func buildTargetIndex(rules []*rule) *targetIndex {
	ti := &targetIndex{byTarget: map[string][]*rule{}}
	for _, r := range rules {
		open := r.tools == nil || r.tools.all
		for _, g := range r.tools.globsOrNil() {
			if lit, ok := g.isLiteral(); ok {
				ti.byTarget[lit] = nil
			} else {
				open = true
			}
		}
		if open {
			ti.others = append(ti.others, r)
		}
	}
	if len(ti.byTarget)*len(rules) > maxTargetIndex {
		return &targetIndex{others: rules}
	}
	for lit := range ti.byTarget {
		var rs []*rule
		for _, r := range rules {
			if r.tools.match(lit) {
				rs = append(rs, r)
			}
		}
		ti.byTarget[lit] = rs
	}
	return ti
}

// lookup returns the rules, in file order, that may match a message of this kind and target.
func (ix *methodIndex) lookup(kind, target string) []*rule {
	ti, ok := ix.byKind[kind]
	if !ok {
		ti = ix.other
	}
	if rs, ok := ti.byTarget[target]; ok {
		return rs
	}
	return ti.others
}

// index splits the rules by phase and precomputes the default verdicts.
func (p *Policy) index() {
	for _, r := range p.rules {
		if r.phase == policy.PhaseResponse {
			p.response = append(p.response, r)
		} else {
			p.request = append(p.request, r)
		}
	}
	p.reqIndex = buildIndex(p.request)
	p.respIdx = buildIndex(p.response)
	p.requestDefault = policy.Verdict{
		Engine:   Engine,
		Effect:   p.defaultEffect,
		Reason:   "no rule matched; default_effect " + string(p.defaultEffect),
		Revision: p.revision,
	}
	if p.defaultEffect == policy.EffectDeny {
		p.requestDefault.Code = policy.CodePolicyDeny
	}
	p.responseDefault = policy.Verdict{
		Engine:   Engine,
		Effect:   policy.EffectAllow,
		Reason:   "no response rule matched",
		Revision: p.revision,
	}
}

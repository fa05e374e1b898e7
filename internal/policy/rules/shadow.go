package rules

import "sort"

// unreachable reports every rule that an earlier rule of the same phase makes unreachable: the earlier
// rule matches every message the later one could match, so the later one can never decide.
//
// The check is sound, never complete: it reports a rule only when covering is provable from the rules'
// shapes (method sets, glob lists, roles, threat thresholds and identical conditions). A rule it does
// not report may still be unreachable for reasons only a solver could see.
func (ps *problems) unreachable(rules []*rule) {
	var ix coverIndex
	for _, b := range rules {
		for _, a := range ix.candidates(b) {
			if covers(a, b) {
				ps.label = b.id
				ps.add(SeverityError, b.line, 1, "rule is unreachable: "+describeRule(a)+" matches every message this rule could match")
				break
			}
		}
		ix.add(b)
	}
}

// coverIndex narrows the earlier rules that could cover a rule to those whose tools could: without it
// the check is quadratic in the number of rules, which is seconds at MaxRules.
type coverIndex struct {
	wild    []*rule            // no tools restriction, or "*"
	bySrc   map[string][]*rule // by the source of each of their tools globs
	pattern []*rule            // rules with a tools glob that is not a literal
}

func (ix *coverIndex) add(r *rule) {
	if r.tools == nil || r.tools.all {
		ix.wild = append(ix.wild, r)
		return
	}
	if ix.bySrc == nil {
		ix.bySrc = map[string][]*rule{}
	}
	pattern := false
	for _, g := range r.tools.globs {
		if l := ix.bySrc[g.src]; len(l) == 0 || l[len(l)-1] != r {
			ix.bySrc[g.src] = append(l, r)
		}
		if _, lit := g.isLiteral(); !lit {
			pattern = true
		}
	}
	if pattern {
		ix.pattern = append(ix.pattern, r)
	}
}

// candidates returns, in file order, the earlier rules whose tools field could cover b's. A covering
// rule must accept b's first tools glob: it is unrestricted, or has that glob, or (for a literal) has
// a pattern matching it.
func (ix *coverIndex) candidates(b *rule) []*rule {
	if b.tools == nil || b.tools.all {
		return ix.wild
	}
	first := b.tools.globs[0]
	out := append([]*rule(nil), ix.wild...)
	out = append(out, ix.bySrc[first.src]...)
	if lit, ok := first.isLiteral(); ok {
		for _, a := range ix.pattern {
			if a.tools.match(lit) {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

// covers reports whether every message b matches is provably matched by a.
func covers(a, b *rule) bool {
	if a.phase != b.phase {
		return false
	}
	if !a.anyMethod {
		if b.anyMethod {
			return false
		}
		for _, m := range b.methods {
			if !contains(a.methods, m) {
				return false
			}
		}
	}
	if !coversGlobs(a.tools, b.tools) || !coversGlobs(a.servers, b.servers) ||
		!coversGlobs(a.agents, b.agents) || !coversGlobs(a.tenants, b.tenants) {
		return false
	}
	if a.roles != nil {
		if b.roles == nil {
			return false
		}
		for _, role := range b.roles {
			if !contains(a.roles, role) {
				return false
			}
		}
	}
	if a.hasMinThreat && (!b.hasMinThreat || b.minThreat < a.minThreat) {
		return false
	}
	if a.when != nil {
		if b.when == nil {
			return false
		}
		bc := b.when.conjuncts()
		for _, ac := range a.when.conjuncts() {
			found := false
			for _, c := range bc {
				if c.text == ac.text {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// coversGlobs reports whether every name b accepts is accepted by a: a is unrestricted or has "*", or
// each of b's globs is one of a's, or is a literal name one of a's globs matches.
func coversGlobs(a, b *globList) bool {
	if a == nil || a.all {
		return true
	}
	if b == nil {
		return false
	}
	for _, bg := range b.globs {
		ok := false
		for _, ag := range a.globs {
			if ag.src == bg.src {
				ok = true
				break
			}
			if lit, isLit := bg.isLiteral(); isLit && ag.match(lit) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

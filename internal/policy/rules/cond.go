package rules

import (
	"regexp"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// opKind is a condition operator.
type opKind uint8

const (
	opEq opKind = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opIn
	opNotIn
	opContains
	opStartsWith
	opEndsWith
	opRegex
	opExists
)

var opNames = map[string]opKind{
	"eq": opEq, "ne": opNe, "lt": opLt, "le": opLe, "gt": opGt, "ge": opGe,
	"in": opIn, "not_in": opNotIn, "contains": opContains, "startswith": opStartsWith,
	"endswith": opEndsWith, "regex": opRegex, "exists": opExists,
}

var opList = []string{"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "startswith", "endswith", "regex", "exists"}

// litKind is the type of a rule value.
type litKind uint8

const (
	litString litKind = iota
	litNumber
	litBool
	litNull
)

// literal is a rule value converted at load time.
type literal struct {
	kind litKind
	s    string // string value, or the decimal text of a number
	num  number
	b    bool
}

// eq reports whether v equals the literal. Numbers compare numerically and a numeric string counts as
// its number; other types must match exactly.
func (l *literal) eq(v *val) bool {
	switch l.kind {
	case litString:
		s, ok := v.str()
		return ok && s == l.s
	case litNumber:
		n, ok := v.num()
		return ok && cmpNumber(&n, &l.num) == 0
	case litBool:
		b, ok := v.a.(bool)
		return v.kind == vAny && ok && b == l.b
	case litNull:
		return v.kind == vAny && v.a == nil
	}
	return false
}

// comparable reports whether v has the literal's type, so that ne and not_in can tell "different" from
// "not comparable" (which is false, like every type mismatch).
func (l *literal) comparable(v *val) bool {
	switch l.kind {
	case litString:
		_, ok := v.str()
		return ok
	case litNumber:
		_, ok := v.num()
		return ok
	case litBool:
		_, ok := v.a.(bool)
		return v.kind == vAny && ok
	case litNull:
		return v.kind == vAny && v.a == nil
	}
	return false
}

func (v *val) str() (string, bool) {
	switch v.kind {
	case vString:
		return v.s, true
	case vAny:
		s, ok := v.a.(string)
		return s, ok
	}
	return "", false
}

func (v *val) num() (number, bool) {
	switch v.kind {
	case vNumber:
		return number{f: v.f}, v.f == v.f
	case vString:
		return numberFromText(v.s)
	case vAny:
		return numberOf(v.a)
	}
	return number{}, false
}

// condKind tells leaves from trees.
type condKind uint8

const (
	condLeaf condKind = iota
	condAll
	condAny
	condNot
)

// cond is a compiled condition: a leaf {field, op, value} or an all/any/not tree.
type cond struct {
	kind condKind
	kids []*cond

	field  *field
	op     opKind
	lit    literal   // eq ne lt le gt ge contains startswith endswith
	list   []literal // in not_in
	re     *regexp.Regexp
	exists bool

	// text is the canonical spelling, used in explanations and to compare conditions.
	text string
	line int
}

// eval decides the condition. It never fails: a missing field or a type mismatch is false.
func (c *cond) eval(in *policy.Input) bool {
	switch c.kind {
	case condAll:
		for _, k := range c.kids {
			if !k.eval(in) {
				return false
			}
		}
		return true
	case condAny:
		for _, k := range c.kids {
			if k.eval(in) {
				return true
			}
		}
		return false
	case condNot:
		return !c.kids[0].eval(in)
	}
	v := c.field.get(in)
	return c.test(&v)
}

// test applies a leaf's operator to a looked-up value.
func (c *cond) test(v *val) bool {
	if v.kind == vMissing {
		return c.op == opExists && !c.exists
	}
	switch c.op {
	case opExists:
		return c.exists
	case opEq:
		return c.lit.eq(v)
	case opNe:
		return c.lit.comparable(v) && !c.lit.eq(v)
	case opLt, opLe, opGt, opGe:
		n, ok := v.num()
		if !ok {
			return false
		}
		r := cmpNumber(&n, &c.lit.num)
		switch c.op {
		case opLt:
			return r < 0
		case opLe:
			return r <= 0
		case opGt:
			return r > 0
		}
		return r >= 0
	case opIn:
		for i := range c.list {
			if c.list[i].eq(v) {
				return true
			}
		}
		return false
	case opNotIn:
		comparable := false
		for i := range c.list {
			if c.list[i].eq(v) {
				return false
			}
			comparable = comparable || c.list[i].comparable(v)
		}
		return comparable
	case opContains:
		return c.contains(v)
	case opStartsWith:
		s, ok := v.str()
		return ok && strings.HasPrefix(s, c.lit.s)
	case opEndsWith:
		s, ok := v.str()
		return ok && strings.HasSuffix(s, c.lit.s)
	case opRegex:
		s, ok := v.str()
		return ok && c.re.MatchString(s)
	}
	return false
}

// contains is substring search in a string and element membership in a list.
func (c *cond) contains(v *val) bool {
	switch v.kind {
	case vString:
		return c.lit.kind == litString && strings.Contains(v.s, c.lit.s)
	case vStrings:
		if c.lit.kind != litString {
			return false
		}
		for _, s := range v.ss {
			if s == c.lit.s {
				return true
			}
		}
		return false
	case vAny:
		switch x := v.a.(type) {
		case string:
			return c.lit.kind == litString && strings.Contains(x, c.lit.s)
		case []any:
			for _, e := range x {
				ev := val{kind: vAny, a: e}
				if c.lit.eq(&ev) {
					return true
				}
			}
		case []string:
			if c.lit.kind != litString {
				return false
			}
			for _, s := range x {
				if s == c.lit.s {
					return true
				}
			}
		}
	}
	return false
}

// tri is a three-valued truth for visibility, where arguments are not known yet.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// evalTri decides the condition with arguments, the response and the threat score unknown.
func (c *cond) evalTri(in *policy.Input) tri {
	switch c.kind {
	case condAll:
		out := triTrue
		for _, k := range c.kids {
			switch k.evalTri(in) {
			case triFalse:
				return triFalse
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case condAny:
		out := triFalse
		for _, k := range c.kids {
			switch k.evalTri(in) {
			case triTrue:
				return triTrue
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case condNot:
		switch c.kids[0].evalTri(in) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	}
	if c.field.unknownToVisible() {
		return triUnknown
	}
	if c.eval(in) {
		return triTrue
	}
	return triFalse
}

// conjuncts returns the conditions that must all hold for c to hold: the members of a top-level all,
// or c itself.
func (c *cond) conjuncts() []*cond {
	if c == nil {
		return nil
	}
	if c.kind == condAll {
		var out []*cond
		for _, k := range c.kids {
			out = append(out, k.conjuncts()...)
		}
		return out
	}
	return []*cond{c}
}

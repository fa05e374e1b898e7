package rules

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Limits on a policy file, so that a hostile or broken file is refused with a located error instead
// of exhausting memory or the stack.
const (
	// MaxFileBytes is the largest policy file Load accepts (4 MiB).
	MaxFileBytes = 4 << 20
	// MaxRules is the largest number of rules in one file.
	MaxRules = 10000
	// MaxConditionDepth is the deepest nesting of all/any/not in a when.
	MaxConditionDepth = 32
	// MaxRegexBytes is the longest regex source a condition may use.
	MaxRegexBytes = 4096
)

var leafFields = []string{"field", "op", "value"}
var condFields = []string{"field", "op", "value", "all", "any", "not"}

// when compiles a rule's when: one condition, or a list meaning all of them.
func (ps *problems) when(n *yaml.Node, phase policy.Phase) *cond {
	if !ps.noAlias(n) {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		return ps.tree(condAll, n, "when", 1, phase)
	}
	return ps.cond(n, "when", 1, phase)
}

// cond compiles one condition node at depth (the when itself is depth 1).
func (ps *problems) cond(n *yaml.Node, where string, depth int, phase policy.Phase) *cond {
	if depth > MaxConditionDepth {
		ps.errorf(n, "%s: conditions nested deeper than %d", where, MaxConditionDepth)
		return nil
	}
	f, ok := ps.mapping(n, where, condFields)
	if !ok {
		return nil
	}
	var trees []string
	for _, k := range []string{"all", "any", "not"} {
		if f.has(k) {
			trees = append(trees, k)
		}
	}
	leaf := f.has("field") || f.has("op") || f.has("value")
	switch {
	case len(trees) > 1 || (len(trees) == 1 && leaf):
		ps.errorf(n, "%s: a condition is either {field, op, value} or exactly one of all, any, not", where)
		return nil
	case len(trees) == 0 && !leaf:
		ps.errorf(n, "%s: empty condition; want {field, op, value} or all, any, not", where)
		return nil
	case len(trees) == 1:
		m, _ := f.get(trees[0])
		switch trees[0] {
		case "all":
			return ps.tree(condAll, m.val, where, depth, phase)
		case "any":
			return ps.tree(condAny, m.val, where, depth, phase)
		}
		kid := ps.cond(m.val, where, depth+1, phase)
		if kid == nil {
			return nil
		}
		return &cond{kind: condNot, kids: []*cond{kid}, text: "not (" + kid.text + ")", line: n.Line}
	}
	return ps.leaf(n, f, where, phase)
}

// tree compiles the list of an all or any.
func (ps *problems) tree(kind condKind, n *yaml.Node, where string, depth int, phase policy.Phase) *cond {
	if depth > MaxConditionDepth {
		ps.errorf(n, "%s: conditions nested deeper than %d", where, MaxConditionDepth)
		return nil
	}
	if !ps.noAlias(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		ps.errorf(n, "%s must be a list of conditions, got %s", where, describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		ps.errorf(n, "%s is empty; an empty all or any has no clear meaning, remove it or add conditions", where)
		return nil
	}
	c := &cond{kind: kind, line: n.Line}
	ok := true
	texts := make([]string, 0, len(n.Content))
	for _, kn := range n.Content {
		kid := ps.cond(kn, where, depth+1, phase)
		if kid == nil {
			ok = false
			continue
		}
		c.kids = append(c.kids, kid)
		texts = append(texts, kid.text)
	}
	if !ok {
		return nil
	}
	name := "all"
	if kind == condAny {
		name = "any"
	}
	c.text = name + " [" + strings.Join(texts, ", ") + "]"
	return c
}

// leaf compiles {field, op, value}, checking that the value fits the operator.
func (ps *problems) leaf(n *yaml.Node, f fields, where string, phase policy.Phase) *cond {
	c := &cond{kind: condLeaf, line: n.Line}
	good := true
	fm, hasField := f.get("field")
	if !hasField {
		ps.errorf(n, "%s: condition has no field", where)
		good = false
	} else if text, ok := ps.strictStr(fm.val, where+": field"); !ok {
		good = false
	} else if fld, err := compileField(text, phase); err != nil {
		ps.errorf(fm.val, "%s: field %q: %v", where, text, err)
		good = false
	} else {
		c.field = fld
	}
	om, hasOp := f.get("op")
	if !hasOp {
		ps.errorf(n, "%s: condition has no op", where)
		return nil
	}
	opText, ok := ps.strictStr(om.val, where+": op")
	if !ok {
		return nil
	}
	op, known := opNames[opText]
	if !known {
		ps.errorf(om.val, "%s: unknown op %q; want one of %s%s", where, opText, strings.Join(opList, " "), suggest(opText, opList))
		return nil
	}
	c.op = op
	vm, hasValue := f.get("value")
	if !hasValue && op != opExists {
		ps.errorf(n, "%s: op %s needs a value", where, opText)
		return nil
	}
	var valueText string
	if hasValue {
		if !ps.noAlias(vm.val) {
			return nil
		}
		var ok bool
		valueText, ok = ps.opValue(c, opText, vm.val, where)
		good = good && ok
	} else {
		c.exists = true
		valueText = "true"
	}
	if !good {
		return nil
	}
	c.text = c.field.text + " " + opText + " " + valueText
	return c
}

// opValue checks and converts the value of a leaf for its operator and returns its canonical text.
func (ps *problems) opValue(c *cond, op string, v *yaml.Node, where string) (string, bool) {
	bad := func(want string) (string, bool) {
		ps.errorf(v, "%s: op %s needs %s, got %s", where, op, want, describe(v))
		return "", false
	}
	switch c.op {
	case opExists:
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
			return bad("true or false")
		}
		var b bool
		if err := v.Decode(&b); err != nil {
			return bad("true or false")
		}
		c.exists = b
		return strconv.FormatBool(b), true
	case opEq, opNe:
		l, ok := scalarLiteral(v, true)
		if !ok {
			return bad("a string, number, bool or null (use in for a list)")
		}
		c.lit = l
	case opLt, opLe, opGt, opGe:
		l, ok := scalarLiteral(v, false)
		if !ok || l.kind != litNumber {
			return bad("a number")
		}
		c.lit = l
	case opContains:
		l, ok := scalarLiteral(v, false)
		if !ok {
			return bad("a string, number or bool")
		}
		c.lit = l
	case opStartsWith, opEndsWith:
		l, ok := scalarLiteral(v, false)
		if !ok || l.kind != litString {
			return bad("a string")
		}
		c.lit = l
	case opRegex:
		l, ok := scalarLiteral(v, false)
		if !ok || l.kind != litString {
			return bad("a string (an RE2 regular expression)")
		}
		if len(l.s) > MaxRegexBytes {
			ps.errorf(v, "%s: regex is %d bytes; the limit is %d", where, len(l.s), MaxRegexBytes)
			return "", false
		}
		re, err := regexp.Compile(l.s)
		if err != nil {
			ps.errorf(v, "%s: bad regex %q: %v", where, l.s, err)
			return "", false
		}
		c.lit, c.re = l, re
	case opIn, opNotIn:
		if v.Kind != yaml.SequenceNode {
			return bad("a list")
		}
		if len(v.Content) == 0 {
			ps.errorf(v, "%s: op %s needs a non-empty list", where, op)
			return "", false
		}
		texts := make([]string, 0, len(v.Content))
		good := true
		for _, e := range v.Content {
			if !ps.noAlias(e) {
				good = false
				continue
			}
			l, ok := scalarLiteral(e, true)
			if !ok {
				ps.errorf(e, "%s: op %s list entries must be strings, numbers, bools or null, got %s", where, op, describe(e))
				good = false
				continue
			}
			c.list = append(c.list, l)
			texts = append(texts, l.String())
		}
		return "[" + strings.Join(texts, ", ") + "]", good
	}
	return c.lit.String(), true
}

// scalarLiteral converts a YAML scalar to a rule value by its tag: quoted "500" is a string, bare 500 a
// number.
func scalarLiteral(n *yaml.Node, allowNull bool) (literal, bool) {
	if n.Kind != yaml.ScalarNode {
		return literal{}, false
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		// A bare date (2026-01-31) is a timestamp to YAML and a string in JSON arguments.
		return literal{kind: litString, s: n.Value}, true
	case "!!int", "!!float":
		f, text, err := yamlNumber(n)
		if err != "" {
			return literal{}, false
		}
		d, _ := parseDecimal(text)
		return literal{kind: litNumber, s: text, num: number{f: f, dec: d, hasDec: true}}, true
	case "!!bool":
		var b bool
		if n.Decode(&b) != nil {
			return literal{}, false
		}
		return literal{kind: litBool, b: b}, true
	case "!!null":
		return literal{kind: litNull}, allowNull
	}
	return literal{}, false
}

// String spells the value as in JSON: "text", 500, true, null.
func (l *literal) String() string {
	switch l.kind {
	case litString:
		return strconv.Quote(l.s)
	case litNumber:
		return l.s
	case litBool:
		return strconv.FormatBool(l.b)
	}
	return "null"
}

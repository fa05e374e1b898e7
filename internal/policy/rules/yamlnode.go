package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// member is one key: value pair of a YAML mapping.
type member struct {
	key, val *yaml.Node
}

// fields is a mapping's members by name, with the nodes kept for locating problems.
type fields struct {
	byName map[string]member
	order  []member
}

func (f fields) get(name string) (member, bool) {
	m, ok := f.byName[name]
	return m, ok
}

func (f fields) has(name string) bool {
	_, ok := f.byName[name]
	return ok
}

// mapping reads n as a mapping whose keys must be among known (any key when known is nil). Aliases,
// non-string keys, duplicate keys and unknown keys are located errors; the members that survive are
// returned. go.yaml.in/yaml/v3 does not reject duplicate keys when decoding into a yaml.Node (its check
// runs only when decoding into Go values), so this walk is where duplicates are caught: a policy must
// mean exactly one thing.
func (ps *problems) mapping(n *yaml.Node, what string, known []string) (fields, bool) {
	f := fields{byName: map[string]member{}}
	if !ps.noAlias(n) {
		return f, false
	}
	if n.Kind != yaml.MappingNode {
		ps.errorf(n, "%s must be a mapping, got %s", what, describe(n))
		return f, false
	}
	// Problems in a rule or at the top level are already labelled by where they are.
	prefix := what + ": "
	if what == "rule" || what == "policy" {
		prefix = ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !ps.noAlias(k) || !ps.noAlias(v) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			ps.errorf(k, "%skeys must be strings, got %s", prefix, describe(k))
			continue
		}
		if first, dup := f.byName[k.Value]; dup {
			ps.errorf(k, "%sduplicate key %q (first at line %d)", prefix, k.Value, first.key.Line)
			continue
		}
		if known != nil && !contains(known, k.Value) {
			ps.errorf(k, "%sunknown field %q%s", prefix, k.Value, suggest(k.Value, known))
			continue
		}
		m := member{key: k, val: v}
		f.byName[k.Value] = m
		f.order = append(f.order, m)
	}
	return f, true
}

// noAlias refuses YAML aliases. Resolving them would let a small file expand into a huge tree
// ("billion laughs"), and a policy reviewed like code gains nothing from them.
func (ps *problems) noAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		ps.errorf(n, "YAML aliases (*%s) are not supported in policies; write the value out", n.Value)
		return false
	}
	return true
}

// str reads a scalar as text. Numbers and booleans are accepted as written (version: 1.10 is
// "1.10"); null, lists and mappings are not.
func (ps *problems) str(n *yaml.Node, what string) (string, bool) {
	if !ps.noAlias(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		ps.errorf(n, "%s must be a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// strictStr reads a scalar that must be a YAML string (not a number or boolean written bare).
func (ps *problems) strictStr(n *yaml.Node, what string) (string, bool) {
	if !ps.noAlias(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		ps.errorf(n, "%s must be a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// list reads a non-empty sequence; an empty list is refused because in a match field it would match
// nothing, which is never what an author meant.
func (ps *problems) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if !ps.noAlias(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		ps.errorf(n, "%s must be a list, got %s", what, describe(n))
		return nil, false
	}
	if len(n.Content) == 0 {
		ps.errorf(n, "%s is an empty list, which matches nothing; remove the field to match anything", what)
		return nil, false
	}
	return n.Content, true
}

// strList reads a non-empty list of non-empty strings.
func (ps *problems) strList(n *yaml.Node, what string) ([]string, []*yaml.Node, bool) {
	items, ok := ps.list(n, what)
	if !ok {
		return nil, nil, false
	}
	out := make([]string, 0, len(items))
	nodes := make([]*yaml.Node, 0, len(items))
	good := true
	for _, it := range items {
		s, ok := ps.strictStr(it, what+" entries")
		if !ok {
			good = false
			continue
		}
		if s == "" {
			ps.errorf(it, "%s: empty entry", what)
			good = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, it)
	}
	return out, nodes, good
}

// number reads a finite YAML number and returns it with decimal text for exact comparisons.
func (ps *problems) number(n *yaml.Node, what string) (float64, string, bool) {
	if !ps.noAlias(n) {
		return 0, "", false
	}
	f, text, err := yamlNumber(n)
	if err != "" {
		ps.errorf(n, "%s %s", what, err)
		return 0, "", false
	}
	return f, text, true
}

// yamlNumber converts a scalar tagged !!int or !!float. The decimal text is the text as written when it
// is in JSON number grammar, so that 0.1 is compared as 0.1 and not as its binary approximation.
func yamlNumber(n *yaml.Node) (float64, string, string) {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") {
		return 0, "", "must be a number, got " + describe(n)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return 0, "", fmt.Sprintf("must be a number, got %q", n.Value)
	}
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	default:
		return 0, "", fmt.Sprintf("must be a number, got %q", n.Value)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, "", fmt.Sprintf("must be a finite number, got %s", n.Value)
	}
	text := n.Value
	if _, ok := parseDecimal(text); !ok {
		switch x := v.(type) {
		case int:
			text = strconv.Itoa(x)
		case int64:
			text = strconv.FormatInt(x, 10)
		case uint64:
			text = strconv.FormatUint(x, 10)
		default:
			text = strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return f, text, ""
}

// describe names a node's type for messages: string "x", number 5, bool true, null, list, mapping.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "number " + n.Value
	case "!!bool":
		return "bool " + n.Value
	case "!!str":
		return "string " + strconv.Quote(n.Value)
	}
	return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest offers the closest known name to a misspelt one.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		// A suggestion must be closer than a third of the word, or "key" would suggest "per".
		if d := editDistance(strings.ToLower(got), k); d < bestD && d*3 <= len(got) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, bounded for long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

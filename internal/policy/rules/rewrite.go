package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// maxPatchDepth bounds the nesting of a patch value.
const maxPatchDepth = 32

// rewritePath compiles a path of redact_fields or patch into the segments of a policy.Op: relative to
// the arguments in the request phase (an args. prefix is allowed) and to the result in the response
// phase (a response. prefix is allowed). Paths that would rewrite the context are refused: only the
// message itself can be rewritten.
func rewritePath(text string, phase policy.Phase) ([]string, error) {
	segs, err := parsePath(text)
	if err != nil {
		return nil, err
	}
	first := segs[0]
	if !first.quoted {
		switch {
		case phase == policy.PhaseRequest && first.key == "args",
			phase == policy.PhaseResponse && first.key == "response":
			segs = segs[1:]
		case phase == policy.PhaseResponse && first.key == "args":
			return nil, fmt.Errorf("a response rule rewrites the result, not the arguments")
		case first.key == "response":
			return nil, fmt.Errorf("response fields exist only in the response phase; add phase: response")
		case isContextRoot(first.key):
			return nil, fmt.Errorf("%s is a context field and cannot be rewritten (an argument named %s is args.%s)", first.key, first.key, text)
		}
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("names the whole message; name a field inside it")
	}
	for _, sg := range segs {
		if sg.key == "*" && !sg.quoted {
			return nil, fmt.Errorf("wildcards are not supported in rewrite paths")
		}
	}
	return segKeys(segs), nil
}

// redactOps compiles redact_fields.
func (ps *problems) redactOps(n *yaml.Node, phase policy.Phase) ([]policy.Op, bool) {
	paths, nodes, ok := ps.strList(n, "redact_fields")
	good := ok
	var ops []policy.Op
	for i, p := range paths {
		segs, err := rewritePath(p, phase)
		if err != nil {
			ps.errorf(nodes[i], "redact_fields: path %q: %v", p, err)
			good = false
			continue
		}
		ops = append(ops, policy.Op{Kind: policy.OpRedact, Path: segs, Value: policy.RedactedValue})
	}
	return ops, good
}

// patchOps compiles patch: a mapping of path to the value to set there, applied in file order.
func (ps *problems) patchOps(n *yaml.Node, phase policy.Phase) ([]policy.Op, bool) {
	f, ok := ps.mapping(n, "patch", nil)
	if !ok {
		return nil, false
	}
	if len(f.order) == 0 {
		ps.errorf(n, "patch is empty; name at least one path to set")
		return nil, false
	}
	good := true
	var ops []policy.Op
	for _, m := range f.order {
		segs, err := rewritePath(m.key.Value, phase)
		if err != nil {
			ps.errorf(m.key, "patch: path %q: %v", m.key.Value, err)
			good = false
			continue
		}
		v, ok := ps.jsonValue(m.val, "patch: "+m.key.Value, 1)
		if !ok {
			good = false
			continue
		}
		ops = append(ops, policy.Op{Kind: policy.OpSet, Path: segs, Value: v})
	}
	return ops, good
}

// jsonValue converts a YAML value to the Go value encoding/json with UseNumber would produce for the
// same JSON: map[string]any, []any, string, bool, nil, and json.Number for every number (so that a
// patched value has the same types as the arguments it joins, and 0.1 stays 0.1 on the wire).
func (ps *problems) jsonValue(n *yaml.Node, where string, depth int) (any, bool) {
	if !ps.noAlias(n) {
		return nil, false
	}
	if depth > maxPatchDepth {
		ps.errorf(n, "%s: value nested deeper than %d", where, maxPatchDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		f, ok := ps.mapping(n, where, nil)
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(f.order))
		good := true
		for _, m := range f.order {
			v, ok := ps.jsonValue(m.val, where+"."+m.key.Value, depth+1)
			good = good && ok
			out[m.key.Value] = v
		}
		return out, good
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		good := true
		for i, e := range n.Content {
			v, ok := ps.jsonValue(e, fmt.Sprintf("%s[%d]", where, i), depth+1)
			good = good && ok
			out = append(out, v)
		}
		return out, good
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!str", "!!timestamp":
			return n.Value, true
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if n.Decode(&b) != nil {
				break
			}
			return b, true
		case "!!int", "!!float":
			_, text, err := yamlNumber(n)
			if err != "" {
				ps.errorf(n, "%s: value %s", where, err)
				return nil, false
			}
			return json.Number(text), true
		}
	}
	ps.errorf(n, "%s: %s cannot be written as JSON", where, describe(n))
	return nil, false
}

// cloneOps copies a rule's ops for a verdict, deep-copying composite values, so that a caller that
// applies (and mutates) a patch can never change the compiled policy.
func cloneOps(ops []policy.Op) []policy.Op {
	out := make([]policy.Op, len(ops))
	copy(out, ops)
	for i := range out {
		out[i].Path = append([]string(nil), out[i].Path...)
		switch out[i].Value.(type) {
		case map[string]any, []any:
			out[i].Value = cloneJSON(out[i].Value)
		}
	}
	return out
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneJSON(e)
		}
		return s
	}
	return v
}

// opsText spells ops for explanations.
func opsText(ops []policy.Op) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

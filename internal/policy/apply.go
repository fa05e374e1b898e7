package policy

import (
	"fmt"
	"strconv"
)

// Apply returns doc with ops applied in order. doc is never modified: only the objects and arrays on
// each op's path are copied, so the Input every engine saw stays intact. A redact or remove whose path
// does not exist is skipped (there is nothing to mask); a set creates missing objects on its path. An
// op that would index into a scalar, or past the end of an array, is an error: a rewrite that cannot
// be applied as written must not be forwarded as if it had been.
func Apply(doc any, ops []Op) (any, error) { return ApplyFinding(doc, ops, nil) }

// ApplyFinding is Apply for operations that may include OpRedactSecrets: each is replaced by the
// operations find returns for the document as it stands at that point (the gateway passes the
// secret redactor, which this package cannot import). Without find, an OpRedactSecrets is an error.
func ApplyFinding(doc any, ops []Op, find func(doc any) []Op) (any, error) {
	for _, op := range ops {
		var err error
		if op.Kind == OpRedactSecrets {
			if find == nil {
				return nil, fmt.Errorf("%s: no secret finder to expand it", op)
			}
			if doc, err = Apply(doc, find(doc)); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			continue
		}
		if doc, err = apply(doc, op, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return doc, nil
}

func apply(node any, op Op, i int) (any, error) {
	if i == len(op.Path) {
		switch op.Kind {
		case OpSet:
			return op.Value, nil
		case OpRedact:
			return RedactedValue, nil
		}
		return nil, fmt.Errorf("cannot %s the whole document", op.Kind)
	}
	seg := op.Path[i]
	last := i == len(op.Path)-1
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[seg]
		if !ok && op.Kind != OpSet {
			return n, nil
		}
		out := make(map[string]any, len(n)+1)
		for k, v := range n {
			out[k] = v
		}
		if last && op.Kind == OpRemove {
			delete(out, seg)
			return out, nil
		}
		if !ok && !last {
			child = map[string]any{}
		}
		v, err := apply(child, op, i+1)
		if err != nil {
			return nil, err
		}
		out[seg] = v
		return out, nil
	case []any:
		idx, err := strconv.Atoi(seg)
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("%q is not an array index", seg)
		}
		if idx >= len(n) {
			if op.Kind == OpSet {
				return nil, fmt.Errorf("index %d is past the end of an array of %d", idx, len(n))
			}
			return n, nil
		}
		if last && op.Kind == OpRemove {
			out := make([]any, 0, len(n)-1)
			out = append(out, n[:idx]...)
			return append(out, n[idx+1:]...), nil
		}
		out := append([]any(nil), n...)
		v, err := apply(n[idx], op, i+1)
		if err != nil {
			return nil, err
		}
		out[idx] = v
		return out, nil
	case nil:
		if op.Kind != OpSet {
			return nil, nil
		}
		return apply(map[string]any{}, op, i)
	}
	if op.Kind != OpSet {
		return node, nil // nothing at this path to redact or remove
	}
	return nil, fmt.Errorf("cannot set %q inside a %T", seg, node)
}

package rego

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// MergeOps converts a JSON merge patch (RFC 7396) over doc into the rewrite operations every engine
// shares, so that a Rego patch is applied, audited and combined exactly like a rules engine patch.
//
// The patch must be an object (a patch that replaces the whole document would replace a call's
// arguments with something that is not an object). For each member: null removes the member from doc;
// an object merges into doc's member when that is an object too; anything else (including an object
// where doc has no object) sets the member to the patch value, with the nulls inside objects dropped as
// RFC 7396 prescribes. Arrays are values, replaced whole. A doc that is not an object is replaced whole
// (one set with an empty path). doc is read, never modified; the ops, applied
// to doc with policy.Apply, produce exactly RFC 7396's MergePatch(doc, patch). Ops come out sorted by
// member name, so the same patch always produces the same ops.
func MergeOps(doc any, patch ast.Value) ([]policy.Op, error) {
	obj, ok := patch.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("patch must be an object (a JSON merge patch), got %s", ast.ValueName(patch))
	}
	if _, isObj := doc.(map[string]any); !isObj && doc != nil {
		// MergePatch of a document that is not an object starts from {}: the patch, nulls dropped,
		// replaces the whole document.
		v, err := fromValue(dropNulls(obj))
		if err != nil {
			return nil, fmt.Errorf("patch: %w", err)
		}
		return []policy.Op{{Kind: policy.OpSet, Path: []string{}, Value: v}}, nil
	}
	var ops []policy.Op
	if err := mergeOps(doc, obj, nil, &ops); err != nil {
		return nil, err
	}
	return ops, nil
}

func mergeOps(doc any, patch ast.Object, path []string, ops *[]policy.Op) error {
	target, _ := doc.(map[string]any)
	names, err := memberNames(patch, path)
	if err != nil {
		return err
	}
	for _, name := range names {
		at := append(slices.Clip(path), name)
		val := patch.Get(ast.StringTerm(name)).Value
		switch v := val.(type) {
		case ast.Null:
			if _, exists := target[name]; exists {
				*ops = append(*ops, policy.Op{Kind: policy.OpRemove, Path: at})
			}
			continue
		case ast.Object:
			if child, isObj := target[name].(map[string]any); isObj {
				if err := mergeOps(child, v, at, ops); err != nil {
					return err
				}
				continue
			}
			val = dropNulls(v)
		}
		out, err := fromValue(val)
		if err != nil {
			return fmt.Errorf("patch.%s: %w", strings.Join(at, "."), err)
		}
		*ops = append(*ops, policy.Op{Kind: policy.OpSet, Path: at, Value: out})
	}
	return nil
}

// memberNames returns the patch's member names, sorted; every key must be a string.
func memberNames(patch ast.Object, path []string) ([]string, error) {
	names := make([]string, 0, patch.Len())
	for _, k := range patch.Keys() {
		s, ok := k.Value.(ast.String)
		if !ok {
			where := "patch"
			if len(path) > 0 {
				where += "." + strings.Join(path, ".")
			}
			return nil, fmt.Errorf("%s: member name %v is not a string", where, k)
		}
		names = append(names, string(s))
	}
	slices.Sort(names)
	return names, nil
}

// dropNulls removes null members from objects at any depth (RFC 7396: MergePatch of a non-object with
// an object patch starts from {}). Arrays are values and keep their nulls.
func dropNulls(obj ast.Object) ast.Object {
	out := ast.NewObjectWithCapacity(obj.Len())
	obj.Foreach(func(k, v *ast.Term) {
		switch x := v.Value.(type) {
		case ast.Null:
			return
		case ast.Object:
			out.Insert(k, ast.NewTerm(dropNulls(x)))
		default:
			out.Insert(k, v)
		}
	})
	return out
}

package rego

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// mergePatch is RFC 7396 §2's MergePatch, written from the RFC's pseudocode, as the reference MergeOps
// is checked against.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	out := map[string]any{}
	if ok {
		for k, v := range t {
			out[k] = v
		}
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = mergePatch(out[k], v)
		}
	}
	return out
}

// checkAgainstRFC applies MergeOps's ops to doc and compares with the reference.
func checkAgainstRFC(t *testing.T, doc, patch any) {
	t.Helper()
	pv, err := ast.InterfaceToValue(patch)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := MergeOps(doc, pv)
	if err != nil {
		t.Fatalf("MergeOps: %v", err)
	}
	got, err := policy.Apply(doc, ops)
	if err != nil {
		t.Fatalf("Apply(%v): %v", ops, err)
	}
	want := mergePatch(doc, patch)
	if doc == nil && len(ops) == 0 {
		want = nil // no ops leave a missing document missing
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("doc %v patch %v ops %v: (-RFC 7396 +ops applied):\n%s", doc, patch, ops, diff)
	}
}

// TestMergeOpsRFC7396 runs the test cases of RFC 7396 Appendix A, and a few more.
func TestMergeOpsRFC7396(t *testing.T) {
	for _, tt := range []struct{ doc, patch string }{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`},
		{`{"a":["b"]}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"a":"x"}`, `{"a":{"b":null,"c":{"d":null,"e":[null]}}}`},
		{`{"a":1}`, `{}`},
		{`{"content":[{"type":"text","text":"\u001b[1mX"}]}`, `{"content":[{"type":"text","text":"X"}]}`},
	} {
		t.Run(tt.doc+" "+tt.patch, func(t *testing.T) {
			checkAgainstRFC(t, jsonValue(t, tt.doc), jsonValue(t, tt.patch))
		})
	}
}

func TestMergeOpsShape(t *testing.T) {
	doc := jsonValue(t, `{"keep": 1, "gone": 2, "obj": {"x": 1}, "scalar": 5}`)
	ops, err := MergeOps(doc, ast.MustParseTerm(`{"gone": null, "absent": null, "obj": {"y": 2.50}, "scalar": {"z": null, "w": 1}}`).Value)
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Op{
		{Kind: policy.OpRemove, Path: []string{"gone"}},
		{Kind: policy.OpSet, Path: []string{"obj", "y"}, Value: json.Number("2.50")},
		{Kind: policy.OpSet, Path: []string{"scalar"}, Value: map[string]any{"w": json.Number("1")}},
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s\n(removing an absent member is no op; a number keeps its text; an object over a scalar is set whole, nulls dropped)", diff)
	}
	if _, err := MergeOps(doc, ast.String("x")); err == nil || !strings.Contains(err.Error(), "patch must be an object") {
		t.Errorf("a string patch: got %v", err)
	}
	if _, err := MergeOps(doc, ast.MustParseTerm(`{"obj": {1: 2}}`).Value); err == nil || !strings.Contains(err.Error(), "patch.obj: member name 1 is not a string") {
		t.Errorf("a number member name: got %v", err)
	}
}

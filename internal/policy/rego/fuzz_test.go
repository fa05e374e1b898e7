package rego

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// decodeJSON decodes data as the gateway does (UseNumber); ok is false for anything that is not one
// JSON value.
func decodeJSON(data []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// FuzzMergeOps checks MergeOps against RFC 7396 on arbitrary documents (a tool's result is untrusted)
// and patches: applying its ops must give exactly MergePatch(doc, patch), and nothing may panic.
func FuzzMergeOps(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{"content":[{"type":"text","text":"\u001b[31mALERT"}]}`, `{"content":[{"type":"text","text":"ALERT"}]}`},
		{`[1,2]`, `{"a":1}`},
		{`"x"`, `{"a":{"b":null}}`},
		{`{"a":1.50}`, `{"a":{"b":[null,1e400]}}`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, docData, patchData []byte) {
		doc, ok1 := decodeJSON(docData)
		patch, ok2 := decodeJSON(patchData)
		if !ok1 || !ok2 {
			return
		}
		pv, err := ast.InterfaceToValue(patch)
		if err != nil {
			return
		}
		ops, err := MergeOps(doc, pv)
		if _, isObj := patch.(map[string]any); !isObj {
			if err == nil {
				t.Fatalf("a %T patch was accepted", patch)
			}
			return
		}
		if err != nil {
			t.Fatalf("MergeOps(%s, %s): %v", docData, patchData, err)
		}
		got, err := policy.Apply(doc, ops)
		if err != nil {
			t.Fatalf("Apply(%s, %v): %v", docData, ops, err)
		}
		want := mergePatch(doc, patch)
		if doc == nil && len(ops) == 0 {
			want = nil
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("doc %s patch %s: (-RFC 7396 +ops applied):\n%s", docData, patchData, diff)
		}
	})
}

// FuzzInputValue checks that the direct conversion of arbitrary arguments builds the document OPA
// builds from their JSON, numbers included.
func FuzzInputValue(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1}`, `{"n":123456789012345678901234567890,"f":0.1,"e":-1E+2}`, `{"x":[null,true,{"y":"\u00e9"}]}`, `{"":1E70000}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decodeJSON(data)
		args, isObj := v.(map[string]any)
		if !ok || !isObj {
			return
		}
		in := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t", Args: args}}
		got, err := inputValue(in)
		if refused := opaRefuses(t, in); refused || err != nil {
			if !refused || err == nil {
				t.Fatalf("inputValue(%s): error %v; OPA's conversion refuses it: %v", data, err, refused)
			}
			return // a number too large for OPA: refused by both
		}
		if want := viaJSON(t, in); got.Compare(want) != 0 {
			t.Fatalf("args %s:\n got %v\nwant %v", data, got, want)
		}
	})
}

package policy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestApply(t *testing.T) {
	doc := func() any {
		return map[string]any{
			"user":  map[string]any{"password": "hunter2", "name": "ann"},
			"items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}},
			"n":     json.Number("12345678901234567890"),
		}
	}
	tests := []struct {
		name string
		ops  []Op
		want any
	}{
		{"redact nested", []Op{{Kind: OpRedact, Path: []string{"user", "password"}}},
			map[string]any{"user": map[string]any{"password": RedactedValue, "name": "ann"}, "items": doc().(map[string]any)["items"], "n": json.Number("12345678901234567890")}},
		{"redact missing is a no-op", []Op{{Kind: OpRedact, Path: []string{"user", "token"}}}, doc()},
		{"set creates", []Op{{Kind: OpSet, Path: []string{"opts", "dry_run"}, Value: true}},
			merge(doc(), "opts", map[string]any{"dry_run": true})},
		{"set array element", []Op{{Kind: OpSet, Path: []string{"items", "1", "sku"}, Value: "z"}},
			merge(doc(), "items", []any{map[string]any{"sku": "a"}, map[string]any{"sku": "z"}})},
		{"remove", []Op{{Kind: OpRemove, Path: []string{"n"}}},
			map[string]any{"user": doc().(map[string]any)["user"], "items": doc().(map[string]any)["items"]}},
		{"remove array element", []Op{{Kind: OpRemove, Path: []string{"items", "0"}}},
			merge(doc(), "items", []any{map[string]any{"sku": "b"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := doc()
			got, err := Apply(in, tt.ops)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(doc(), in); diff != "" {
				t.Errorf("Apply modified its input (-before +after):\n%s", diff)
			}
		})
	}
	for _, bad := range [][]Op{
		{{Kind: OpSet, Path: []string{"n", "x"}, Value: 1}},
		{{Kind: OpSet, Path: []string{"items", "9"}, Value: 1}},
		{{Kind: OpSet, Path: []string{"items", "x"}, Value: 1}},
	} {
		if _, err := Apply(doc(), bad); err == nil {
			t.Errorf("Apply(%v) succeeded, want an error", bad)
		}
	}
}

func merge(doc any, k string, v any) any {
	m := doc.(map[string]any)
	m[k] = v
	return m
}

func TestApplyFindingExpandsRedactSecrets(t *testing.T) {
	doc := map[string]any{"a": "x", "b": "y"}
	// The finder sees the document as the ops before it left it.
	var seen any
	find := func(d any) []Op {
		seen = d
		return []Op{{Kind: OpRedact, Path: []string{"b"}}}
	}
	got, err := ApplyFinding(doc, []Op{{Kind: OpSet, Path: []string{"a"}, Value: "z"}, {Kind: OpRedactSecrets}}, find)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"a": "z", "b": RedactedValue}; !cmp.Equal(got, any(want)) {
		t.Errorf("got %v, want %v", got, want)
	}
	if !cmp.Equal(seen, any(map[string]any{"a": "z", "b": "y"})) {
		t.Errorf("finder saw %v, want the document after the set", seen)
	}
	if !cmp.Equal(doc, map[string]any{"a": "x", "b": "y"}) {
		t.Errorf("the input was modified: %v", doc)
	}
	if _, err := Apply(doc, []Op{{Kind: OpRedactSecrets}}); err == nil {
		t.Error("Apply without a finder accepted redact_secrets")
	}
}

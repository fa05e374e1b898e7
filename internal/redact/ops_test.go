package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestOps(t *testing.T) {
	in := decodeJSON(t, `{"user":"a","password":"p","nested":{"token":"t","note":"key AKIAIOSFODNN7EXAMPLE","ok":true},"list":[4111111111111111,"x"],"email":null}`)
	got := Ops(in, []string{"arguments"})
	want := []policy.Op{
		{Kind: policy.OpSet, Path: []string{"arguments", "list", "0"}, Value: RedactedCard},
		{Kind: policy.OpSet, Path: []string{"arguments", "nested", "note"}, Value: "key [REDACTED_API_KEY]"},
		{Kind: policy.OpRedact, Path: []string{"arguments", "nested", "token"}},
		{Kind: policy.OpRedact, Path: []string{"arguments", "password"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Ops (-want +got):\n%s", diff)
	}
	if ops := Ops(decodeJSON(t, `{"path":"README.md"}`), nil); ops != nil {
		t.Errorf("Ops on a clean value: got %v, want nil", ops)
	}
}

// TestOpsApplyLikeValue applies Ops with policy.Apply (the gateway's rewrite path) and checks that
// the result is what Value gives, for documents covering every kind of redaction.
func TestOpsApplyLikeValue(t *testing.T) {
	docs := []string{
		`{"password":"p","a":[{"api_key":"k"},"Bearer abcdefgh12345678"],"n":4111111111111111}`,
		`{"AKIAIOSFODNN7EXAMPLE":{"token":"t","x":"y"},"z":1}`,
		`{"content":[{"type":"text","text":"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"}],"isError":false}`,
		`["https://u:p@h.example/", {"ssn": 123}]`,
		`{"clean":"nothing here","deep":{"deeper":{"deepest":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig"}}}`,
	}
	for _, doc := range docs {
		in := decodeJSON(t, doc)
		got, err := policy.Apply(in, Ops(in, nil))
		if err != nil {
			t.Fatalf("%s: Apply: %v", doc, err)
		}
		if diff := cmp.Diff(Value(in), got); diff != "" {
			t.Errorf("%s: Apply(Ops) differs from Value (-Value +Apply):\n%s", doc, diff)
		}
		if diff := cmp.Diff(decodeJSON(t, doc), in); diff != "" {
			t.Errorf("%s: input modified:\n%s", doc, diff)
		}
	}
}

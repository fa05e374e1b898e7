package rego

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// starterCases are calls the starter policies (policies/) must decide, pinned in
// testdata/starter.golden.
func starterCases(t *testing.T) []struct {
	name string
	in   *policy.Input
} {
	ansi := call(t, "ansi", `{}`, "dev")
	return []struct {
		name string
		in   *policy.Input
	}{
		{"initialize", &policy.Input{Kind: "initialize", Phase: policy.PhaseRequest}},
		{"dev calls database.backup", call(t, "database.backup", `{}`, "dev")},
		{"admin calls database.backup", call(t, "database.backup", `{}`, "admin")},
		{"temp.convert -500", call(t, "temp.convert", `{"temp": -500}`, "dev")},
		{"temp.convert 21.5", call(t, "temp.convert", `{"temp": 21.5}`, "dev")},
		{"temp.convert a string", call(t, "temp.convert", `{"temp": "cold"}`, "dev")},
		{"echo with an AWS key", call(t, "echo", `{"message": "use AKIAIOSFODNN7EXAMPLE"}`, "dev")},
		{"echo with a password member", call(t, "echo", `{"login": {"user": "ann", "password": "hunter2"}}`, "dev")},
		{"echo", call(t, "echo", `{"message": "hello"}`, "dev")},
		{"ansi result", result(t, ansi, `{"content": [{"type": "text", "text": "\u001b[31mALERT\u001b[0m"}]}`)},
		{"clean result", result(t, ansi, `{"content": [{"type": "text", "text": "ALERT"}]}`)},
		{"resource result", result(t, &policy.Input{Kind: "resources/read", Resource: policy.Resource{URI: "file:///a"}},
			`{"contents": [{"uri": "file:///a", "text": "\u001b[1mbold\u001b[0m"}]}`)},
	}
}

func TestStarterPolicies(t *testing.T) {
	d := starter(t)
	var out strings.Builder
	for _, c := range starterCases(t) {
		v, err := d.Decide(context.Background(), c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		v.Revision = "" // the digest changes with every edit of the policies
		b, _ := json.Marshal(v)
		out.WriteString(c.name + ": " + string(b) + "\n")
	}
	golden(t, "starter.golden", []byte(out.String()))
}

// TestStarterStories are the seed's stories at the decider: what the e2e tests show through the
// binary, shown here without one.
func TestStarterStories(t *testing.T) {
	d := starter(t)
	ctx := context.Background()

	v, _ := d.Decide(ctx, call(t, "database.backup", `{}`, "dev"))
	if v.Effect != policy.EffectDeny || v.Code != policy.CodePolicyDeny || v.Reason != "role_mismatch" {
		t.Errorf("dev calling database.backup: got %s %s %q, want deny policy_deny role_mismatch", v.Effect, v.Code, v.Reason)
	}
	v, _ = d.Decide(ctx, call(t, "temp.convert", `{"temp": -500}`, "dev"))
	if v.Effect != policy.EffectDeny || v.Code != policy.CodeValidationFailed {
		t.Errorf("temp.convert -500: got %s %s, want deny validation_failed", v.Effect, v.Code)
	}
	res := jsonValue(t, `{"content": [{"type": "text", "text": "\u001b[31mALERT\u001b[0m"}]}`)
	in := call(t, "ansi", `{}`, "dev")
	in.Phase, in.Response = policy.PhaseResponse, res
	v, _ = d.Decide(ctx, in)
	got, err := policy.Apply(res, v.Ops)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if v.Effect != policy.EffectPatch || string(b) != `{"content":[{"text":"ALERT","type":"text"}]}` {
		t.Errorf("ansi result: got %s, rewritten to %s; want a patch to ALERT", v.Effect, b)
	}
}

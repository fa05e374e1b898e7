package rego

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// fullInput sets every field of the input document.
func fullInput(t *testing.T) *policy.Input {
	t.Helper()
	in := call(t, "db.query", `{"sql": "select 1", "limit": 0.1, "big": 123456789012345678901234567890, "tiny": 1e-400, "neg": -0, "list": [1, "two", null, true, {"x": []}]}`, "dev", "ops")
	in.User = policy.Principal{ID: "u-1", Roles: []string{"dev"}, Claims: map[string]any{"email_verified": true, "groups": []any{"a"}}}
	in.Tenant = "acme"
	in.Tool.Server = "warehouse"
	in.Resource.URI = "file:///r"
	in.Prompt = policy.Prompt{Name: "greet", Args: map[string]any{"who": "ann"}}
	in.RequestIP = "10.0.0.7"
	in.Headers = map[string]string{"user-agent": "agent/1.0", "authorization": "[REDACTED]"}
	in.Session = policy.Session{ID: "sess_9", RunID: "run-3", WorkflowID: "wf-1"}
	in.Threat = policy.Threat{Score: 0.42, Findings: []policy.Finding{{Rule: "pi-1", Category: "prompt_injection", Weight: 0.42, Where: "args.sql"}}}
	return in
}

// TestInputDocument pins the document a policy sees (SPEC §5.2) for an input with every field set,
// and for the empty input: every member is present.
func TestInputDocument(t *testing.T) {
	full, err := inputValue(fullInput(t))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := inputValue(&policy.Input{Kind: "initialize"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := inputValue(result(t, call(t, "echo", `{}`), `{"content": [{"type": "text", "text": "hi"}], "n": 1.50}`))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, doc := range []struct {
		name string
		v    ast.Value
	}{{"full request", full}, {"empty request", empty}, {"response phase", resp}} {
		g, err := fromValue(doc.v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(g, "", "  ")
		out.WriteString("# " + doc.name + "\n" + string(b) + "\n")
	}
	golden(t, "input.golden", []byte(out.String()))
}

// TestInputMatchesJSON proves the direct conversion builds the very document OPA would build from the
// JSON encoding of policy.Input, numbers included, without the round trip.
func TestInputMatchesJSON(t *testing.T) {
	for _, in := range []*policy.Input{fullInput(t), {Kind: "tools/list"}, result(t, fullInput(t), `{"content": [], "x": 1e3}`)} {
		got, err := inputValue(in)
		if err != nil {
			t.Fatal(err)
		}
		want := viaJSON(t, in)
		if got.Compare(want) != 0 {
			t.Errorf("direct conversion differs from the JSON route:\n got %v\nwant %v", got, want)
		}
	}
}

// viaJSON is the slow route: encode the input as JSON, decode with UseNumber, convert.
func viaJSON(t testing.TB, in *policy.Input) ast.Value {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	doc := jsonValue(t, string(data)).(map[string]any)
	for _, k := range []string{"tool", "prompt"} { // nil args encode as null; the document has {}
		if m := doc[k].(map[string]any); m["args"] == nil {
			m["args"] = map[string]any{}
		}
	}
	for _, k := range []string{"user", "agent"} {
		m := doc[k].(map[string]any)
		if m["roles"] == nil {
			m["roles"] = []any{}
		}
		if m["claims"] == nil {
			m["claims"] = map[string]any{}
		}
	}
	if doc["headers"] == nil {
		doc["headers"] = map[string]any{}
	}
	if th := doc["threat"].(map[string]any); th["findings"] == nil {
		th["findings"] = []any{}
	}
	if in.Phase == policy.PhaseResponse {
		if _, ok := doc["response"]; !ok {
			doc["response"] = nil
		}
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// opaRefuses reports whether OPA's own conversion of in's JSON fails, as it does for a number too
// large for its evaluation.
func opaRefuses(t testing.TB, in *policy.Input) bool {
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ast.InterfaceToValue(jsonValue(t, string(data)))
	return err != nil
}

// TestNumbersStayExact shows a policy comparing argument numbers sees the client's exact text.
func TestNumbersStayExact(t *testing.T) {
	d := policyOf(t, `package gatehouse

decision := {"allow": true} if {
	input.tool.args.big == 123456789012345678901234567891
	input.tool.args.small == 0.1
	input.tool.args.small + 0.2 == 0.3
} else := {"allow": false, "reason": sprintf("%v %v", [input.tool.args.big, input.tool.args.small])}
`)
	v, err := d.Decide(context.Background(), call(t, "x", `{"big": 123456789012345678901234567891, "small": 0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Effect != policy.EffectAllow {
		t.Errorf("got %s (%s), want allow: the numbers reached the policy inexactly", v.Effect, v.Reason)
	}
}

func TestInputRefusesNonJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   *policy.Input
		want string
	}{
		{"NaN score", &policy.Input{Threat: policy.Threat{Score: math.NaN()}}, "input.threat: score"},
		{"bad json.Number", &policy.Input{Tool: policy.Tool{Args: map[string]any{"n": json.Number("0x10")}}}, `input.tool.args: "n": "0x10" is not a JSON number`},
		{"a Go value JSON has not", &policy.Input{Prompt: policy.Prompt{Args: map[string]any{"c": make(chan int)}}}, "a chan int is not a JSON value"},
		{"infinite weight", &policy.Input{Threat: policy.Threat{Findings: []policy.Finding{{Weight: math.Inf(1)}}}}, "findings[0].weight"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := inputValue(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "1.5": true, "1e10": true, "1E+2": true, "-3.25e-7": true, "123456789012345678901234567890": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "+1": false, "0x1": false, "NaN": false, "1 ": false, "Infinity": false,
	} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFromValue(t *testing.T) {
	v := ast.MustParseTerm(`{"a": [1, "x", null, false, {"b": 2.50}], "s": {3, 1, 2}}`).Value
	got, err := fromValue(v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"a":[1,"x",null,false,{"b":2.50}],"s":[1,2,3]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	if _, err := fromValue(ast.MustParseTerm(`{1: "x"}`).Value); err == nil || !strings.Contains(err.Error(), "is not a string") {
		t.Errorf("a number key: got %v, want an error", err)
	}
}

// A number OPA cannot afford to evaluate (an exponent past 2^100000) is refused, as OPA's own input
// conversion refuses it: the decision fails, and the fail posture decides.
func TestInputRefusesANumberTooLargeForOPA(t *testing.T) {
	d := policyOf(t, `package gatehouse

decision := {"allow": true} if input.tool.args.amount > 5
`)
	if _, err := d.Decide(context.Background(), call(t, "x", `{"amount": 1E70000}`)); err == nil || !strings.Contains(err.Error(), "number too big") {
		t.Errorf("Decide: %v, want a number too big error", err)
	}
	if v, err := d.Decide(context.Background(), call(t, "x", `{"amount": 1E700}`)); err != nil || v.Effect != policy.EffectAllow {
		t.Errorf("a large number OPA takes: %v %v", v, err)
	}
}

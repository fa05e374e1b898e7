package rego

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// TestOutputContract decides one call with a policy per output shape of SPEC §5.3.
func TestOutputContract(t *testing.T) {
	tests := []struct {
		name     string
		decision string // the body of `decision := ... if true`, or a whole module when it starts with "package"
		in       *policy.Input
		want     policy.Verdict
		wantErr  string
	}{
		{name: "allow", decision: `{"allow": true}`,
			want: policy.Verdict{Effect: policy.EffectAllow, RuleID: DefaultQuery}},
		{name: "deny defaults to policy_deny", decision: `{"allow": false, "reason": "no"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, Reason: "no", RuleID: DefaultQuery}},
		{name: "deny with validation_failed", decision: `{"allow": false, "code": "validation_failed", "reason": "temp too low"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodeValidationFailed, Reason: "temp too low", RuleID: DefaultQuery}},
		{name: "a misspelt code still denies, as policy_deny", decision: `{"allow": false, "code": "validaton_failed"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: DefaultQuery}},
		{name: "a code gatehouse keeps for itself is not a policy's to claim", decision: `{"allow": false, "code": "upstream_unavailable"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: DefaultQuery}},
		{name: "code on an allow is ignored", decision: `{"allow": true, "code": "validation_failed"}`,
			want: policy.Verdict{Effect: policy.EffectAllow, RuleID: DefaultQuery}},
		{name: "require_approval", decision: `{"allow": false, "effect": "require_approval", "reason": "big"}`,
			want: policy.Verdict{Effect: policy.EffectRequireApproval, Reason: "big", RuleID: DefaultQuery}},
		{name: "hold_for_approval is require_approval", decision: `{"allow": true, "effect": "hold_for_approval"}`,
			want: policy.Verdict{Effect: policy.EffectRequireApproval, RuleID: DefaultQuery}},
		{name: "kill_session wins over allow", decision: `{"allow": true, "effect": "kill_session", "reason": "exfiltration"}`,
			want: policy.Verdict{Effect: policy.EffectKillSession, Reason: "exfiltration", RuleID: DefaultQuery}},
		{name: "effect deny", decision: `{"allow": true, "effect": "deny", "code": "validation_failed"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodeValidationFailed, RuleID: DefaultQuery}},
		{name: "rule_id names the rule", decision: `{"allow": false, "rule_id": "no-backups"}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "no-backups"}},
		{name: "patch rewrites arguments", decision: `{"allow": true, "patch": {"limit": 100, "debug": null, "filter": {"region": "eu"}}}`,
			in: call(t, "search", `{"q": "x", "limit": 5000, "debug": true, "filter": {"region": "us", "from": 1}}`),
			want: policy.Verdict{Effect: policy.EffectPatch, RuleID: DefaultQuery, Ops: []policy.Op{
				{Kind: policy.OpRemove, Path: []string{"debug"}},
				{Kind: policy.OpSet, Path: []string{"filter", "region"}, Value: "eu"},
				{Kind: policy.OpSet, Path: []string{"limit"}, Value: json.Number("100")},
			}}},
		{name: "an empty patch is an allow", decision: `{"allow": true, "patch": {}}`,
			want: policy.Verdict{Effect: policy.EffectAllow, RuleID: DefaultQuery}},
		{name: "patch on a refusal is dropped", decision: `{"allow": false, "patch": {"a": 1}}`,
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: DefaultQuery}},
		{name: "patch rewrites the result in the response phase", decision: `{"allow": true, "patch": {"structuredContent": {"ssn": "[REDACTED]"}}}`,
			in: result(t, call(t, "lookup", `{}`), `{"content": [], "structuredContent": {"ssn": "123-45-6789", "name": "ann"}}`),
			want: policy.Verdict{Effect: policy.EffectPatch, RuleID: DefaultQuery, Ops: []policy.Op{
				{Kind: policy.OpSet, Path: []string{"structuredContent", "ssn"}, Value: "[REDACTED]"},
			}}},
		{name: "undefined denies, and says so", decision: "package gatehouse\n",
			want: policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny,
				Reason: "data.gatehouse.decision is undefined for this input (no rule decided): denied"}},
		{name: "patch on a request without arguments", decision: `{"allow": true, "patch": {"a": 1}}`,
			in: &policy.Input{Kind: "resources/read", Phase: policy.PhaseRequest}, wantErr: "a resources/read request has no arguments"},
		{name: "patch that is not an object", decision: `{"allow": true, "patch": [1]}`, wantErr: "patch must be an object"},
		{name: "allow is required", decision: `{"reason": "x"}`, wantErr: "allow is required"},
		{name: "allow must be a boolean", decision: `{"allow": "yes"}`, wantErr: "allow must be true or false, got string"},
		{name: "a decision is an object", decision: `true`, wantErr: "must be an object"},
		{name: "unknown members are errors", decision: `{"allow": true, "pacth": {}}`, wantErr: `unknown member "pacth"`},
		{name: "reason must be a string", decision: `{"allow": false, "reason": 3}`, wantErr: "reason must be a string, got number"},
		{name: "unknown effects are errors", decision: `{"allow": true, "effect": "redact"}`, wantErr: `effect "redact" is not one of`},
		{name: "an empty effect is an error", decision: `{"allow": true, "effect": ""}`, wantErr: `effect "" is not one of`},
		{name: "conflicting decisions are an error", decision: "package gatehouse\n\ndecision := {\"allow\": true}\n\ndecision := {\"allow\": false} if input.kind\n",
			wantErr: "eval_conflict_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.decision
			if !strings.HasPrefix(src, "package") {
				src = "package gatehouse\n\ndecision := " + src + "\n"
			}
			d := policyOf(t, src)
			in := tt.in
			if in == nil {
				in = call(t, "echo", `{"message": "hi"}`)
			}
			got, err := d.Decide(context.Background(), in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Revision = d.Revision()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfiguredQuery(t *testing.T) {
	d := compile(t, map[string]string{"p.rego": "package corp.mcp\n\nverdict := {\"allow\": false, \"reason\": \"closed\"}\n"},
		Options{Query: "data.corp.mcp.verdict"})
	v, err := d.Decide(context.Background(), call(t, "echo", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Effect != policy.EffectDeny || v.Reason != "closed" || v.RuleID != "data.corp.mcp.verdict" || d.Query() != "data.corp.mcp.verdict" {
		t.Errorf("got %+v, want the deny of data.corp.mcp.verdict", v)
	}
	for _, bad := range []string{"gatehouse.decision", "input.x", "data.x[y]", "data.x +", "data"} {
		if _, err := ParseQuery(bad); err == nil {
			t.Errorf("ParseQuery(%q): got nil error, want a refusal", bad)
		}
	}
}

func TestUndefinedQueryWarns(t *testing.T) {
	d := policyOf(t, "package other\n\nx := 1\n")
	if w := d.Warnings(); len(w) != 1 || !strings.Contains(w[0].Message, "no rule or data defines data.gatehouse.decision") {
		t.Errorf("warnings = %v, want one about the undefined query", w)
	}
	if w := policyOf(t, "package gatehouse\n\ndecision := {\"allow\": true}\n").Warnings(); len(w) != 0 {
		t.Errorf("warnings = %v, want none", w)
	}
	d = compile(t, map[string]string{"p.rego": "package x\n", "gatehouse/data.json": `{"decision": {"allow": true}}`}, Options{})
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("a decision given as data: warnings = %v, want none", w)
	}
}

func TestEvaluationIsBounded(t *testing.T) {
	d := compile(t, map[string]string{"p.rego": `package gatehouse

decision := {"allow": count([x | some x in numbers.range(1, 100000000); x % 7 == 0]) > 0}
`}, Options{Timeout: 20 * time.Millisecond})
	start := time.Now()
	_, err := d.Decide(context.Background(), call(t, "echo", `{}`))
	if err == nil || !strings.Contains(err.Error(), "took longer than 20ms") {
		t.Fatalf("got %v, want a timeout error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the evaluation ran %v after its 20ms bound", took)
	}
}

func TestCancelledContextIsAnError(t *testing.T) {
	d := policyOf(t, "package gatehouse\n\ndecision := {\"allow\": true}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Decide(ctx, call(t, "echo", `{}`)); err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "cancel") {
		t.Errorf("got %v, want a cancellation error", err)
	}
}

func TestRevision(t *testing.T) {
	files := map[string]string{"p.rego": "package gatehouse\n\ndecision := {\"allow\": true}\n", "data.json": `{"a": 1}`}
	a, b := compile(t, files, Options{}), compile(t, files, Options{})
	if a.Revision() != b.Revision() || !strings.HasPrefix(a.Revision(), "sha256:") || len(a.Revision()) != len("sha256:")+16 {
		t.Errorf("content revisions %q and %q: want the same sha256:<16 hex>", a.Revision(), b.Revision())
	}
	files["data.json"] = `{"a": 2}`
	if c := compile(t, files, Options{}); c.Revision() == a.Revision() {
		t.Errorf("changing data.json left the revision at %q", c.Revision())
	}
	files[".manifest"] = `{"revision": "2026-11-21.3"}`
	d := compile(t, files, Options{})
	if d.Revision() != "2026-11-21.3" {
		t.Errorf("revision = %q, want the manifest's", d.Revision())
	}
	v, _ := d.Decide(context.Background(), call(t, "echo", `{}`))
	if v.Revision != "2026-11-21.3" {
		t.Errorf("verdict revision = %q, want the manifest's", v.Revision)
	}
}

func TestBundlesNotEvaluated(t *testing.T) {
	b, err := readBundle(t, map[string]string{"data.json": `{"x": 1}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), b, Options{}); err == nil || !strings.Contains(err.Error(), "no Rego modules") {
		t.Errorf("a bundle without modules: got %v", err)
	}
	if _, err := New(context.Background(), b, Options{Query: "nope"}); err == nil || !strings.Contains(err.Error(), "reference into data") {
		t.Errorf("a bad query: got %v", err)
	}
}

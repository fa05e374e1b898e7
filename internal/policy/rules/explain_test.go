package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

const explainPolicy = `
name: explain
version: "3"
rules:
  - id: handshake
    methods: [initialize, tools/list]
    effect: allow
  - id: reads
    tools: [db.read*]
    effect: allow
  - id: admin-only
    tools: [db.admin.*]
    require_roles: [dba]
    effect: allow
  - id: hot
    tools: ["*"]
    min_threat_score: 0.9
    effect: require_approval
  - id: refund-small
    tools: [refund]
    servers: [payments]
    effect: allow
    when: {field: amount, op: lt, value: 500}
    budget: {field: amount, limit: 2000}
  - id: eu-only
    tools: [export]
    effect: allow
    when:
      all:
        - {field: tenant, op: eq, value: eu-1}
        - any:
            - {field: format, op: in, value: [csv, json]}
            - {not: {field: format, op: exists}}
  - id: response-scrub
    phase: response
    tools: ["*"]
    effect: redact
    redact_fields: [structuredContent.token]
    when: {field: response.structuredContent.token, op: exists}
`

func TestExplainGolden(t *testing.T) {
	p := mustLoad(t, explainPolicy)
	inputs := []struct {
		name string
		in   *policy.Input
	}{
		{"tools/list is a handshake", &policy.Input{Kind: "tools/list"}},
		{"a read", call(t, "db.read_rows", `{}`)},
		{"admin without the role", call(t, "db.admin.drop", `{}`)},
		{"small refund", func() *policy.Input {
			in := call(t, "refund", `{"amount":120}`)
			in.Tool.Server = "payments"
			return in
		}()},
		{"large refund", func() *policy.Input {
			in := call(t, "refund", `{"amount":600}`)
			in.Tool.Server = "payments"
			return in
		}()},
		{"refund on the wrong server", call(t, "refund", `{"amount":1}`)},
		{"refund without amount", func() *policy.Input { in := call(t, "refund", `{}`); in.Tool.Server = "payments"; return in }()},
		{"export in the wrong tenant", func() *policy.Input { in := call(t, "export", `{"format":"xml"}`); in.Tenant = "us-1"; return in }()},
		{"export with a bad format", func() *policy.Input { in := call(t, "export", `{"format":"xml"}`); in.Tenant = "eu-1"; return in }()},
		{"threat hold", func() *policy.Input { in := call(t, "anything", `{}`); in.Threat.Score = 0.95; return in }()},
		{"response with a token", func() *policy.Input {
			in := call(t, "x", `{}`)
			in.Phase, in.Response = policy.PhaseResponse, jsonValue(t, `{"structuredContent":{"token":"abc"}}`)
			return in
		}()},
		{"response without", func() *policy.Input {
			in := call(t, "x", `{}`)
			in.Phase, in.Response = policy.PhaseResponse, jsonValue(t, `{"content":[]}`)
			return in
		}()},
	}
	var b strings.Builder
	for _, tc := range inputs {
		v, steps := p.Explain(tc.in)
		fmt.Fprintf(&b, "== %s\n", tc.name)
		for _, s := range steps {
			fmt.Fprintln(&b, s)
		}
		fmt.Fprintf(&b, "=> %s", v.Effect)
		if v.Code != "" {
			fmt.Fprintf(&b, " (%s)", v.Code)
		}
		fmt.Fprintf(&b, " rule=%q reason=%q", v.RuleID, v.Reason)
		if v.Budget != nil {
			fmt.Fprintf(&b, " budget=%s/%g of %g", v.Budget.Key, v.Budget.Amount, v.Budget.Limit)
		}
		for _, op := range v.Ops {
			fmt.Fprintf(&b, " op=%s", op)
		}
		b.WriteString("\n\n")
		if diff := cmp.Diff(p.Decide(tc.in), v); diff != "" {
			t.Errorf("%s: Explain and Decide disagree (-decide +explain):\n%s", tc.name, diff)
		}
	}
	golden(t, "explain.golden", []byte(b.String()))
}

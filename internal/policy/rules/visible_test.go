package rules

import (
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestVisible(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		in     policy.Input
		want   bool
	}{
		{"unconditional deny hides", `
rules:
  - {id: d, tools: [db.drop], effect: deny}
  - {id: a, tools: ["*"], effect: allow, when: {field: x, op: exists}}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "db.drop"}}, false},
		{"conditional allow before unconditional deny shows", `
rules:
  - {id: a, tools: [refund], effect: allow, when: {field: amount, op: lt, value: 500}}
  - {id: d, tools: [refund], effect: deny}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "refund"}}, true},
		{"conditional deny then default deny hides", `
rules:
  - {id: d, tools: [refund], effect: deny, when: {field: amount, op: ge, value: 500}}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "refund"}}, false},
		{"conditional deny then allow shows", `
rules:
  - {id: d, tools: [refund], effect: deny, when: {field: amount, op: ge, value: 500}}
  - {id: a, tools: [refund], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "refund"}}, true},
		{"default deny hides an unmentioned tool", `
rules:
  - {id: a, tools: [echo], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "other"}}, false},
		{"default allow shows", `
default_effect: allow
rules: []
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "other"}}, true},
		{"role-gated allow, caller has the role", `
rules:
  - {id: admin, tools: [admin.*], require_roles: [admin], effect: allow}
  - {id: no, tools: [admin.*], effect: deny}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "admin.reset"}, User: policy.Principal{Roles: []string{"admin"}}}, true},
		{"role-gated allow, caller lacks the role", `
rules:
  - {id: admin, tools: [admin.*], require_roles: [admin], effect: allow}
  - {id: no, tools: [admin.*], effect: deny}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "admin.reset"}, Agent: policy.Principal{Roles: []string{"reader"}}}, false},
		{"context condition evaluated", `
rules:
  - {id: a, tools: [t], effect: allow, when: {field: tenant, op: eq, value: acme}}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}, Tenant: "other"}, false},
		{"context condition holds", `
rules:
  - {id: a, tools: [t], effect: allow, when: {field: tenant, op: eq, value: acme}}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}, Tenant: "acme"}, true},
		{"mixed condition: context false makes all false", `
rules:
  - {id: a, tools: [t], effect: allow, when: [{field: tenant, op: eq, value: acme}, {field: x, op: eq, value: 1}]}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}, Tenant: "other"}, false},
		{"mixed any: context true decides", `
rules:
  - {id: d, tools: [t], effect: deny, when: {any: [{field: tenant, op: eq, value: acme}, {field: x, op: eq, value: 1}]}}
  - {id: a, tools: [t], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}, Tenant: "acme"}, false},
		{"not of unknown stays unknown", `
rules:
  - {id: d, tools: [t], effect: deny, when: {not: {field: x, op: exists}}}
  - {id: a, tools: [t], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}}, true},
		{"threat score is unknown: a deny on it does not hide", `
rules:
  - {id: d, tools: ["*"], effect: deny, min_threat_score: 0.8}
  - {id: a, tools: [t], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}}, true},
		{"threat condition is unknown", `
rules:
  - {id: d, tools: ["*"], effect: deny, when: {field: threat.score, op: ge, value: 0.8}}
  - {id: a, tools: [t], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}}, true},
		{"require_approval shows", `
rules:
  - {id: h, tools: [pay], effect: require_approval}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "pay"}}, true},
		{"kill hides", `
rules:
  - {id: k, tools: [shell], effect: kill_session}
  - {id: a, tools: ["*"], effect: allow}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "shell"}}, false},
		{"redact shows", `
rules:
  - {id: r, tools: [login], effect: redact, redact_fields: [password]}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "login"}}, true},
		{"budgeted allow shows", `
rules:
  - {id: b, tools: [spend], effect: allow, budget: {field: n, limit: 5}}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "spend"}}, true},
		{"prompts use prompt rules", `
rules:
  - {id: p, methods: [prompts/get], tools: [greet], effect: allow}
  - {id: t, tools: [greet], effect: deny}
`, policy.Input{Kind: "prompts/get", Prompt: policy.Prompt{Name: "greet"}}, true},
		{"resources use resource rules", `
rules:
  - {id: r, methods: [resources/read], tools: ["file:///public/*"], effect: allow}
`, policy.Input{Kind: "resources/read", Resource: policy.Resource{URI: "file:///private/x"}}, false},
		{"response rules do not hide", `
rules:
  - {id: a, tools: [t], effect: allow}
  - {id: d, phase: response, tools: [t], effect: deny}
`, policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "t"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustLoad(t, tt.policy)
			in := tt.in
			if got := p.Visible(&in); got != tt.want {
				t.Errorf("Visible: got %v, want %v", got, tt.want)
			}
		})
	}
}

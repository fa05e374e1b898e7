package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// refundsPolicy is the SPEC §4.4 example: refunds under 500 each, at most 2000 per session.
const refundsPolicy = `
name: refunds
version: "2026.1"
default_effect: deny
rules:
  - id: refund-small
    tools: [payments.refund]
    effect: allow
    reason: refunds under 500 are allowed, 2000 per session
    when: {field: amount, op: lt, value: 500}
    budget: {field: amount, limit: 2000, scope: session}
  - id: refund-large
    tools: [payments.refund]
    effect: deny
    reason: refunds of 500 or more need a human
`

func TestSpecRefundExample(t *testing.T) {
	p := mustLoad(t, refundsPolicy)
	rev := p.Revision()
	tests := []struct {
		name string
		args string
		want policy.Verdict
	}{
		{"small refund counts against the budget", `{"amount": 120.5}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectAllow, RuleID: "refund-small", Revision: rev,
			Reason: "refunds under 500 are allowed, 2000 per session",
			Budget: &policy.Budget{Key: "refund-small", Scope: policy.ScopeSession, Amount: 120.5, Limit: 2000},
		}},
		{"numeric string amount", `{"amount": "499"}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectAllow, RuleID: "refund-small", Revision: rev,
			Reason: "refunds under 500 are allowed, 2000 per session",
			Budget: &policy.Budget{Key: "refund-small", Scope: policy.ScopeSession, Amount: 499, Limit: 2000},
		}},
		{"500 is denied by the later rule", `{"amount": 500}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "refund-large", Revision: rev,
			Reason: "refunds of 500 or more need a human",
		}},
		{"600 as a string is still 600", `{"amount": "600"}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "refund-large", Revision: rev,
			Reason: "refunds of 500 or more need a human",
		}},
		{"negative amount would refill the budget", `{"amount": -100}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodeValidationFailed, RuleID: "refund-small", Revision: rev,
			Reason: `budget field "amount" is negative (-100); a budgeted amount must be zero or more`,
		}},
		{"missing amount falls through to deny", `{}`, policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "refund-large", Revision: rev,
			Reason: "refunds of 500 or more need a human",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Decide(call(t, "payments.refund", tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
	if got := p.Decide(call(t, "payments.charge", `{"amount":1}`)); got.Effect != policy.EffectDeny || got.RuleID != "" {
		t.Errorf("other tool: got %s by %q, want the default deny", got.Effect, got.RuleID)
	}
}

func TestBudgetAmounts(t *testing.T) {
	p := mustLoad(t, `
rules:
  - id: spend
    tools: [t]
    effect: allow
    budget: {key: spend-total, field: cost.usd, limit: 10.5, scope: tenant, window: 24h}
  - id: count
    tools: [counted]
    effect: allow
    budget: {limit: 100}
`)
	p2 := mustLoad(t, `
rules:
  - id: count
    effect: allow
    budget: {limit: 100, scope: agent, window: 1m}
`)
	tests := []struct {
		name       string
		p          *Policy
		args       string
		wantAmount float64
		wantReason string // non-empty: want deny validation_failed with this reason
	}{
		{"nested field", p, `{"cost":{"usd":2.25}}`, 2.25, ""},
		{"numeric string", p, `{"cost":{"usd":"3"}}`, 3, ""},
		{"zero", p, `{"cost":{"usd":0}}`, 0, ""},
		{"negative zero is zero", p, `{"cost":{"usd":-0}}`, 0, ""},
		{"missing", p, `{"cost":{}}`, 0, `budget field "cost.usd" is missing`},
		{"no arguments", p, ``, 0, `budget field "cost.usd" is missing`},
		{"not a number", p, `{"cost":{"usd":"lots"}}`, 0, `budget field "cost.usd" is not a number`},
		{"bool", p, `{"cost":{"usd":true}}`, 0, `budget field "cost.usd" is not a number`},
		{"object", p, `{"cost":{"usd":{}}}`, 0, `budget field "cost.usd" is not a number`},
		{"negative", p, `{"cost":{"usd":-1}}`, 0, `budget field "cost.usd" is negative (-1); a budgeted amount must be zero or more`},
		{"negative string", p, `{"cost":{"usd":"-0.5"}}`, 0, `budget field "cost.usd" is negative (-0.5); a budgeted amount must be zero or more`},
		{"infinite", p, `{"cost":{"usd":1e999}}`, 0, `budget field "cost.usd" is not a finite number`},
		{"no field counts one", p2, `{}`, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Decide(call(t, "t", tt.args))
			if tt.wantReason != "" {
				want := policy.Verdict{Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodeValidationFailed,
					Reason: tt.wantReason, RuleID: got.RuleID, Revision: tt.p.Revision()}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Decide (-want +got):\n%s", diff)
				}
				return
			}
			if got.Effect != policy.EffectAllow || got.Budget == nil {
				t.Fatalf("got %s with budget %v, want allow with a budget", got.Effect, got.Budget)
			}
			if got.Budget.Amount != tt.wantAmount {
				t.Errorf("amount: got %v, want %v", got.Budget.Amount, tt.wantAmount)
			}
		})
	}
	got := p.Decide(call(t, "t", `{"cost":{"usd":1}}`)).Budget
	want := &policy.Budget{Key: "spend-total", Scope: policy.ScopeTenant, Amount: 1, Limit: 10.5, Window: 24 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
	got = p2.Decide(call(t, "t", `{}`)).Budget
	want = &policy.Budget{Key: "count", Scope: policy.ScopeAgent, Amount: 1, Limit: 100, Window: time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
}

func TestEffects(t *testing.T) {
	p := mustLoad(t, `
name: effects
version: v1
rules:
  - id: allow-read
    tools: [read]
    effect: allow
    reason: reads are fine
    rate: {limit: 10, per: 1m, scope: agent}
  - id: redact-login
    tools: [login]
    effect: redact
    redact_fields: [password, "creds[0].token", 'args["x.y"]']
  - id: patch-search
    tools: [search]
    effect: patch
    patch:
      limit: 50
      filters.safe: true
      options: {lang: en, tags: [a, 1.5], none: null}
      ratio: 0.1
  - id: hold-pay
    tools: [pay]
    effect: hold_for_approval
    reason: a human signs off payments
  - id: approve-wire
    tools: [wire]
    effect: require_approval
  - id: deny-drop
    tools: [db.drop]
    effect: deny
    reason: never
  - id: bad-temp
    tools: [temp.convert]
    effect: deny
    code: validation_failed
    reason: below absolute zero
    when: {field: celsius, op: lt, value: -273.15}
  - id: kill-shell
    tools: [shell.*]
    effect: kill_session
    reason: no shells
`)
	rev := p.Revision()
	v := func(effect policy.Effect, code policy.Code, id, reason string) policy.Verdict {
		return policy.Verdict{Engine: "rules", Effect: effect, Code: code, RuleID: id, Reason: reason, Revision: rev}
	}
	withRate := v(policy.EffectAllow, "", "allow-read", "reads are fine")
	withRate.Rate = &policy.Rate{Key: "allow-read", Scope: policy.ScopeAgent, Limit: 10, Per: time.Minute}
	redact := v(policy.EffectRedact, "", "redact-login", "")
	redact.Ops = []policy.Op{
		{Kind: policy.OpRedact, Path: []string{"password"}, Value: policy.RedactedValue},
		{Kind: policy.OpRedact, Path: []string{"creds", "0", "token"}, Value: policy.RedactedValue},
		{Kind: policy.OpRedact, Path: []string{"x.y"}, Value: policy.RedactedValue},
	}
	patch := v(policy.EffectPatch, "", "patch-search", "")
	patch.Ops = []policy.Op{
		{Kind: policy.OpSet, Path: []string{"limit"}, Value: json.Number("50")},
		{Kind: policy.OpSet, Path: []string{"filters", "safe"}, Value: true},
		{Kind: policy.OpSet, Path: []string{"options"}, Value: map[string]any{"lang": "en", "tags": []any{"a", json.Number("1.5")}, "none": nil}},
		{Kind: policy.OpSet, Path: []string{"ratio"}, Value: json.Number("0.1")},
	}
	tests := []struct {
		tool, args string
		want       policy.Verdict
	}{
		{"read", `{}`, withRate},
		{"login", `{"password":"hunter2"}`, redact},
		{"search", `{"q":"x"}`, patch},
		{"pay", `{}`, v(policy.EffectRequireApproval, "", "hold-pay", "a human signs off payments")},
		{"wire", `{}`, v(policy.EffectRequireApproval, "", "approve-wire", "")},
		{"db.drop", `{}`, v(policy.EffectDeny, policy.CodePolicyDeny, "deny-drop", "never")},
		{"temp.convert", `{"celsius":-300}`, v(policy.EffectDeny, policy.CodeValidationFailed, "bad-temp", "below absolute zero")},
		{"temp.convert", `{"celsius":20}`, v(policy.EffectDeny, policy.CodePolicyDeny, "", "no rule matched; default_effect deny")},
		{"shell.exec", `{}`, v(policy.EffectKillSession, policy.CodePolicyDeny, "kill-shell", "no shells")},
	}
	for _, tt := range tests {
		t.Run(tt.tool+tt.args, func(t *testing.T) {
			got := p.Decide(call(t, tt.tool, tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("verdict ops are copies", func(t *testing.T) {
		got := p.Decide(call(t, "search", `{}`))
		got.Ops[2].Value.(map[string]any)["lang"] = "xx"
		got.Ops[0].Path[0] = "changed"
		again := p.Decide(call(t, "search", `{}`))
		if diff := cmp.Diff(patch, again); diff != "" {
			t.Errorf("mutating a verdict changed the policy (-want +got):\n%s", diff)
		}
	})
}

func TestFirstMatchAndDefaults(t *testing.T) {
	p := mustLoad(t, `
rules:
  - id: one
    tools: [a]
    effect: deny
  - id: two
    tools: [a, b]
    effect: allow
  - id: three
    tools: ["*"]
    effect: redact
    redact_fields: [x]
    when: {field: x, op: exists}
`)
	tests := []struct {
		tool, args, want string
	}{
		{"a", `{}`, "one"},
		{"a", `{"x":1}`, "one"},
		{"b", `{"x":1}`, "two"},
		{"c", `{"x":1}`, "three"},
		{"c", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.tool+tt.args, func(t *testing.T) {
			if got := p.Decide(call(t, tt.tool, tt.args)).RuleID; got != tt.want {
				t.Errorf("rule: got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("default allow", func(t *testing.T) {
		p, err := Load("a.yaml", []byte("default_effect: allow\nrules: []\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := p.Decide(call(t, "x", `{}`))
		want := policy.Verdict{Engine: "rules", Effect: policy.EffectAllow, Reason: "no rule matched; default_effect allow", Revision: p.Revision()}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Decide (-want +got):\n%s", diff)
		}
		if len(p.Warnings()) != 1 {
			t.Errorf("warnings: got %v, want the default_effect allow warning", p.Warnings())
		}
	})
	t.Run("nil input is the default", func(t *testing.T) {
		if got := p.Decide(nil).Effect; got != policy.EffectDeny {
			t.Errorf("got %s, want deny", got)
		}
	})
}

func TestMethods(t *testing.T) {
	p := mustLoad(t, `
rules:
  - id: lists
    methods: [initialize, tools/list, ping]
    effect: allow
  - id: read-docs
    methods: [resources/read]
    tools: ["file:///docs/*"]
    effect: allow
  - id: prompts
    methods: [prompts/get]
    tools: [greet]
    effect: allow
  - id: anything-by-ops
    methods: ["*"]
    agents: [ops-*]
    effect: allow
  - id: calls
    tools: ["*"]
    effect: allow
    when: {field: kind, op: eq, value: tools/call}
`)
	tests := []struct {
		name string
		in   policy.Input
		want string
	}{
		{"initialize", policy.Input{Kind: "initialize"}, "lists"},
		{"tools/list", policy.Input{Kind: "tools/list"}, "lists"},
		{"prompts/list not listed", policy.Input{Kind: "prompts/list"}, ""},
		{"resource in docs", policy.Input{Kind: "resources/read", Resource: policy.Resource{URI: "file:///docs/a/b.md"}}, "read-docs"},
		{"resource outside docs", policy.Input{Kind: "resources/read", Resource: policy.Resource{URI: "file:///etc/passwd"}}, ""},
		{"prompt by name", policy.Input{Kind: "prompts/get", Prompt: policy.Prompt{Name: "greet"}}, "prompts"},
		{"unknown method by ops agent", policy.Input{Kind: "x/custom", Agent: policy.Principal{ID: "ops-1"}}, "anything-by-ops"},
		{"unknown method", policy.Input{Kind: "x/custom"}, ""},
		{"default method is tools/call", policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "z"}}, "calls"},
		{"rules without methods ignore other kinds", policy.Input{Kind: "completion/complete"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if got := p.Decide(&in).RuleID; got != tt.want {
				t.Errorf("rule: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchFields(t *testing.T) {
	p := mustLoad(t, `
rules:
  - id: by-server
    servers: [billing]
    effect: allow
  - id: by-tenant
    tenants: [eng-*]
    effect: allow
  - id: by-role
    require_roles: [admin, sre]
    effect: allow
  - id: by-threat
    min_threat_score: 0.5
    effect: deny
`)
	tests := []struct {
		name string
		edit func(*policy.Input)
		want string
	}{
		{"server", func(in *policy.Input) { in.Tool.Server = "billing" }, "by-server"},
		{"tenant", func(in *policy.Input) { in.Tenant = "eng-42" }, "by-tenant"},
		{"agent role", func(in *policy.Input) { in.Agent.Roles = []string{"viewer", "sre"} }, "by-role"},
		{"user role", func(in *policy.Input) { in.User.Roles = []string{"admin"} }, "by-role"},
		{"no role", func(in *policy.Input) { in.User.Roles = []string{"viewer"} }, ""},
		{"threat at threshold", func(in *policy.Input) { in.Threat.Score = 0.5 }, "by-threat"},
		{"threat below", func(in *policy.Input) { in.Threat.Score = 0.49 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "x", Server: "other"}}
			tt.edit(in)
			if got := p.Decide(in).RuleID; got != tt.want {
				t.Errorf("rule: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResponsePhase(t *testing.T) {
	p := mustLoad(t, `
rules:
  - id: allow-all-calls
    tools: ["*"]
    effect: allow
  - id: redact-ssn
    phase: response
    tools: [hr.lookup]
    effect: redact
    redact_fields: [structuredContent.ssn, "response.content[0].text"]
  - id: patch-flag
    phase: response
    methods: [resources/read]
    effect: patch
    patch: {"response.meta.reviewed": false}
  - id: block-leak
    phase: response
    methods: ["*"]
    effect: deny
    when: {field: response.content.0.text, op: contains, value: BEGIN PRIVATE KEY}
`)
	rev := p.Revision()
	resp := func(kind, tool, result string) *policy.Input {
		in := call(t, tool, `{}`)
		in.Kind, in.Phase, in.Response = kind, policy.PhaseResponse, jsonValue(t, result)
		return in
	}
	tests := []struct {
		name string
		in   *policy.Input
		want policy.Verdict
	}{
		{"redact result fields", resp("tools/call", "hr.lookup", `{"structuredContent":{"ssn":"123"}}`), policy.Verdict{
			Engine: "rules", Effect: policy.EffectRedact, RuleID: "redact-ssn", Revision: rev,
			Ops: []policy.Op{
				{Kind: policy.OpRedact, Path: []string{"structuredContent", "ssn"}, Value: policy.RedactedValue},
				{Kind: policy.OpRedact, Path: []string{"content", "0", "text"}, Value: policy.RedactedValue},
			},
		}},
		{"patch a resource result", resp("resources/read", "", `{"contents":[]}`), policy.Verdict{
			Engine: "rules", Effect: policy.EffectPatch, RuleID: "patch-flag", Revision: rev,
			Ops: []policy.Op{{Kind: policy.OpSet, Path: []string{"meta", "reviewed"}, Value: false}},
		}},
		{"deny a leaking result", resp("tools/call", "other", `{"content":[{"type":"text","text":"-----BEGIN PRIVATE KEY-----"}]}`), policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "block-leak", Revision: rev,
		}},
		{"no response rule: allow unchanged, whatever default_effect", resp("tools/call", "other", `{"content":[]}`), policy.Verdict{
			Engine: "rules", Effect: policy.EffectAllow, Reason: "no response rule matched", Revision: rev,
		}},
		{"response rules ignore other kinds", resp("prompts/get", "", `{"content":[{"text":"BEGIN PRIVATE KEY"}]}`), policy.Verdict{
			Engine: "rules", Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "block-leak", Revision: rev,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, p.Decide(tt.in)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("request phase ignores response rules", func(t *testing.T) {
		if got := p.Decide(call(t, "hr.lookup", `{}`)).RuleID; got != "allow-all-calls" {
			t.Errorf("rule: got %q, want allow-all-calls", got)
		}
	})
}

func TestAccessors(t *testing.T) {
	src := refundsPolicy
	p := mustLoad(t, src)
	if got, want := p.Name(), "refunds"; got != want {
		t.Errorf("Name: got %q, want %q", got, want)
	}
	if got, want := p.Version(), "2026.1"; got != want {
		t.Errorf("Version: got %q, want %q", got, want)
	}
	if got, want := p.Rules(), 2; got != want {
		t.Errorf("Rules: got %d, want %d", got, want)
	}
	if got := p.DefaultEffect(); got != policy.EffectDeny {
		t.Errorf("DefaultEffect: got %s, want deny", got)
	}
	// The revision pins the bytes: the same file gives the same revision, a changed byte another.
	if got, want := p.Revision(), mustLoad(t, src).Revision(); got != want {
		t.Errorf("Revision not stable: %q vs %q", got, want)
	}
	if got, other := p.Revision(), mustLoad(t, src+"\n").Revision(); got == other {
		t.Errorf("Revision ignores file bytes: %q", got)
	}
	if got := p.Revision(); len(got) != len("2026.1@")+12 || got[:7] != "2026.1@" {
		t.Errorf("Revision: got %q, want 2026.1@ and 12 hex digits", got)
	}
}

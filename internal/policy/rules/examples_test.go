package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

const examplesDir = "../../../examples/policies"

// loadExample loads a shipped example, which must load without errors or warnings.
func loadExample(t *testing.T, name string) *Policy {
	t.Helper()
	path := filepath.Join(examplesDir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, data)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, w := range p.Warnings() {
		t.Errorf("warning: %s", w)
	}
	return p
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example policies in %s, want at least 3", len(files), examplesDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { loadExample(t, filepath.Base(f)) })
	}
}

func TestExampleBehaviour(t *testing.T) {
	refunds := loadExample(t, "refunds.yaml")
	demo := loadExample(t, "everything-demo.yaml")
	all := loadExample(t, "allow-all.yaml")
	tests := []struct {
		name   string
		p      *Policy
		in     *policy.Input
		effect policy.Effect
		rule   string
	}{
		{"refunds: initialize", refunds, &policy.Input{Kind: "initialize"}, policy.EffectAllow, "handshake-and-lists"},
		{"refunds: tools/list", refunds, &policy.Input{Kind: "tools/list"}, policy.EffectAllow, "handshake-and-lists"},
		{"refunds: small", refunds, call(t, "refund", `{"amount":100}`), policy.EffectAllow, "refund-small"},
		{"refunds: namespaced", refunds, call(t, "payments.refund", `{"amount":100}`), policy.EffectAllow, "refund-small"},
		{"refunds: large", refunds, call(t, "refund", `{"amount":"500"}`), policy.EffectDeny, "refund-large"},
		{"refunds: negative", refunds, call(t, "refund", `{"amount":-5}`), policy.EffectDeny, "refund-small"},
		{"refunds: other tool", refunds, call(t, "charge", `{}`), policy.EffectDeny, ""},
		{"refunds: prompts/get", refunds, &policy.Input{Kind: "prompts/get"}, policy.EffectDeny, ""},
		{"demo: echo", demo, call(t, "echo", `{"message":"hi"}`), policy.EffectAllow, "echo"},
		{"demo: echo secret", demo, call(t, "echo", `{"message":"secret: hunter2"}`), policy.EffectRedact, "echo-redact-secrets"},
		{"demo: add", demo, call(t, "add", `{"a":1,"b":2}`), policy.EffectAllow, "sum"},
		{"demo: get-sum", demo, call(t, "get-sum", `{"a":1.5,"b":-2}`), policy.EffectAllow, "sum"},
		{"demo: add with a string", demo, call(t, "add", `{"a":"x","b":2}`), policy.EffectDeny, ""},
		{"demo: tiny image", demo, call(t, "get-tiny-image", `{}`), policy.EffectDeny, ""},
		{"demo: env", demo, call(t, "get-env", `{}`), policy.EffectDeny, ""},
		{"demo: tools/list", demo, &policy.Input{Kind: "tools/list"}, policy.EffectAllow, "handshake-and-lists"},
		{"allow-all: call", all, call(t, "anything", `{}`), policy.EffectAllow, "allow-everything"},
		{"allow-all: unknown method", all, &policy.Input{Kind: "x/y"}, policy.EffectAllow, "allow-everything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.p.Decide(tt.in)
			if v.Effect != tt.effect || v.RuleID != tt.rule {
				t.Errorf("got %s by %q, want %s by %q (%s)", v.Effect, v.RuleID, tt.effect, tt.rule, v.Reason)
			}
		})
	}
	// Lists show exactly the tools a caller may call.
	for tool, want := range map[string]bool{"echo": true, "add": true, "get-sum": true, "get-tiny-image": false, "get-env": false} {
		if got := demo.Visible(&policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: tool}}); got != want {
			t.Errorf("demo: Visible(%s): got %v, want %v", tool, got, want)
		}
	}
}

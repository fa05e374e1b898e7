package rego

import (
	"context"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// probe is the input list filtering asks about: a use of tool with the arguments unknown (empty).
func probe(t *testing.T, tool string, roles ...string) *policy.Input {
	t.Helper()
	return call(t, tool, `{}`, roles...)
}

func TestVisible(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		in     *policy.Input
		want   bool
	}{
		{"a refusal by role does not depend on arguments", "", probe(t, "database.backup", "dev"), false},
		{"the role holder sees it", "", probe(t, "database.backup", "admin"), true},
		{"bounds depend on arguments: shown", "", probe(t, "temp.convert", "dev"), true},
		{"secrets depend on arguments: shown", "", probe(t, "echo"), true},
		{"a glob entry hides", "", probe(t, "admin.drop", "dev"), false},
		{"allowed only for some arguments", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if input.tool.args.mode == "read"
`, probe(t, "files"), true},
		{"rule indexing cannot hide an argument condition", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if {
	input.tool.name == "files"
	input.tool.args.mode == "read"
}
`, probe(t, "files"), true},
		{"allowed only for other tools", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if {
	input.tool.args.mode == "read"
	input.tool.name == "files"
}
`, probe(t, "shell"), false},
		{"a high threat score could allow", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if input.threat.score < 0.5
`, probe(t, "x"), true},
		{"a hold is usable, so shown", `package gatehouse

decision := {"allow": false, "effect": "require_approval"} if input.tool.name == "refund"
`, probe(t, "refund"), true},
		{"undefined for this tool hides it", `package gatehouse

decision := {"allow": true} if input.tool.name == "echo"
`, probe(t, "shell"), false},
		{"kill_session hides", `package gatehouse

decision := {"allow": false, "effect": "kill_session"} if input.tool.name == "exfiltrate"
else := {"allow": true}
`, probe(t, "exfiltrate"), false},
		{"a response-phase allow does not make a tool visible", `package gatehouse

decision := {"allow": true} if input.response
decision := {"allow": false} if not input.response
`, probe(t, "x"), false},
		{"input read whole: shown unless partial evaluation proves otherwise", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if object.get(input, ["tool", "args", "ok"], false) == true
`, probe(t, "x"), true},
		{"prompt arguments are unknown too", `package gatehouse

default decision := {"allow": false}

decision := {"allow": true} if input.prompt.args.lang == "en"
`, &policy.Input{Kind: "prompts/get", Prompt: policy.Prompt{Name: "greet", Args: map[string]any{}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d *Decider
			if tt.policy == "" {
				d = starter(t)
			} else {
				d = policyOf(t, tt.policy)
			}
			got, err := d.Visible(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Visible = %v, want %v", got, tt.want)
			}
			// Soundness: whenever an item is hidden, no allow may be reachable with these inputs.
			if !got {
				v, err := d.Decide(context.Background(), tt.in)
				if err == nil && (v.Effect == policy.EffectAllow || v.Effect == policy.EffectPatch) {
					t.Errorf("hidden, but Decide allows it with empty arguments: %+v", v)
				}
			}
		})
	}
}

func TestVisibleEngineErrors(t *testing.T) {
	d := policyOf(t, "package gatehouse\n\ndecision := 7\n")
	if _, err := d.Visible(context.Background(), probe(t, "x")); err == nil {
		t.Error("a decision that breaks the contract: got no error, want one (the stage's fail posture decides)")
	}
}

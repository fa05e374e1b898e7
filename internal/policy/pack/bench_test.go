package pack

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// BenchmarkDecide is one pack decision as the gateway makes it: building the runtime request from
// the call and evaluating it against the published pack, for a scoped branch write that is allowed
// and one that a forbidden path denies.
func BenchmarkDecide(b *testing.B) {
	p := loadPack(b, publishedPack)
	d, err := NewDecider(p, []Tool{{Tool: "git_*", Namespace: "repo.contents", Access: "write_branch", BranchName: "branch", ChangedPaths: "files", DiffLineCount: "lines"}}, AgentTools{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		files []any
		want  policy.Effect
	}{
		{"allow", []any{"package.json", "package-lock.json"}, policy.EffectAllow},
		{"deny", []any{"package.json", ".github/workflows/release.yml"}, policy.EffectDeny},
	} {
		in := &policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest,
			Agent:   policy.Principal{ID: "sr-agent::vulnerable-dependency-remediation::codex"},
			Session: policy.Session{RunID: "r1", WorkflowID: "vulnerable-dependency-remediation"},
			Tool: policy.Tool{Name: "git_push", Args: map[string]any{"branch": "sec-auto-remediation/fix",
				"files": c.files, "lines": json.Number("120")}},
			Attributes: map[string]any{"gate_phase": "tool_call"}}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := d.Decide(context.Background(), in)
				if v.Effect != c.want {
					b.Fatalf("effect %s", v.Effect)
				}
			}
		})
	}
}

package pack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestDeciderRequest(t *testing.T) {
	d, err := NewDecider(loadPack(t, publishedPack), []Tool{
		{Tool: "git_*", Namespace: "repo.contents", Access: "write_branch", BranchName: "ref", ChangedPaths: "changes.files", DiffLineCount: "changes.stats.1"},
		{Tool: "quarantine", Namespace: "registries.quarantine", Access: "approval_required", GatePhase: "tool_call", ChangeClass: "database migrations"},
	}, AgentTools{})
	if err != nil {
		t.Fatal(err)
	}
	in := &policy.Input{
		Kind: "tools/call", Phase: policy.PhaseRequest,
		Agent:   policy.Principal{ID: "sr-agent::x::claude", Claims: map[string]any{}},
		Session: policy.Session{RunID: "r1", WorkflowID: "vulnerable-dependency-remediation"},
		Tool: policy.Tool{Name: "git_push", Args: map[string]any{"ref": "sec-auto-remediation/a",
			"changes": map[string]any{"files": []any{"go.mod"}, "stats": []any{json.Number("0"), json.Number("12")}}}},
		Headers: map[string]string{"gatehouse-gate-phase": "tool_call", "gatehouse-branch-name": "main"},
		Attributes: map[string]any{
			"changed_paths":         []any{"infra/x"}, // the mapping's argument path wins
			"human_approval_record": "approved",       // never read from the call
			"runtime_kill_signal":   nil,
		},
	}
	got := string(Dump(d.Request(in)))
	want := `{
  "agent_id": "sr-agent::x::claude",
  "branch_name": "sec-auto-remediation/a",
  "changed_paths": [
    "go.mod"
  ],
  "diff_line_count": 12,
  "gate_phase": "tool_call",
  "run_id": "r1",
  "tool_access_mode": "write_branch",
  "tool_namespace": "repo.contents",
  "workflow_id": "vulnerable-dependency-remediation"
}`
	if got != want {
		t.Errorf("request:\n%s\nwant\n%s", got, want)
	}
	v, _ := d.Decide(context.Background(), in)
	if v.Effect != policy.EffectAllow || v.RuleID != "vulnerable-dependency-remediation:repo.contents:write_branch" {
		t.Errorf("verdict %+v", v)
	}

	// A token's claims outrank what the call says; the operator's fixed values outrank _meta.
	in.Agent.Claims = map[string]any{"workflow_id": "artifact-cache-quarantine", "agent_class": "devin"}
	in.Tool = policy.Tool{Name: "quarantine", Args: map[string]any{}}
	in.Attributes = map[string]any{"change_class": "docs", "gate_phase": "runtime"}
	req := d.Request(in)
	for name, want := range map[string]string{"workflow_id": "artifact-cache-quarantine", "agent_class": "devin", "change_class": "database migrations", "gate_phase": "tool_call"} {
		if got := req.get(name); got != want {
			t.Errorf("%s = %v, want %s", name, got, want)
		}
	}
	v, _ = d.Decide(context.Background(), in)
	if v.Effect != policy.EffectRequireApproval || v.Code != policy.CodeApprovalRequired || v.Reason != "change class requires a typed human approval record" {
		t.Errorf("verdict %+v", v)
	}

	// An unreadable diff_line_count is a denial, not an engine error a fail-open posture would pass.
	in.Tool = policy.Tool{Name: "git_push", Args: map[string]any{"changes": map[string]any{"stats": []any{nil, "lots"}}}}
	v, err = d.Decide(context.Background(), in)
	if err != nil || v.Effect != policy.EffectDeny {
		t.Errorf("unreadable diff: %+v %v", v, err)
	}
	// Other methods and the response phase are not the pack's to decide.
	for _, other := range []*policy.Input{{Kind: "resources/read", Phase: policy.PhaseRequest}, {Kind: "tools/call", Phase: policy.PhaseResponse}} {
		if v, _ := d.Decide(context.Background(), other); v.Effect != policy.EffectAllow {
			t.Errorf("%s %s: %+v", other.Kind, other.Phase, v)
		}
	}
	if _, err := NewDecider(loadPack(t, publishedPack), []Tool{{Tool: "x", Namespace: "n", Access: "write"}}, AgentTools{}); err == nil {
		t.Error("an unknown access mode was accepted")
	}
}

func TestDeciderBounds(t *testing.T) {
	d, err := NewDecider(loadPack(t, publishedPack), []Tool{{Tool: "git_push", Namespace: "repo.contents", Access: "write_branch", ChangedPaths: "files"}}, AgentTools{})
	if err != nil {
		t.Fatal(err)
	}
	in := func(files []any) *policy.Input {
		return &policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest,
			Agent:      policy.Principal{ID: "codex", Claims: map[string]any{}},
			Session:    policy.Session{RunID: "r", WorkflowID: "sensitive-data-remediation"},
			Tool:       policy.Tool{Name: "git_push", Args: map[string]any{"files": files}},
			Attributes: map[string]any{"gate_phase": "tool_call", "branch_name": "sec-auto-remediation/x", "diff_line_count": json.Number("3")}}
	}
	if v, _ := d.Decide(context.Background(), in([]any{"src/app.py"})); v.Effect != policy.EffectAllow {
		t.Fatalf("the plain write: %+v", v)
	}
	// fnmatch lets src/** match a path that climbs out of src; gatehouse refuses it.
	for _, p := range []any{"src/../.github/workflows/release.yml", `src\..\infra\prod.tf`, "../x"} {
		if v, _ := d.Decide(context.Background(), in([]any{p})); v.Effect != policy.EffectDeny || !strings.Contains(v.Reason, "'..' segment") {
			t.Errorf("%v: %+v", p, v)
		}
	}
	many := make([]any, maxChangedPaths+1)
	for i := range many {
		many[i] = "src/a.py"
	}
	if v, _ := d.Decide(context.Background(), in(many)); v.Effect != policy.EffectDeny || !strings.Contains(v.Reason, "more than gatehouse decides") {
		t.Errorf("%d paths: %+v", len(many), v)
	}
	// A long refusal is cut, still valid UTF-8.
	long := make([]any, maxChangedPaths)
	for i := range long {
		long[i] = "infra/é" + strings.Repeat("x", 20)
	}
	if v, _ := d.Decide(context.Background(), in(long)); v.Effect != policy.EffectDeny || len(v.Reason) > maxReasonBytes+len("…") || !utf8.ValidString(v.Reason) {
		t.Errorf("a long reason: %d bytes", len(v.Reason))
	}
	// A token's workflow claim decides what tools/list shows, as it decides calls.
	vis := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "git_push"}, Agent: policy.Principal{Claims: map[string]any{"workflow_id": "artifact-cache-quarantine"}}}
	if ok, _ := d.Visible(context.Background(), vis); ok {
		t.Error("a write_branch tool is listed for a workflow that has no such scope")
	}
}

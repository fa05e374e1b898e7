package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/pack"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
)

// The toolset's answers as a client reads them: a document in structuredContent and, the same, in
// a text block; what the caller got wrong as a tool error; the pack engine's mode with every
// evaluation; the pack in force after a reload.
func TestPackToolset(t *testing.T) {
	const vdr = "vulnerable-dependency-remediation"
	pc := &config.PolicyConfig{Pack: "../../examples/workflow-pack/mcp-gateway-policy.json",
		PackTools: []config.PackTool{{Tool: "git_*", Namespace: "repo.contents", Access: "write_branch"}}}
	agents := pack.AgentTools{Policy: "gatehouse.pack_policy", Evaluate: "gatehouse.pack_evaluate", Server: "gatehouse"}
	d, err := loadPackDecider(pc, agents, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stage := engine.New(engine.Config{Name: "pack", Mode: pipeline.ModeMonitor, Fail: pipeline.FailClosed, Logger: slog.New(slog.DiscardHandler)}, d)
	tools := &packToolset{stage: stage}
	in := &policy.Input{Kind: "tools/call", Agent: policy.Principal{ID: "sr-agent::codex", Claims: map[string]any{}},
		Session: policy.Session{RunID: "r1", WorkflowID: vdr}, Attributes: map[string]any{"gate_phase": "tool_call"},
		Tool: policy.Tool{Name: agents.Evaluate, Server: "gatehouse"}}
	call := func(tool, args string) (result struct {
		Content           []struct{ Text string }
		StructuredContent map[string]any
		IsError           bool
	}) {
		t.Helper()
		b, err := tools.Call(context.Background(), gateway.LocalCall{Tool: tool, Arguments: json.RawMessage(args), Input: in})
		if err != nil {
			t.Fatalf("%s %s: %v", tool, args, err)
		}
		if err := json.Unmarshal(b, &result); err != nil {
			t.Fatalf("%s %s: %v", tool, args, err)
		}
		return result
	}

	r := call(config.AgentToolEvaluate, `{"tool":"git_push","branch_name":"main"}`)
	var text map[string]any
	json.Unmarshal([]byte(r.Content[0].Text), &text)
	if r.IsError || r.StructuredContent["effect"] != "deny" || r.StructuredContent["pack_mode"] != "monitor" || text["reason"] != r.StructuredContent["reason"] {
		t.Errorf("evaluate: %+v", r)
	}
	if r := call(config.AgentToolPolicy, `{}`); r.IsError || r.StructuredContent["workflow_id"] != vdr || r.StructuredContent["pack_mode"] != nil {
		t.Errorf("policy: %+v", r)
	}
	for _, c := range []struct{ tool, args, message string }{
		{config.AgentToolEvaluate, `{"tool":"git_push","who":"else"}`, "unknown argument 'who'"},
		{config.AgentToolEvaluate, `[1]`, "the arguments must be a JSON object"},
		// A number too large for a double would be echoed as Infinity.
		{config.AgentToolEvaluate, `{"tool":"git_push","gate_phase":1e400}`, "a number JSON cannot carry"},
	} {
		if r := call(c.tool, c.args); !r.IsError || !strings.Contains(r.Content[0].Text, c.message) {
			t.Errorf("%s %s: %+v, want a tool error saying %q", c.tool, c.args, r, c.message)
		}
	}

	// A reload answers at once: a pack without the mapping denies the write for another reason.
	bare, err := loadPackDecider(&config.PolicyConfig{Pack: pc.Pack}, agents, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stage.Swap(bare)
	if r := call(config.AgentToolEvaluate, `{"tool":"git_push","branch_name":"main"}`); !strings.Contains(r.StructuredContent["reason"].(string), "tool_namespace is required") {
		t.Errorf("after a reload: %v", r.StructuredContent["reason"])
	}
}

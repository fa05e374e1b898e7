package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// TestRunEnforcesTheWorkflowPack runs gatehouse run with the published SecurityRecipes pack in
// front of the recording test peer (SPEC §6.3): the tools are mapped to the pack's scopes, the
// workflow, run and gate phase come from _meta, the write's branch, paths and size from the
// arguments. Allowed calls reach the server; a forbidden path, an approval scope, an unmapped tool
// and a kill signal do not, and every decision is audited with the pack's hash and the run id.
func TestRunEnforcesTheWorkflowPack(t *testing.T) {
	dir := t.TempDir()
	packPath := example("workflow-pack", "mcp-gateway-policy.json")
	data, err := os.ReadFile(packPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeConfig := func(pin string) {
		cfg := fmt.Sprintf(`policy:
  pack: %s
  pack_sha256: %s
  pack_tools:
    - tool: echo
      namespace: repo.contents
      access: write_branch
      arguments: {branch_name: branch, changed_paths: files, diff_line_count: lines}
    - tool: refund
      namespace: registries.quarantine
      access: approval_required
      gate_phase: tool_call
    - tool: "[a]dd"
      namespace: advisories.vulnerability
      access: read
`, packPath, pin)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(sha)
	if code, out, errOut := gatehouseCmd(t, "check", "--config", cfgPath); code != 0 {
		t.Fatalf("check --config: exit %d\n%s%s", code, out, errOut)
	}

	auditPath := filepath.Join(dir, "audit.jsonl")
	record := filepath.Join(dir, "received.jsonl")
	meta := func(workflow string, more ...string) map[string]any {
		m := map[string]any{"gatehouse/workflow_id": workflow, "gatehouse/run_id": "run-7", "gatehouse/gate_phase": "tool_call"}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	call := func(id int, tool string, args map[string]any, m map[string]any) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args, "_meta": m}}
	}
	const vdr, quarantine = "vulnerable-dependency-remediation", "artifact-cache-quarantine"
	write := func(msg string, files ...any) map[string]any {
		return map[string]any{"message": msg, "branch": "sec-auto-remediation/fix-cve", "files": files, "lines": 120}
	}
	answers := rawExchangeEnv(t, []string{"--config", cfgPath, "--audit", auditPath, "--agent", "sr-agent::" + vdr + "::codex"},
		[]string{"TESTPEER_RECORD=" + record},
		map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": map[string]any{"_meta": meta(vdr)}},
		call(3, "echo", write("allowed write", "package.json", "package-lock.json"), meta(vdr)),
		call(4, "echo", write("forbidden write", ".github/workflows/release.yml"), meta(vdr)),
		call(5, "refund", map[string]any{"amount": 5, "note": "held refund"}, meta(quarantine)),
		call(6, "add", map[string]any{"a": 1, "b": 2}, meta(vdr)),
		call(7, "notify", map[string]any{"note": "unmapped tool"}, meta(vdr)),
		call(8, "add", map[string]any{"a": 1, "b": 40}, meta(vdr, "gatehouse/runtime_kill_signal", "agent attempts registry publish or release operation")),
		call(9, "add", map[string]any{"a": 2, "b": 2}, meta(vdr)),
	)
	expect := expecter(t)
	list := string(answers["2"].Result)
	for _, tool := range []string{`"echo"`, `"add"`} {
		if !strings.Contains(list, tool) {
			t.Errorf("tools/list hides the mapped tool %s: %s", tool, list)
		}
	}
	// refund's scope is not one of this workflow's; notify has no mapping.
	for _, tool := range []string{`"refund"`, `"notify"`} {
		if strings.Contains(list, tool) {
			t.Errorf("tools/list shows %s, which the pack denies in this workflow", tool)
		}
	}
	if a := answers["3"]; a.Error != nil || !strings.Contains(string(a.Result), "Echo: allowed write") {
		t.Errorf("the scoped branch write: %+v %s", a.Error, a.Result)
	}
	if a := answers["6"]; a.Error != nil || !strings.Contains(string(a.Result), `"3"`) {
		t.Errorf("the read: %+v %s", a.Error, a.Result)
	}
	refused := func(id, reason, rule, message string) {
		t.Helper()
		a := answers[id]
		if a.Error == nil {
			t.Errorf("call %s was answered: %s", id, a.Result)
			return
		}
		expect("call "+id+" reason", a.Error.Data.Reason, reason)
		expect("call "+id+" rule", a.Error.Data.RuleID, rule)
		if !strings.Contains(a.Error.Message, message) {
			t.Errorf("call %s: message %q lacks %q", id, a.Error.Message, message)
		}
	}
	refused("4", "policy_deny", vdr+":repo.contents:write_branch", "changed_paths hit forbidden paths")
	refused("5", "approval_required", quarantine+":registries.quarantine:approval_required", "tool scope requires a typed human approval record")
	refused("7", "policy_deny", vdr, "tool_namespace is required")
	refused("8", "session_killed", vdr, "runtime kill signal fired") // decided before any scope is matched
	expect("call 9 reason", answers["9"].Error.Data.Reason, "session_killed")

	// The server received the allowed calls and nothing that was refused.
	received, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"allowed write", `"b":2`} {
		if !strings.Contains(string(received), want) {
			t.Errorf("the server did not receive %q", want)
		}
	}
	for _, never := range []string{"forbidden write", "held refund", "unmapped tool", `"b":40`, `"a":2`} {
		if strings.Contains(string(received), never) {
			t.Errorf("the server received a refused call (%q)", never)
		}
	}

	// Every decision is audited with the run id, and those of the pack with its hash. Call 9 is
	// refused by the kill switch, before any engine.
	calls := 0
	for _, r := range readAudit(t, auditPath) {
		if r.Method != "tools/call" {
			continue
		}
		calls++
		expect("audit run_id of call "+r.CallID, r.RunID, "run-7")
		if r.CallID == "9" {
			expect("audit code of call 9", r.Code, "session_killed")
			continue
		}
		expect("audit pack_sha of call "+r.CallID, r.PackSHA, sha)
		if r.Effect != "allow" {
			expect("audit engine of call "+r.CallID, r.Engine, "pack")
		}
	}
	expect("audited calls", fmt.Sprint(calls), "7")
	if code, out, errOut := gatehouseCmd(t, "verify", "--audit", auditPath); code != 0 {
		t.Errorf("verify: exit %d %s%s", code, out, errOut)
	}

	// A pack that is not the pinned one does not start, and check says why.
	writeConfig(strings.Repeat("0", 64))
	if code, out, _ := gatehouseCmd(t, "check", "--config", cfgPath); code != 1 || !strings.Contains(out, "not the pinned") {
		t.Errorf("check with a wrong pin: exit %d\n%s", code, out)
	}
	if code, _, errOut := gatehouseCmd(t, "run", "--config", cfgPath, "--audit", filepath.Join(dir, "b.jsonl"), "--", "true"); code == 0 || !strings.Contains(errOut, "not the pinned") {
		t.Errorf("run with a wrong pin: exit %d\n%s", code, errOut)
	}
}

// TestRunPackAgentTools drives gatehouse run with policy.pack_agent_tools under the official Go SDK
// client (SPEC §6.4): the agent lists gatehouse's two pack tools beside the server's, reads its
// workflow's policy, and asks about calls before making them; each answer is the decision the call
// then gets. The server never sees the pack tools' calls, and they are audited like any call.
func TestRunPackAgentTools(t *testing.T) {
	dir := t.TempDir()
	const vdr = "vulnerable-dependency-remediation"
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`policy:
  pack: %s
  pack_agent_tools: true
  pack_tools:
    - tool: echo
      namespace: repo.contents
      access: write_branch
      arguments: {branch_name: branch, changed_paths: files, diff_line_count: lines}
    - tool: add
      namespace: advisories.vulnerability
      access: read
`, example("workflow-pack", "mcp-gateway-policy.json"))), 0o644)
	if code, out, errOut := gatehouseCmd(t, "check", "--config", cfgPath); code != 0 {
		t.Fatalf("check --config: exit %d\n%s%s", code, out, errOut)
	}
	auditPath, record := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "received.jsonl")
	s, _ := connect(t, []string{"--config", cfgPath, "--audit", auditPath, "--agent", "sr-agent::" + vdr + "::codex"},
		"env", "TESTPEER_RECORD="+record, testpeer.Binary(t))
	ctx := context.Background()
	meta := mcp.Meta{"gatehouse/workflow_id": vdr, "gatehouse/run_id": "run-3", "gatehouse/gate_phase": "tool_call"}

	names := listsTools(t, s, &mcp.ListToolsParams{Meta: meta}, "echo", "add", "gatehouse.pack_policy", "gatehouse.pack_evaluate")
	if slices.Contains(names, "refund") {
		t.Errorf("tools/list shows an unmapped tool: %v", names)
	}

	// The policy of the caller's workflow, as the pack has it.
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_policy", Arguments: map[string]any{}, Meta: meta})
	if err != nil || res.IsError {
		t.Fatalf("pack_policy: %v %+v", err, res)
	}
	var policy struct {
		WorkflowID string `json:"workflow_id"`
		AgentClass string `json:"agent_class"`
		Workflow   struct {
			Dispatch struct {
				Prefix string `json:"required_branch_prefix"`
			} `json:"dispatch"`
		} `json:"workflow"`
	}
	structured(t, res, &policy)
	if policy.WorkflowID != vdr || policy.AgentClass != "codex" || policy.Workflow.Dispatch.Prefix != "sec-auto-remediation/" {
		t.Errorf("pack_policy: %+v", policy)
	}
	if res, _ := s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_policy", Arguments: map[string]any{"workflow_id": "nope"}}); res == nil || !res.IsError ||
		!strings.Contains(toolText(res), "workflow 'nope' is not declared") {
		t.Errorf("an undeclared workflow: %+v", res)
	}

	// Ask first, then call: the answer is the call's decision.
	write := func(branch string, files ...any) map[string]any {
		return map[string]any{"message": "write to " + branch, "branch": branch, "files": files, "lines": 40}
	}
	for _, c := range []struct {
		name   string
		tool   string
		args   map[string]any
		effect string
	}{
		{"scoped write", "echo", write("sec-auto-remediation/bump", "go.mod"), "allow"},
		{"wrong branch", "echo", write("main", "go.mod"), "deny"},
		{"forbidden path", "echo", write("sec-auto-remediation/ci", ".github/workflows/ci.yml"), "deny"},
		{"read", "add", map[string]any{"a": 1, "b": 2}, "allow"},
	} {
		askThenCall(t, s, meta, c.name, c.tool, c.args, c.effect)
	}
	if res, _ := s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_evaluate", Arguments: map[string]any{"tool": "echo", "as": "someone else"}}); res == nil || !res.IsError ||
		!strings.Contains(toolText(res), "unknown argument 'as'") {
		t.Errorf("an unknown argument: %+v", res)
	}
	s.Close()

	received, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(received), "gatehouse.pack") {
		t.Errorf("the server received a call of gatehouse's own tools:\n%s", received)
	}
	for _, want := range []string{"write to sec-auto-remediation/bump", `"b":2`} {
		if !strings.Contains(string(received), want) {
			t.Errorf("the server did not receive the allowed call %q", want)
		}
	}
	for _, never := range []string{"write to main", "write to sec-auto-remediation/ci"} {
		if strings.Contains(string(received), never) {
			t.Errorf("the server received the denied call %q", never)
		}
	}
	// Audited as gatehouse's own, answered, with the pack's verdict.
	runs := map[string]int{}
	for _, r := range readAudit(t, auditPath) {
		if strings.HasPrefix(r.Tool, "gatehouse.pack_") {
			runs[r.RunID]++
			if r.Upstream != "gatehouse" || r.Effect != "allow" || r.Status != "answered" {
				t.Errorf("audit of %s (call %s): upstream %q effect %q status %q", r.Tool, r.CallID, r.Upstream, r.Effect, r.Status)
			}
		}
	}
	// Five calls carried the run's _meta; the two refused as tool errors carried none.
	if runs["run-3"] != 5 || runs[""] != 2 || len(runs) != 2 {
		t.Errorf("audited pack tool calls by run: %v", runs)
	}
	if code, out, errOut := gatehouseCmd(t, "verify", "--audit", auditPath); code != 0 {
		t.Errorf("verify: exit %d %s%s", code, out, errOut)
	}
}

// askThenCall asks gatehouse.pack_evaluate about a call and checks that the pack's answer is effect,
// then makes the call and checks that it gets what the answer said: through on allow, refused with
// the answer's reason on deny.
func askThenCall(t *testing.T, s *mcp.ClientSession, meta mcp.Meta, what, tool string, args map[string]any, effect string) {
	t.Helper()
	ctx := context.Background()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "gatehouse.pack_evaluate", Arguments: map[string]any{"tool": tool, "arguments": args}, Meta: meta})
	if err != nil || res.IsError {
		t.Fatalf("%s: pack_evaluate: %v %+v", what, err, res)
	}
	var answer struct{ Effect, Reason string }
	structured(t, res, &answer)
	if answer.Effect != effect {
		t.Errorf("%s: asked, the pack says %s (%s), want %s", what, answer.Effect, answer.Reason, effect)
	}
	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args, Meta: meta})
	var we *jsonrpc.Error
	switch {
	case effect == "allow" && err != nil:
		t.Errorf("%s: the call was refused after the pack said allow: %v", what, err)
	case effect == "deny" && !errors.As(err, &we):
		t.Errorf("%s: the call went through after the pack said deny", what)
	case effect == "deny" && !strings.Contains(we.Message, answer.Reason):
		t.Errorf("%s: the refusal %q is not the reason asked about (%q)", what, we.Message, answer.Reason)
	}
}

// listsTools lists a session's tools, checks that the list has want, and returns the names.
func listsTools(t *testing.T, s *mcp.ClientSession, params *mcp.ListToolsParams, want ...string) []string {
	t.Helper()
	list, err := s.ListTools(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("tools/list lacks %s: %v", w, names)
		}
	}
	return names
}

// structured decodes a tool result's structuredContent into v, and checks that its text content
// says the same.
func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	b := mustJSON(res.StructuredContent)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structuredContent %s: %v", b, err)
	}
	var fromText, fromStructured any
	json.Unmarshal([]byte(toolText(res)), &fromText)
	json.Unmarshal(b, &fromStructured)
	if fmt.Sprint(fromText) != fmt.Sprint(fromStructured) {
		t.Errorf("the text content is not the structured content:\n%s\n%s", toolText(res), b)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

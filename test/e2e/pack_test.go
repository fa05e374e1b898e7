package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

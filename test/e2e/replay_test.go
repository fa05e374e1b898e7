package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replayPolicy is everything-demo.yaml changed the way a policy author changes a policy: an echo
// that says hello is now refused, the sum tool now has a budget of 3 on its argument a per
// session, and get-env is now allowed.
const replayPolicy = `name: everything-demo
version: "2.0.0"
default_effect: deny
rules:
  - id: handshake-and-lists
    methods: [initialize, ping, server/discover, logging/setLevel, tools/list, prompts/list, resources/list, resources/templates/list]
    effect: allow
  - id: no-hello
    tools: [echo]
    effect: deny
    reason: no greetings
    when: {field: message, op: contains, value: hello}
  - id: echo-redact-secrets
    tools: [echo]
    effect: redact
    when: {field: message, op: startswith, value: "secret:"}
    redact_fields: [message]
  - id: echo
    tools: [echo]
    effect: allow
    when: {field: message, op: exists}
  - id: sum
    tools: [add, get-sum]
    effect: allow
    when: {field: a, op: ge, value: 0}
    budget: {field: a, limit: 3, scope: session}
  - id: env
    tools: [get-env]
    effect: allow
`

// TestReplayARealRun records a session of the real server-everything behind gatehouse run with
// everything-demo.yaml, then replays the log with a changed policy: exactly the decisions the change
// touches are reported, with the budget counted again in the log's order, and the replays whose
// record could not give the call's arguments back are marked inexact.
func TestReplayARealRun(t *testing.T) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	s, _ := connect(t, []string{"--policy", example("policies", "everything-demo.yaml"), "--audit", auditPath, "--agent", "replay-e2e"},
		peer(t, "mcp-server-everything"), "stdio")
	long := strings.Repeat("x", 600)
	for _, msg := range []string{"hello there", "secret: s3cr3t", long} {
		if got := callText(t, s, "echo", map[string]any{"message": msg}); !strings.HasPrefix(got, "Echo: ") {
			t.Fatalf("echo %q = %q", msg[:5], got)
		}
	}
	callText(t, s, "get-sum", map[string]any{"a": 1, "b": 2})
	callText(t, s, "get-sum", map[string]any{"a": 3, "b": 4})
	if _, reason := refusal(t, s, "get-env", nil); reason != "policy_deny" {
		t.Fatalf("get-env: %q", reason)
	}
	s.Close()
	newPolicy := filepath.Join(dir, "v2.yaml")
	os.WriteFile(newPolicy, []byte(replayPolicy), 0o600)

	code, out, errOut := gatehouseCmd(t, "replay", "--audit", auditPath, "--policy", newPolicy, "--format", "json")
	if code != 0 {
		t.Fatalf("replay exit %d\n%s\n%s", code, out, errOut)
	}
	var got struct {
		Summary struct {
			Decisions, Replayed, Changed, Uncertain, Unchanged, Inexact int
			Transitions                                                 map[string]int `json:"transitions"`
		} `json:"summary"`
		Decisions []struct {
			Target  string   `json:"target"`
			Status  string   `json:"status"`
			Inexact []string `json:"inexact"`
			Now     struct {
				Effect string
				Code   string
				RuleID string `json:"rule_id"`
			}
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Changed: hello (allow → deny by no-hello); the second sum (1 + 3 exceeds the new budget of 3);
	// get-env (deny → allow). Uncertain: the secret echo (recorded after its redaction, so the
	// redact rule no longer matches it) and the long echo (its arguments were cut, so it is replayed
	// without them and falls to the default deny).
	want := map[string]string{
		"hello there": "changed deny/policy_deny/no-hello",
		"get-sum":     "changed deny/budget_exceeded/sum",
		"get-env":     "changed allow//env",
		"secret":      "uncertain allow//echo",
		"long":        "uncertain deny/policy_deny/",
	}
	seen := map[string]string{}
	for _, d := range got.Decisions {
		key := d.Target
		if d.Target == "echo" {
			switch inexact := strings.Join(d.Inexact, ","); {
			case inexact == "":
				key = "hello there"
			case inexact == "arguments_cut":
				key = "long"
			case inexact == "arguments_rewritten,arguments_redacted":
				key = "secret"
			default:
				t.Errorf("an echo replayed inexact for %q", inexact)
			}
		}
		if _, dup := seen[key]; dup {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = d.Status + " " + d.Now.Effect + "/" + d.Now.Code + "/" + d.Now.RuleID
	}
	if len(seen) != len(want) {
		t.Errorf("listed %v, want exactly %v", seen, want)
	}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("%s: %q, want %q", k, seen[k], v)
		}
	}
	sum := got.Summary
	if sum.Changed != 3 || sum.Uncertain != 2 || sum.Inexact != 2 || sum.Unchanged != sum.Replayed-5 {
		t.Errorf("summary %+v", sum)
	}
	if len(sum.Transitions) != 2 || sum.Transitions["allow → deny"] != 2 || sum.Transitions["deny → allow"] != 1 {
		t.Errorf("transitions %v", sum.Transitions)
	}
	if sum.Replayed != sum.Decisions || sum.Decisions < 8 {
		t.Errorf("replayed %d of %d decisions: the handshake and lists are decisions too", sum.Replayed, sum.Decisions)
	}
	if t.Failed() {
		t.Logf("replay:\n%s", out)
	}

	// The same policy replays with no change; in text, and as a CI gate.
	code, out, errOut = gatehouseCmd(t, "replay", "--audit", auditPath, "--policy", example("policies", "everything-demo.yaml"), "--fail-on-change")
	if code != 0 || !strings.Contains(out, "changed:    0\n") || !strings.Contains(out, "uncertain:  2 ") {
		t.Errorf("replay with the recorded policy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = gatehouseCmd(t, "replay", "--audit", auditPath, "--policy", newPolicy, "--fail-on-change")
	if code != 1 || !strings.Contains(out, "allow → deny") || !strings.Contains(out, "rule no-hello") ||
		!strings.Contains(errOut, "3 recorded decision(s) would change") {
		t.Errorf("--fail-on-change with the new policy: exit %d\n%s\n%s", code, out, errOut)
	}

	// A log that does not verify is not replayed.
	data, _ := os.ReadFile(auditPath)
	os.WriteFile(auditPath, []byte(strings.Replace(string(data), `"tool":"get-env"`, `"tool":"get-enw"`, 1)), 0o600)
	code, out, errOut = gatehouseCmd(t, "replay", "--audit", auditPath, "--policy", newPolicy)
	if code != 1 || !strings.Contains(errOut, "NOT INTACT") || out != "" {
		t.Errorf("replay of an edited log: exit %d\n%s\n%s", code, out, errOut)
	}
}

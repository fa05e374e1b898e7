package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// TestServeKillSwitch: a kill_session on a 2026-07-28 request disables its caller and no one else;
// an operator lists, lifts and sets kills through the admin API, each change audited; the audit log
// of it all verifies.
func TestServeKillSwitch(t *testing.T) {
	dir := t.TempDir()
	gw, admin := freeAddr(t), freeAddr(t)
	auditPath := filepath.Join(dir, "audit.jsonl")
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(`
name: kill-switch
version: "1"
default_effect: deny
rules:
  - id: tripwire
    tools: [refund]
    effect: kill_session
    reason: refunds are not for agents
  - id: echo
    tools: [echo]
    effect: allow
`), 0o644)
	cfgPath := filepath.Join(dir, "serve.yaml")
	writeKeyedServeConfig(t, cfgPath, gw, admin, policy, auditPath, "")
	_, stop := startServe(t, cfgPath, gw)

	call := func(key, tool string) string { t.Helper(); return callReason(t, gw, key, tool, 1) }
	adminDo := func(method, path, body string) (int, string) {
		t.Helper()
		return adminRequest(t, admin, method, path, body)
	}
	expect := expecter(t)

	expect("mallory's echo", call("mallory-key", "echo"), "ok")
	expect("mallory's refund", call("mallory-key", "refund"), "session_killed")
	expect("mallory's echo after the tripwire", call("mallory-key", "echo"), "session_killed")
	expect("alice's echo", call("alice-key", "echo"), "ok")

	status, body := adminDo("GET", "/admin/v1/kills", "")
	if status != 200 || !strings.Contains(body, `"scope":"agent:mallory"`) || !strings.Contains(body, "refunds are not for agents") {
		t.Errorf("GET kills: %d %s", status, body)
	}
	if status, body := adminDo("POST", "/admin/v1/kills/lift", `{"scope":"agent:mallory"}`); status != 200 {
		t.Errorf("lift: %d %s", status, body)
	}
	expect("mallory's echo after the lift", call("mallory-key", "echo"), "ok")
	if status, _ := adminDo("POST", "/admin/v1/kills/lift", `{"scope":"agent:mallory"}`); status != 404 {
		t.Errorf("a second lift: %d, want 404", status)
	}
	if status, _ := adminDo("POST", "/admin/v1/kills", `{"scope":"everyone","reason":"x"}`); status != 400 {
		t.Errorf("a kill of no scope: %d, want 400", status)
	}
	if status, body := adminDo("POST", "/admin/v1/kills", `{"scope":"all","reason":"incident 42"}`); status != 200 {
		t.Errorf("kill all: %d %s", status, body)
	}
	expect("alice's echo with all killed", call("alice-key", "echo"), "session_killed")
	adminDo("POST", "/admin/v1/kills/lift", `{"scope":"all"}`)
	expect("alice's echo after all was lifted", call("alice-key", "echo"), "ok")
	stop()

	var methods []string
	for _, r := range readAuditAll(t, auditPath) {
		if r.Type == auditlog.TypeEvent && strings.HasPrefix(r.Method, "admin/") {
			methods = append(methods, r.Method+" "+r.Detail)
		}
	}
	want := []string{"admin/kills.lift lifted the kill of agent:mallory: refunds are not for agents",
		"admin/kills.kill killed all: incident 42", "admin/kills.lift lifted the kill of all: incident 42"}
	if strings.Join(methods, "\n") != strings.Join(want, "\n") {
		t.Errorf("audited admin changes:\n%s\nwant\n%s", strings.Join(methods, "\n"), strings.Join(want, "\n"))
	}
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput(); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
}

// apiKeyHash is how serve's configuration names an API key.
func apiKeyHash(k string) string {
	s := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(s[:])
}

// callReason calls tool (arguments message and amount) through the gateway at gw with the API key
// key, in the 2026-07-28 era, and returns the refusal's data.reason, or "ok".
func callReason(t *testing.T, gw, key, tool string, amount int) string {
	t.Helper()
	_, body, err := modernCallAs("http://"+gw+"/mcp", key, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{"message": "hi", "amount": amount}})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	if e, ok := body["error"].(map[string]any); ok {
		d, _ := e["data"].(map[string]any)
		reason, _ := d["reason"].(string)
		return reason
	}
	return "ok"
}

// expecter returns a check that a call's outcome is the one wanted.
func expecter(t *testing.T) func(what, got, want string) {
	return func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %s, want %s", what, got, want)
		}
	}
}

// writeKeyedServeConfig writes a serve configuration at path: the gateway on gw, its admin listener
// on admin, the API keys "mallory-key" and "alice-key" (principals mallory and alice), the rules
// policy, the audit log auditPath, no threat scanner, the test peer as its one upstream, and extra
// YAML appended (top-level keys, or more keys of the upstream, indented by four).
func writeKeyedServeConfig(t *testing.T, path, gw, admin, policy, auditPath, extra string) {
	t.Helper()
	writeKeyedServeConfigAdmin(t, path, gw, admin, "", policy, auditPath, extra)
}

// writeKeyedServeConfigAdmin is writeKeyedServeConfig with more keys of the admin listener
// (indented by two) in adminExtra.
func writeKeyedServeConfigAdmin(t *testing.T, path, gw, admin, adminExtra, policy, auditPath, extra string) {
	t.Helper()
	config := fmt.Sprintf(`
listen: %s
admin:
  listen: %s
%sauth:
  api_keys:
    keys:
      - {id: mallory, hash: %s}
      - {id: alice, hash: %s}
policy:
  rules: %s
audit:
  path: %s
threat:
  enabled: false
upstreams:
  - name: peer
    prefix: ""
    command: [%q]
`, gw, admin, adminExtra, apiKeyHash("mallory-key"), apiKeyHash("alice-key"), policy, auditPath, testpeer.Binary(t)) + extra
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

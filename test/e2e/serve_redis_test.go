package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
)

// TestServeReplicasShareStateInRedis (SPEC §11.3): two gatehouse serve processes keep their state
// in one real redis-server. A budget spent through one is spent on the other; a kill made by a
// decision on one, or through one's admin API, holds on the other, is lifted through either, and
// outlives a restart.
func TestServeReplicasShareStateInRedis(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(`
name: replicas
version: "1"
default_effect: deny
rules:
  - id: tripwire
    tools: [refund]
    effect: kill_session
    reason: refunds are not for agents
  - id: spend
    tools: [echo]
    effect: allow
    budget: {field: amount, limit: 5, scope: agent}
`), 0o644)
	type replica struct{ gw, admin, cfg string }
	replicaConfig := func(name string) replica {
		r := replica{gw: freeAddr(t), admin: freeAddr(t), cfg: filepath.Join(dir, name+".yaml")}
		writeKeyedServeConfig(t, r.cfg, r.gw, r.admin, policy, filepath.Join(dir, name+"-audit.jsonl"),
			"state:\n  redis:\n    url: "+srv.URL+"\n")
		return r
	}
	a, b := replicaConfig("a"), replicaConfig("b")
	_, stopA := startServe(t, a.cfg, a.gw)
	_, stopB := startServe(t, b.cfg, b.gw)

	call := func(r replica, key, tool string, amount int) string {
		t.Helper()
		return callReason(t, r.gw, key, tool, amount)
	}
	expect := expecter(t)

	expect("alice spends 3 of 5 through a", call(a, "alice-key", "echo", 3), "ok")
	expect("alice spends 3 more through b", call(b, "alice-key", "echo", 3), "budget_exceeded")
	expect("alice spends the last 2 through b", call(b, "alice-key", "echo", 2), "ok")
	expect("mallory spends 1 through b", call(b, "mallory-key", "echo", 1), "ok")

	expect("mallory's refund through a", call(a, "mallory-key", "refund", 1), "session_killed")
	expect("mallory's echo through b", call(b, "mallory-key", "echo", 1), "session_killed")
	status, body := adminRequest(t, b.admin, "GET", "/admin/v1/kills", "")
	if status != 200 || !strings.Contains(body, `"scope":"agent:mallory"`) || !strings.Contains(body, "refunds are not for agents") {
		t.Errorf("b's list of kills: %d %s", status, body)
	}
	if status, body := adminRequest(t, b.admin, "POST", "/admin/v1/kills/lift", `{"scope":"agent:mallory"}`); status != 200 {
		t.Errorf("lift through b: %d %s", status, body)
	}
	expect("mallory's echo through a after b lifted the kill", call(a, "mallory-key", "echo", 1), "ok")

	if status, body := adminRequest(t, a.admin, "POST", "/admin/v1/kills", `{"scope":"all","reason":"incident 42"}`); status != 200 {
		t.Errorf("kill all through a: %d %s", status, body)
	}
	expect("alice through b with all killed by a", call(b, "alice-key", "echo", 0), "session_killed")
	stopA()
	_, stopA = startServe(t, a.cfg, a.gw)
	expect("alice through a restarted: still killed", call(a, "alice-key", "echo", 0), "session_killed")
	adminRequest(t, b.admin, "POST", "/admin/v1/kills/lift", `{"scope":"all"}`)
	expect("alice through a after b lifted all", call(a, "alice-key", "echo", 0), "ok")
	expect("alice's spent budget outlived a's restart", call(a, "alice-key", "echo", 1), "budget_exceeded")
	stopA()
	stopB()

	for _, name := range []string{"a", "b"} {
		if out, err := exec.Command(gatehouseBin, "verify", "--audit", filepath.Join(dir, name+"-audit.jsonl")).CombinedOutput(); err != nil {
			t.Errorf("verify %s: %v\n%s", name, err, out)
		}
	}
}

// A gateway configured with a Redis that does not answer does not start, and says why without
// repeating the password.
func TestServeRefusesToStartWithoutItsRedis(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
listen: %s
mode: "off"
audit:
  path: %s
state:
  redis:
    url: unix://%s/none.sock
    password_env: TEST_REDIS_PASSWORD
upstreams:
  - name: peer
    command: [%q]
`, freeAddr(t), filepath.Join(dir, "audit.jsonl"), dir, testpeer.Binary(t)), 0o644)
	cmd := exec.Command(gatehouseBin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "TEST_REDIS_PASSWORD=hunter2-secret")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started without its Redis:\n%s", out)
	}
	if !strings.Contains(string(out), "does not answer") || strings.Contains(string(out), "hunter2-secret") {
		t.Errorf("serve's refusal:\n%s", out)
	}
}

// TestRunSharesStateInRedis: two gatehouse run processes of one agent, given a Redis by
// GATEHOUSE_STATE_REDIS_URL, spend one agent budget; what each session kept is gone from Redis when
// its process ends.
func TestRunSharesStateInRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("GATEHOUSE_STATE_REDIS_URL", srv.URL)
	dir := t.TempDir()
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(`
name: run-replicas
version: "1"
default_effect: deny
rules:
  - id: handshake
    methods: [initialize, ping, tools/list]
    effect: allow
  - id: refunds
    tools: [refund]
    effect: allow
    budget: {field: amount, limit: 1000, scope: agent}
  - id: echo
    tools: [echo]
    effect: allow
    budget: {field: amount, limit: 10, scope: session}
`), 0o644)
	start := func(name string) *mcp.ClientSession {
		s, _ := connect(t, []string{"--policy", policy, "--agent", "billing-bot", "--audit", filepath.Join(dir, name+".jsonl")}, testpeer.Binary(t))
		return s
	}
	a, b := start("a"), start("b")
	if got := callText(t, a, "refund", map[string]any{"amount": 900}); got != "refunded 900" {
		t.Fatalf("refund through a = %q", got)
	}
	if _, reason := refusal(t, b, "refund", map[string]any{"amount": 200}); reason != "budget_exceeded" {
		t.Errorf("refund through b after a spent 900 of 1000: %q, want budget_exceeded", reason)
	}
	callText(t, a, "echo", map[string]any{"message": "hi", "amount": 1})
	callText(t, b, "echo", map[string]any{"message": "hi", "amount": 1})

	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	defer rdb.Close()
	sessionKeys := func() []string {
		var out []string
		for _, k := range rdb.Keys(context.Background(), "gatehouse:*").Val() {
			if strings.Contains(k, "session:") {
				out = append(out, k)
			}
		}
		return out
	}
	if n := len(sessionKeys()); n == 0 {
		t.Fatal("no session counters in Redis while the sessions run")
	}
	a.Close()
	b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(sessionKeys()) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := sessionKeys(); len(left) != 0 {
		t.Errorf("session state left in Redis after both runs ended: %q", left)
	}
}

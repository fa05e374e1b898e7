package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// writeReplayLog writes a sealed audit log of two refunds, allowed then by refund-small, and
// returns its path.
func writeReplayLog(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{`{"amount":100}`, `{"amount":450}`} {
		rec := &auditlog.Record{Type: auditlog.TypeDecision, DecisionID: "dec_" + args[10:13], SessionID: "sess_1", Agent: "billing-bot",
			Method: "tools/call", Upstream: "billing", Tool: "refund", Effect: "allow", RuleID: "refund-small", Engine: "rules",
			Status: "answered", ArgsPreview: args}
		if err := w.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	log := writeReplayLog(t, dir)
	// refunds.yaml, with the per-call cap lowered from 500 to 300, given through a configuration.
	policy, _ := os.ReadFile(filepath.Join("..", "..", "examples", "policies", "refunds.yaml"))
	lowered := strings.Replace(string(policy), "value: 500}", "value: 300}", 1)
	if lowered == string(policy) {
		t.Fatal("refunds.yaml no longer has its cap of 500")
	}
	os.WriteFile(filepath.Join(dir, "v2.yaml"), []byte(lowered), 0o600)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("policy:\n  rules: v2.yaml\n"), 0o600)

	code, out, errOut := gatehouse(t, "", "replay", "--audit", log, "--config", cfg, "--all")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"replayed 2 of 2 decision(s) from 1 file(s), seq 1–3, chain intact",
		"against rules: 1.0.0@",
		"changed:    1\n  allow → deny ",
		"unchanged:  1\n",
		"seq 1  unchanged ",
		"seq 2  changed ",
		"  now:  deny (policy_deny)  rule refund-large  by rules: refunds of 500 or more need a human",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The recorded policy: nothing changes, and --fail-on-change passes.
	code, out, _ = gatehouse(t, "", "replay", "--audit", log, "--policy", filepath.Join("..", "..", "examples", "policies", "refunds.yaml"), "--fail-on-change")
	if code != ExitOK || !strings.Contains(out, "changed:    0\n") || strings.Contains(out, "seq 1  ") {
		t.Errorf("the recorded policy: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", "v2.yaml"}, "give the audit file(s)"},
		{[]string{"--audit", log}, "no policy to enforce"},
		{[]string{"--audit", log, "--policy", cfg}, "does not load"},
		{[]string{"--audit", log, "--config", cfg, "--format", "xml"}, "--format must be text or json"},
		{[]string{"--audit", log, "--config", cfg, "--show", "-1"}, "--show must be"},
		{[]string{"--audit", filepath.Join(dir, "none.jsonl"), "--config", cfg}, "no such file"},
		{[]string{"--audit", log, "--config", cfg, "--mode", "sometimes"}, "mode"},
	} {
		if code, _, errOut := gatehouse(t, "", append([]string{"replay"}, c.args...)...); code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("replay %v: exit %d, %s; want exit 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// TestServerDoesNotInheritGatehouseSecrets wraps a server that writes out the environment it was
// given: the agent token and the HMAC secret gatehouse verifies it with (both passed the way the
// docs recommend, in GATEHOUSE_* variables) must not be in it, or the server could mint tokens for
// any agent. An ordinary variable still reaches it.
func TestServerDoesNotInheritGatehouseSecrets(t *testing.T) {
	dir := t.TempDir()
	const secret = "e2e-hmac-secret-0123456789abcdef0123456789"
	secretFile := filepath.Join(dir, "agent.secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	code, token, errOut := gatehouseCmd(t, "token", "--scheme", "hmac", "--secret-file", secretFile, "--agent-id", "env-bot", "--role", "ops")
	token = strings.TrimSpace(token)
	if code != 0 || token == "" {
		t.Fatalf("token: exit %d %s", code, errOut)
	}
	dump := filepath.Join(dir, "child.env")
	wrapper := filepath.Join(dir, "server.sh")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nenv > '"+dump+"'\nexec '"+testpeer.Binary(t)+"'\n"), 0o755)

	t.Setenv("GATEHOUSE_AGENT_TOKEN", token)
	t.Setenv("GATEHOUSE_AGENT_SECRET", secret)
	t.Setenv("E2E_ORDINARY", "kept")
	s, _ := connect(t, []string{"--policy", example("policies", "allow-all.yaml"), "--audit", filepath.Join(dir, "audit.jsonl")}, wrapper)
	if got := callText(t, s, "echo", map[string]any{"message": "hi"}); got != "Echo: hi" {
		t.Fatalf("echo through gatehouse = %q", got)
	}
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{token, secret, "GATEHOUSE_"} {
		if strings.Contains(string(env), leak) {
			t.Errorf("the server's environment contains %.20q…", leak)
		}
	}
	if !strings.Contains(string(env), "E2E_ORDINARY=kept") {
		t.Error("an ordinary variable did not reach the server")
	}
}

package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// TestRunExportsTheAuditLog runs the real server-everything behind gatehouse run with two SIEM
// sinks (SPEC §12.5): a signed webhook with the receiver's credential, and standard error. After
// the session, what the webhook received and the audit lines on standard error are exactly the
// file, `gatehouse verify` proves what the webhook received intact, and the server's environment
// holds neither the credential nor the signing key.
func TestRunExportsTheAuditLog(t *testing.T) {
	const auth, key = "Bearer e2e-siem-t0ken", "e2e-siem-hmac-k3y"
	var mu sync.Mutex
	var received bytes.Buffer
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != auth || r.Header.Get(webhook.HeaderSignature) != "sha256="+webhook.Sign([]byte(key), r.Header.Get(webhook.HeaderTimestamp), body) {
			bad = append(bad, r.Header.Get("Authorization"))
		}
		received.Write(body)
	}))
	defer srv.Close()

	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte(`policy:
  rules: `+example("policies", "everything-demo.yaml")+`
audit:
  path: `+auditPath+`
  sinks:
    - type: webhook
      name: siem
      url: `+srv.URL+`/ingest
      auth_header: Authorization
      auth_env: E2E_SIEM_AUTH
      secret_env: E2E_SIEM_KEY
    - type: stderr
`), 0o600)
	t.Setenv("E2E_SIEM_AUTH", auth)
	t.Setenv("E2E_SIEM_KEY", key)
	dump := filepath.Join(dir, "child.env")
	wrapper := filepath.Join(dir, "server.sh")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nenv > '"+dump+"'\nexec '"+peer(t, "mcp-server-everything")+"' stdio\n"), 0o755)

	s, stderr := connect(t, []string{"--config", cfg, "--agent", "siem-e2e"}, wrapper)
	if got := callText(t, s, "echo", map[string]any{"message": "to the siem"}); got != "Echo: to the siem" {
		t.Errorf("echo = %q", got)
	}
	if _, reason := refusal(t, s, "get-env", nil); reason != "policy_deny" {
		t.Errorf("get-env: %q, want policy_deny", reason)
	}
	s.Close() // gatehouse exits: the log is sealed, then the sinks deliver what they hold

	file, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(file, []byte(`"tool":"get-env"`)) || !bytes.Contains(file, []byte(`"reason":"close"`)) {
		t.Fatalf("the audit log lacks the denied call or its closing checkpoint:\n%s", file)
	}
	mu.Lock()
	got := bytes.Clone(received.Bytes())
	mu.Unlock()
	if !bytes.Equal(got, file) {
		t.Errorf("the webhook received:\n%s\nthe file holds:\n%s", got, file)
	}
	if len(bad) > 0 {
		t.Errorf("deliveries without the credential or signature: %q", bad)
	}
	var onStderr bytes.Buffer
	for _, line := range strings.SplitAfter(stderr.String(), "\n") {
		if strings.HasPrefix(line, `{"v":`) {
			onStderr.WriteString(line)
		}
	}
	if !bytes.Equal(onStderr.Bytes(), file) {
		t.Errorf("standard error's audit lines:\n%s\nthe file holds:\n%s", onStderr.Bytes(), file)
	}
	copyPath := filepath.Join(dir, "received.jsonl")
	os.WriteFile(copyPath, got, 0o600)
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", copyPath).CombinedOutput(); err != nil {
		t.Errorf("verify of what the SIEM received: %v\n%s", err, out)
	}
	env, _ := os.ReadFile(dump)
	if len(env) == 0 || strings.Contains(string(env), "e2e-siem") {
		t.Errorf("the server's environment is empty or holds a sink's secret:\n%s", env)
	}
	for _, leak := range []string{"e2e-siem-t0ken", key} {
		if strings.Contains(stderr.String(), leak) {
			t.Errorf("gatehouse's log holds %q", leak)
		}
	}
}

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// TestServeAdminAndGracefulShutdown checks the admin listener (token, security headers, readiness
// detail, metrics) and that SIGTERM lets an in-flight call finish and seals the audit log.
func TestServeAdminAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	gw, admin := freeAddr(t), freeAddr(t)
	sum := sha256.Sum256([]byte("admin-secret"))
	auditPath := filepath.Join(dir, "audit.jsonl")
	config := fmt.Sprintf(`
listen: %s
admin:
  listen: %s
  token_sha256: %s
policy:
  rules: %s
audit:
  path: %s
upstreams:
  - name: peer
    prefix: ""
    command: [%q]
`, gw, admin, hex.EncodeToString(sum[:]), example("policies", "allow-all.yaml"), auditPath, testpeer.Binary(t))
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(config), 0o644)
	cmd := exec.Command(gatehouseBin, "serve", "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitListen(t, gw, &logs)

	get := func(path, token string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+admin+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/healthz", ""); resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/healthz: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get("/metrics", ""); resp.StatusCode != 401 {
		t.Errorf("/metrics without the token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get("/metrics", "wrong"); resp.StatusCode != 401 {
		t.Errorf("/metrics with a wrong token: %d, want 401", resp.StatusCode)
	}
	_, ready := get("/readyz", "admin-secret")
	var r struct {
		Ready     bool
		Upstreams []map[string]any
		Policy    map[string]any
	}
	if err := json.Unmarshal([]byte(ready), &r); err != nil || !r.Ready || len(r.Upstreams) != 1 || r.Upstreams[0]["ready"] != true || r.Policy["rules_revision"] == "" {
		t.Errorf("/readyz: %s", ready)
	}

	// One quick call, so the request counters have something to show.
	quick := `{"jsonrpc":"2.0","id":0,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	qreq, _ := http.NewRequest(http.MethodPost, "http://"+gw+"/mcp", strings.NewReader(quick))
	qreq.Header.Set("Content-Type", "application/json")
	qreq.Header.Set("MCP-Protocol-Version", "2026-07-28")
	qreq.Header.Set("Mcp-Method", "tools/list")
	if resp, err := http.DefaultClient.Do(qreq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("tools/list: %v %v", resp, err)
	}

	// A slow call is in flight when SIGTERM arrives: it must complete.
	done := make(chan string, 1)
	go func() {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+gw+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("MCP-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "slow")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	time.Sleep(300 * time.Millisecond)
	_, metrics := get("/metrics", "admin-secret")
	if !strings.Contains(metrics, "gatehouse_requests_total") || !strings.Contains(metrics, "gatehouse_policy_eval_seconds") {
		t.Errorf("/metrics lacks the gateway metrics")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if got := <-done; !strings.Contains(got, "slept 1500ms") {
		t.Errorf("in-flight call during shutdown: %s", got)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", logs.String())
	}
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput(); err != nil {
		t.Errorf("the audit log is not sealed after a graceful shutdown: %v\n%s", err, out)
	}
}

func waitListen(t *testing.T, addr string, logs *bytes.Buffer) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s:\n%s", addr, logs.String())
}

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
// detail, metrics) and that SIGTERM lets an in-flight call finish and seals the audit log, without
// waiting out the grace for an open GET stream.
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
http:
  shutdown_grace: 20s
policy:
  rules: %s
  bundle: builtin:starter
  rego_mode: monitor
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
	resp, ready := get("/readyz", "admin-secret")
	var r struct {
		Ready     bool
		Problems  []string
		Upstreams []map[string]any
		Policy    struct {
			RulesRevision string `json:"rules_revision"`
			Rego          map[string]any
		}
	}
	if err := json.Unmarshal([]byte(ready), &r); err != nil || resp.StatusCode != 200 || !r.Ready || len(r.Problems) != 0 || len(r.Upstreams) != 1 ||
		r.Upstreams[0]["ready"] != true || r.Upstreams[0]["state"] != "running" || r.Upstreams[0]["usable"] != true ||
		r.Policy.RulesRevision == "" || r.Policy.Rego["loaded"] != true || r.Policy.Rego["source"] != "builtin:starter" {
		t.Errorf("/readyz: %d %s", resp.StatusCode, ready)
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
	// Every metric of SPEC §13.2 (Rego and the threat scanner are on in this configuration).
	for _, name := range []string{"gatehouse_requests_total", "gatehouse_policy_eval_seconds", "gatehouse_upstream_seconds",
		"gatehouse_audit_write_seconds", "gatehouse_policy_bundle_reloads_total", "gatehouse_threat_findings_total",
		"gatehouse_sessions_killed_total", "gatehouse_approvals_pending"} {
		if !strings.Contains(metrics, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// Every gatehouse metric served is documented, with its type and labels.
	ops, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(metrics, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE gatehouse_"); ok {
			name = "gatehouse_" + strings.Fields(name)[0]
			if !strings.Contains(string(ops), "| `"+name+"` |") {
				t.Errorf("docs/operations.md does not list %s", name)
			}
		}
	}

	// A legacy client holds its GET stream open: shutdown must end it rather than wait for it.
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	ireq, _ := http.NewRequest(http.MethodPost, "http://"+gw+"/mcp", strings.NewReader(init))
	ireq.Header.Set("Content-Type", "application/json")
	ireq.Header.Set("Accept", "application/json, text/event-stream")
	iresp, err := http.DefaultClient.Do(ireq)
	if err != nil || iresp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %v %v", iresp, err)
	}
	iresp.Body.Close()
	greq, _ := http.NewRequest(http.MethodGet, "http://"+gw+"/mcp", nil)
	greq.Header.Set("Accept", "text/event-stream")
	greq.Header.Set("Mcp-Session-Id", iresp.Header.Get("Mcp-Session-Id"))
	gresp, err := http.DefaultClient.Do(greq)
	if err != nil || gresp.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", gresp, err)
	}
	defer gresp.Body.Close()
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, gresp.Body)
		streamEnded <- err
	}()

	// A 2026-07-28 client holds a subscriptions/listen stream open: it must end too.
	listen := `{"jsonrpc":"2.0","id":9,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	lreq, _ := http.NewRequest(http.MethodPost, "http://"+gw+"/mcp", strings.NewReader(listen))
	lreq.Header.Set("Content-Type", "application/json")
	lreq.Header.Set("Accept", "application/json, text/event-stream")
	lreq.Header.Set("MCP-Protocol-Version", "2026-07-28")
	lreq.Header.Set("Mcp-Method", "subscriptions/listen")
	lresp, err := http.DefaultClient.Do(lreq)
	if err != nil || lresp.StatusCode != 200 || !strings.HasPrefix(lresp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("subscriptions/listen: %v %v", lresp, err)
	}
	defer lresp.Body.Close()
	listenEnded := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(lresp.Body)
		if err == nil && !strings.Contains(string(b), "notifications/subscriptions/acknowledged") {
			err = fmt.Errorf("the stream ended without its acknowledgment: %q", b)
		}
		listenEnded <- err
	}()

	sigterm := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if got := <-done; !strings.Contains(got, "slept 1500ms") {
		t.Errorf("in-flight call during shutdown: %s", got)
	}
	select {
	case err := <-streamEnded:
		if err != nil {
			t.Errorf("the GET stream did not end cleanly: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the GET stream is still open 5s after SIGTERM")
	}
	select {
	case err := <-listenEnded:
		if err != nil {
			t.Errorf("the subscriptions/listen stream did not end cleanly: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the subscriptions/listen stream is still open 5s after SIGTERM")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", logs.String())
	}
	if took := time.Since(sigterm); took > 8*time.Second || strings.Contains(logs.String(), "shutdown grace expired") {
		t.Errorf("shutdown took %v (grace 20s): an open GET stream held it up\n%s", took, logs.String())
	}
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput(); err != nil {
		t.Errorf("the audit log is not sealed after a graceful shutdown: %v\n%s", err, out)
	}
}

// adminRequest sends method path (with a JSON body when not empty) to the admin listener at addr and
// returns the status and body.
func adminRequest(t *testing.T, addr, method, path, body string) (int, string) {
	t.Helper()
	return adminAs(t, addr, "", method, path, body)
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

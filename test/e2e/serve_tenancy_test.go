package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// startServe runs gatehouse serve with a configuration file until stop is called (SIGTERM, then a
// wait for a clean exit).
func startServe(t *testing.T, cfgPath, addr string, env ...string) (logs *bytes.Buffer, stop func()) {
	t.Helper()
	cmd := exec.Command(gatehouseBin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve exited with %v\n%s", err, logs)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not stop on SIGTERM\n%s", logs)
		}
	}
	t.Cleanup(stop)
	waitListen(t, addr, logs)
	return logs, stop
}

func connectHTTP(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, nil)
	s, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// callTool calls a tool and returns its text, whether it is a tool error, and a protocol error.
func callTool(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) (string, bool, error) {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError, nil
}

// TestServeEngagements runs gatehouse serve with tenancy and the built-in file tools: engagements
// see only their own files and tools, a cross-tenant attempt is refused and audited, an allowlist
// changed through the admin API is audited and survives a restart, and the audit log verifies.
func TestServeEngagements(t *testing.T) {
	dir := t.TempDir()
	gw, admin := freeAddr(t), freeAddr(t)
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: %s}
policy: {rules: %s}
audit: {path: %s}
tenancy:
  enabled: true
  sources: [path]
  engagements:
    acme: {allowlist: [fs.read, fs.write, fs.list]}
    globex: {allowlist: [fs.list]}
upstreams:
  - name: files
    builtin: fs
    fs: {data_root: data}
`, gw, admin, example("policies", "allow-all.yaml"), auditPath)), 0o644)
	_, stop := startServe(t, cfgPath, gw)

	acme := connectHTTP(t, "http://"+gw+"/e/acme/mcp")
	if out, isErr, err := callTool(t, acme, "fs.write", map[string]any{"path": "notes/plan.md", "content": "# acme plan\n"}); err != nil || isErr {
		t.Fatalf("acme fs.write: %q %v %v", out, isErr, err)
	}
	if out, _, err := callTool(t, acme, "fs.read", map[string]any{"path": "notes/plan.md"}); err != nil || out != "# acme plan\n" {
		t.Fatalf("acme fs.read: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "acme", "notes", "plan.md")); err != nil {
		t.Errorf("the file is not in acme's jail: %v", err)
	}

	globex := connectHTTP(t, "http://"+gw+"/e/globex/mcp")
	tools, err := globex.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "fs.list" {
		t.Fatalf("globex tools/list = %+v, %v; want only fs.list", tools, err)
	}
	if out, _, err := callTool(t, globex, "fs.list", map[string]any{}); err != nil || strings.Contains(out, "notes") {
		t.Errorf("globex lists acme's files: %q %v", out, err)
	}
	if _, _, err := callTool(t, globex, "fs.read", map[string]any{"path": "../acme/notes/plan.md"}); err == nil || !strings.Contains(err.Error(), "allowlist") {
		t.Errorf("globex fs.read (off its allowlist): %v, want a cross_tenant refusal", err)
	}

	patch := func(body string) (int, string) {
		return adminRequest(t, admin, http.MethodPatch, "/admin/v1/engagements/globex/allowlist", body)
	}
	if st, body := patch(`{"add":["fs.read"]}`); st != 200 || !strings.Contains(body, `"fs.read"`) {
		t.Fatalf("PATCH allowlist: %d %s", st, body)
	}
	for _, p := range []string{"../acme/notes/plan.md", "notes/plan.md", "/etc/passwd", "%2e%2e/acme/notes/plan.md"} {
		out, isErr, err := callTool(t, globex, "fs.read", map[string]any{"path": p})
		if err != nil || !isErr || strings.Contains(out, "acme plan") {
			t.Errorf("globex fs.read %q: %q isError=%v %v; want a refusal that reveals nothing", p, out, isErr, err)
		}
	}
	acme.Close()
	globex.Close()
	stop()

	// The admin change persisted: after a restart globex still may read.
	_, stop = startServe(t, cfgPath, gw)
	resp, err := http.Get("http://" + admin + "/admin/v1/engagements/globex/allowlist")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Tools  []string
		Origin string
	}
	json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if view.Origin != "admin" || strings.Join(view.Tools, ",") != "fs.list,fs.read" {
		t.Errorf("after a restart globex's allowlist is %+v", view)
	}
	stop()

	out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(auditPath)
	var crossTenant, adminChanges int
	for _, line := range strings.Split(string(data), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r["code"] == "cross_tenant" && r["tenant"] == "globex" && r["tool"] == "fs.read" {
			crossTenant++
		}
		if r["method"] == "admin/allowlist.patch" && r["tenant"] == "globex" {
			adminChanges++
		}
	}
	if crossTenant != 1 || adminChanges != 1 {
		t.Errorf("audit: %d cross_tenant fs.read records for globex, %d allowlist changes; want 1 and 1", crossTenant, adminChanges)
	}
}

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// legacyClient speaks the 2025-11-25 Streamable HTTP protocol by hand, so that a test sees the
// HTTP status of every answer.
type legacyClient struct {
	t       *testing.T
	url     string
	key     string
	session string
	nextID  int
}

// post sends one JSON-RPC message and returns the HTTP status and the JSON-RPC message of the
// answer (the last SSE event's data when the answer is a stream).
func (c *legacyClient) post(body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.key)
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		c.session = sid
	}
	data := string(raw)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		data = ""
		for _, line := range strings.Split(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				data = d
			}
		}
	}
	var msg map[string]any
	if len(strings.TrimSpace(data)) > 0 {
		if err := json.Unmarshal([]byte(data), &msg); err != nil {
			c.t.Fatalf("HTTP %d, answer %q: %v", resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, msg
}

func (c *legacyClient) call(tool string, args map[string]any) (int, map[string]any) {
	c.t.Helper()
	c.nextID++
	a, _ := json.Marshal(args)
	return c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, c.nextID, tool, a))
}

// reason is the error's data.reason, or "" for a result.
func reason(msg map[string]any) string {
	e, _ := msg["error"].(map[string]any)
	d, _ := e["data"].(map[string]any)
	r, _ := d["reason"].(string)
	return r
}

// TestRegoStoriesOverServe shows the seed's first two stories through gatehouse serve with the
// starter bundle: role dev calling database.backup is refused with HTTP 403 and reason policy_deny,
// temp.convert at -500 with HTTP 422 and validation_failed; a call the policy allows is answered
// with 200. The caller's role comes from its API key.
func TestRegoStoriesOverServe(t *testing.T) {
	dir := t.TempDir()
	gw := freeAddr(t)
	const key = "e2e-dev-key-0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(key))
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: ""}
mode: enforce
policy:
  bundle: %s
  rego_mode: enforce
audit: {path: %s}
pins: {file: memory}
auth:
  api_keys:
    keys:
      - id: dev-bot
        hash: sha256:%s
        roles: [dev]
upstreams:
  - name: peer
    prefix: ""
    command: [%s]
`, gw, starterCopy(t), auditPath, hex.EncodeToString(sum[:]), testpeer.Binary(t))), 0o644)
	logs, stop := startServe(t, cfgPath, gw)

	c := &legacyClient{t: t, url: "http://" + gw + "/mcp", key: key}
	if status, msg := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`); status != 200 || msg["result"] == nil || c.session == "" {
		t.Fatalf("initialize: HTTP %d %v session %q\n%s", status, msg, c.session, logs)
	}
	if status, _ := c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: HTTP %d", status)
	}

	for _, tc := range []struct {
		tool       string
		args       map[string]any
		status     int
		wantReason string
	}{
		{"database.backup", map[string]any{"target": "s3://backups"}, http.StatusForbidden, "policy_deny"},
		{"temp.convert", map[string]any{"temp": -500}, http.StatusUnprocessableEntity, "validation_failed"},
		{"temp.convert", map[string]any{"temp": 21.5}, http.StatusOK, ""},
		{"echo", map[string]any{"message": "hi"}, http.StatusOK, ""},
	} {
		status, msg := c.call(tc.tool, tc.args)
		if status != tc.status || reason(msg) != tc.wantReason || (tc.wantReason == "" && msg["result"] == nil) {
			t.Errorf("%s %v: HTTP %d, %v; want HTTP %d reason %q", tc.tool, tc.args, status, msg, tc.status, tc.wantReason)
		}
	}
	stop()

	var backup bool
	for _, rec := range readAudit(t, auditPath) {
		if rec.Tool == "database.backup" {
			backup = true
			if rec.Reason != "blocked by rego: role_mismatch" || rec.Agent != "dev-bot" || rec.Code != "policy_deny" {
				t.Errorf("audit record for database.backup: reason %q agent %q code %q", rec.Reason, rec.Agent, rec.Code)
			}
		}
	}
	if !backup {
		t.Error("no audit record for database.backup")
	}
}

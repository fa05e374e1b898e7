package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// modernCall sends one 2026-07-28 request (stateless: no session, per-request _meta and headers)
// and returns the HTTP status and the final JSON-RPC message.
func modernCall(url, method string, params map[string]any) (int, map[string]any, error) {
	return modernCallAs(url, "", method, params)
}

// modernCallAs is modernCall with the bearer token token, when not empty.
func modernCallAs(url, token, method string, params map[string]any) (int, map[string]any, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return modernCallWith(url, h, method, params)
}

// modernCallWith is modernCall with the headers extra added to the request.
func modernCallWith(url string, extra http.Header, method string, params map[string]any) (int, map[string]any, error) {
	pm := map[string]any{"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{}}}
	for k, v := range params {
		pm[k] = v
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": pm})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name, ok := pm["name"].(string); ok {
		req.Header.Set("Mcp-Name", name)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var last string
		for _, line := range strings.Split(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.TrimSpace(d) != "" {
				last = d
			}
		}
		raw = []byte(last)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("body %q: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}

// A 2026-07-28 client in front of @modelcontextprotocol/server-everything over Streamable HTTP, a
// legacy-only server that answers stateless requests with 400 "Server not initialized" (id null):
// gatehouse learns its era from that refusal and bridges, so its tools are listed (namespaced, next
// to the Go SDK's everything-server's) and called, by clients that all number their requests 1.
func TestServeBridgesModernClientToServerEverything(t *testing.T) {
	dir := t.TempDir()
	npmPort, goUp, gw := freeAddr(t), freeAddr(t), freeAddr(t)
	_, port, _ := strings.Cut(npmPort, ":")
	background(t, npmPort, []string{"PORT=" + port}, peer(t, "mcp-server-everything"), "streamableHttp")
	background(t, goUp, nil, peerBin(t, "everything-server"), "-http="+goUp)
	config := fmt.Sprintf(`
listen: %s
admin: {listen: ""}
policy:
  rules: %s
audit:
  path: %s
pins:
  file: memory
upstreams:
  - name: everything
    url: http://%s/mcp
  - name: conf
    url: http://%s/
`, gw, example("policies", "allow-all.yaml"), filepath.Join(dir, "audit.jsonl"), npmPort, goUp)
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(config), 0o644)
	background(t, gw, nil, gatehouseBin, "serve", "--config", cfgPath)
	url := "http://" + gw + "/mcp"

	status, body, err := modernCall(url, "tools/list", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("tools/list: %d %v %v", status, body, err)
	}
	var names []string
	result, _ := body["result"].(map[string]any)
	tools, _ := result["tools"].([]any)
	for _, tool := range tools {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	list := "," + strings.Join(names, ",") + ","
	for _, want := range []string{"everything.echo", "everything.get-sum", "conf.test_simple_text"} {
		if !strings.Contains(list, ","+want+",") {
			t.Errorf("tools/list lacks %s: %s", want, list)
		}
	}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("bridged %d", i)
			status, body, err := modernCall(url, "tools/call", map[string]any{"name": "everything.echo", "arguments": map[string]any{"message": msg}})
			if got := firstText(body); err != nil || status != http.StatusOK || got != "Echo: "+msg {
				t.Errorf("everything.echo %q: %d %v %v", msg, status, body, err)
			}
		}()
	}
	wg.Wait()
	status, body, err = modernCall(url, "tools/call", map[string]any{"name": "conf.test_simple_text", "arguments": map[string]any{}})
	if err != nil || status != http.StatusOK || body["result"] == nil {
		t.Errorf("conf.test_simple_text: %d %v %v", status, body, err)
	}
	status, body, err = modernCall(url, "server/discover", nil)
	if r, _ := body["result"].(map[string]any); err != nil || status != http.StatusOK || r["capabilities"] == nil {
		t.Errorf("server/discover: %d %v %v", status, body, err)
	}
}

// firstText is the first text content of a tools/call result, "" when there is none.
func firstText(body map[string]any) string {
	r, _ := body["result"].(map[string]any)
	content, _ := r["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	text, _ := content[0].(map[string]any)["text"].(string)
	return text
}

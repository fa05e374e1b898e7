package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// loadBalancer spreads a client's requests over replicas in turn, as a load balancer without sticky
// sessions does, except that every resumption (a GET with Last-Event-ID) goes to resumeTo. It
// records which replica each request reached.
type loadBalancer struct {
	replicas []string // host:port
	resumeTo string
	next     http.RoundTripper
	mu       sync.Mutex
	n        int
	reached  map[string][]string // replica: "METHOD json-rpc-method" of each request
}

func (lb *loadBalancer) RoundTrip(req *http.Request) (*http.Response, error) {
	lb.mu.Lock()
	host := lb.replicas[lb.n%len(lb.replicas)]
	lb.n++
	if req.Method == http.MethodGet && req.Header.Get("Last-Event-ID") != "" {
		host = lb.resumeTo
	}
	lb.mu.Unlock()
	what := req.Method
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct{ Method string }
		if json.Unmarshal(body, &msg) == nil && msg.Method != "" {
			what += " " + msg.Method
		}
	}
	lb.mu.Lock()
	lb.reached[host] = append(lb.reached[host], what)
	lb.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Host, req.Host = host, host
	return lb.next.RoundTrip(req)
}

// TestServeLegacySessionsAcrossReplicas (SPEC §11.2, §1.4): two gatehouse serve replicas, each with
// its own server-everything, route legacy sessions to each other. A Go SDK client in the 2025-11-25
// era whose requests are spread over both, with no stickiness, keeps one session: every call is
// answered by the replica that opened it and recorded in that replica's audit log alone, and a
// streamed answer cut on one replica is resumed through the other. Once the replica holding the
// session stops, the other says the session is not found, so the client opens a new one.
func TestServeLegacySessionsAcrossReplicas(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "replica.key")
	if err := os.WriteFile(keyFile, []byte("a key both replicas share, 32+ bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	audits := map[string]string{}
	stops := map[string]func(){}
	for _, name := range []string{"a", "b"} {
		audits[name] = filepath.Join(dir, name+"-audit.jsonl")
		cfg := filepath.Join(dir, name+".yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
admin: {listen: ""}
pins: {file: memory}
policy:
  rules: %s
audit:
  path: %s
replicas:
  name: %s
  key_file: %s
  peers:
    a: http://%s
    b: http://%s
upstreams:
  - name: everything
    prefix: ""
    command: [%q, stdio]
`, addrs[name], example("policies", "allow-all.yaml"), audits[name], name, keyFile, addrs["a"], addrs["b"], peer(t, "mcp-server-everything"))), 0o600)
		if code, out, errOut := gatehouseCmd(t, "check", "--config", cfg); code != 0 {
			t.Fatalf("check --config %s: exit %d\n%s%s", name, code, out, errOut)
		}
		_, stops[name] = startServe(t, cfg, addrs[name])
	}

	lb := &loadBalancer{replicas: []string{addrs["a"], addrs["b"]}, resumeTo: addrs["b"], next: &cuttingTransport{cutPost: "trigger-long-running-operation"},
		reached: map[string][]string{}}
	progress := &progressLog{}
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, &mcp.ClientOptions{ProgressNotificationHandler: progress.add})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := connectLegacy(t, ctx, client, "http://"+addrs["a"]+"/mcp", lb)
	id := s.ID()
	if !strings.HasPrefix(id, "a.") {
		t.Fatalf("session id %q does not name replica a, which opened it", id)
	}

	tools, err := s.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list: %v", err)
	}
	const calls = 6
	for i := range calls {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": fmt.Sprintf("call %d", i)}})
		if err != nil || res.IsError || !strings.Contains(toolText(res), fmt.Sprintf("call %d", i)) {
			t.Fatalf("echo %d: %v %+v", i, err, res)
		}
	}

	// A streamed answer cut on one replica, resumed through b.
	resumedLongCall(t, ctx, s, lb.next.(*cuttingTransport), progress)

	lb.mu.Lock()
	t.Logf("reached a: %q; b: %q", lb.reached[addrs["a"]], lb.reached[addrs["b"]])
	throughB := slices.Collect(func(yield func(string) bool) {
		for _, r := range lb.reached[addrs["b"]] {
			if r == "POST tools/call" && !yield(r) {
				return
			}
		}
	})
	lb.mu.Unlock()
	if len(throughB) < calls/2 {
		t.Errorf("%d calls went through b; the test must spread them over both replicas", len(throughB))
	}

	// Every call was decided and recorded by a, whose log verifies; b, which only forwarded, recorded
	// nothing.
	recorded := map[string]int{}
	for _, name := range []string{"a", "b"} {
		for _, r := range readAudit(t, audits[name]) {
			if r.Method == "tools/call" {
				recorded[name]++
				if r.SessionID != id {
					t.Errorf("%s recorded a call of session %q, want %q", name, r.SessionID, id)
				}
			}
		}
	}
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", audits["a"]).CombinedOutput(); err != nil {
		t.Errorf("verify a: %v\n%s", err, out)
	}
	if recorded["a"] != calls+1 || recorded["b"] != 0 {
		t.Errorf("tools/call records: a %d, b %d; want a %d, b 0", recorded["a"], recorded["b"], calls+1)
	}

	// The session ends with its replica: b, asked for it, says it is not found.
	stops["a"]()
	status, body := postSession(t, addrs["b"], id, `{"jsonrpc":"2.0","id":99,"method":"tools/list"}`)
	if status != http.StatusNotFound || !strings.Contains(body, "Session not found") {
		t.Errorf("the session through b once a stopped: %d %s, want 404", status, body)
	}
	// A session id that b did not mint and that names no replica is not forwarded anywhere.
	forged := strings.Replace(id, "a.", "b.", 1)
	if status, _ := postSession(t, addrs["b"], forged, `{"jsonrpc":"2.0","id":100,"method":"tools/list"}`); status != http.StatusNotFound {
		t.Errorf("a forged session id through b: %d, want 404", status)
	}
}

// postSession POSTs a legacy message for session id to the gateway at addr, and returns the status
// and body.
func postSession(t *testing.T, addr, id, message string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(message))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// connect starts `gatehouse run ARGS... -- SERVER...` under the official Go SDK client.
func connect(t *testing.T, args []string, server ...string) (*mcp.ClientSession, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.Command(gatehouseBin, append(append(append([]string{"run"}, args...), "--"), server...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect through gatehouse: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gatehouse stderr:\n%s", stderr.String())
		}
	})
	return session, &stderr
}

func callText(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// refusal calls a tool that must be refused and returns the error's data.reason.
func refusal(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) (code int64, reason string) {
	t.Helper()
	_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		t.Fatalf("%s: got %v, want a JSON-RPC error", name, err)
	}
	var data struct {
		Reason     string `json:"reason"`
		DecisionID string `json:"decision_id"`
	}
	json.Unmarshal(we.Data, &data)
	if data.DecisionID == "" {
		t.Errorf("%s: error data has no decision_id: %s", name, we.Data)
	}
	return we.Code, data.Reason
}

// readAudit returns the decision records of an audit log (not its events, checkpoints or recoveries).
func readAudit(t *testing.T, path string) []auditlog.Record {
	t.Helper()
	var out []auditlog.Record
	for _, r := range readAuditAll(t, path) {
		if r.Type == auditlog.TypeDecision {
			out = append(out, r)
		}
	}
	return out
}

// TestServerEverythingThroughGatehouse drives the real reference server through gatehouse run with
// the official Go SDK client, with goroutines reading the client and the server (the default), and
// with the event loop reading both.
func TestServerEverythingThroughGatehouse(t *testing.T) {
	t.Run("goroutines", func(t *testing.T) { testServerEverything(t) })
	t.Run("event loop", func(t *testing.T) { testServerEverything(t, "--event-loop") })
}

func testServerEverything(t *testing.T, flags ...string) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	args := append([]string{"--policy", example("policies", "everything-demo.yaml"), "--audit", auditPath, "--agent", "e2e-agent"}, flags...)
	s, _ := connect(t, args, peer(t, "mcp-server-everything"), "stdio")

	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	listed := strings.Join(names, ",")
	if !strings.Contains(listed, "echo") || !strings.Contains(listed, "get-sum") {
		t.Errorf("allowed tools missing from tools/list: %s", listed)
	}
	if strings.Contains(listed, "get-env") || strings.Contains(listed, "get-tiny-image") {
		t.Errorf("denied tools shown in tools/list: %s", listed)
	}

	if got := callText(t, s, "echo", map[string]any{"message": "hello"}); got != "Echo: hello" {
		t.Errorf("echo = %q", got)
	}
	if got := callText(t, s, "echo", map[string]any{"message": "secret:hunter2"}); got != "Echo: [REDACTED]" {
		t.Errorf("redacted echo = %q, want the server to have seen [REDACTED]", got)
	}
	if got := callText(t, s, "get-sum", map[string]any{"a": 2, "b": 3}); !strings.Contains(got, "5") {
		t.Errorf("get-sum = %q", got)
	}
	if code, reason := refusal(t, s, "get-env", nil); code != -32001 || reason != "policy_deny" {
		t.Errorf("get-env: code %d reason %q, want -32001 policy_deny", code, reason)
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after the run: %v\n%s", err, out)
	}
	var denied, redacted bool
	for _, r := range readAudit(t, auditPath) {
		if strings.Contains(r.ArgsPreview+r.ResultPreview, "hunter2") {
			t.Errorf("the redacted secret is in the audit log: %+v", r)
		}
		if r.Tool == "get-env" && r.Effect == "deny" && r.Agent == "e2e-agent" {
			denied = true
		}
		if r.Tool == "echo" && r.Effect == "redact" && r.RuleID == "echo-redact-secrets" {
			redacted = true
		}
	}
	if !denied || !redacted {
		t.Errorf("audit is missing the deny (%v) or redact (%v) record", denied, redacted)
	}
}

// TestRecordingUpstreamNeverSeesDenied proves with the recording server that a denied call and a call
// crossing a budget never reach the upstream, through the real binary.
func TestRecordingUpstreamNeverSeesDenied(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record.jsonl")
	t.Setenv("TESTPEER_RECORD", record)
	s, _ := connect(t, []string{"--policy", example("policies", "refunds.yaml"), "--audit", filepath.Join(dir, "a.jsonl")},
		testpeer.Binary(t))
	for i := 0; i < 4; i++ {
		if got := callText(t, s, "refund", map[string]any{"amount": 450}); got != "refunded 450" {
			t.Fatalf("refund %d = %q", i, got)
		}
	}
	if _, reason := refusal(t, s, "refund", map[string]any{"amount": 201, "note": "CROSSING"}); reason != "budget_exceeded" {
		t.Errorf("crossing refund: %q, want budget_exceeded", reason)
	}
	if _, reason := refusal(t, s, "refund", map[string]any{"amount": 900, "note": "LARGE"}); reason != "policy_deny" {
		t.Errorf("large refund: %q, want policy_deny", reason)
	}
	if _, reason := refusal(t, s, "echo", map[string]any{"message": "NOT-ALLOWED"}); reason != "policy_deny" {
		t.Errorf("echo under the refunds policy: %q, want policy_deny", reason)
	}
	s.Close()
	for _, line := range testpeer.Recorded(t, record) {
		for _, mark := range []string{"CROSSING", "LARGE", "NOT-ALLOWED"} {
			if strings.Contains(line, mark) {
				t.Errorf("the upstream received a refused call: %s", line)
			}
		}
	}
}

// TestInspectorCLIThroughGatehouse uses the MCP Inspector CLI as the client.
func TestInspectorCLIThroughGatehouse(t *testing.T) {
	dir := t.TempDir()
	inspector := peer(t, "mcp-inspector")
	server := peer(t, "mcp-server-everything")
	audit := filepath.Join(dir, "audit.jsonl")
	base := []string{"--cli", gatehouseBin, "run", "--policy", example("policies", "everything-demo.yaml"), "--audit", audit, "--", server, "stdio"}
	inspect := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, inspector, append(append([]string{}, base...), args...)...)
		// The Inspector stores settings and secrets under HOME: keep them in the test's directory.
		cmd.Env = append(os.Environ(), "HOME="+dir, "MCP_CATALOG_PATH="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := inspect("--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=from-inspector")
	if err != nil || !strings.Contains(out, "Echo: from-inspector") {
		t.Fatalf("inspector echo: %v\n%s", err, out)
	}
	out, err = inspect("--method", "tools/list")
	if err != nil || !strings.Contains(out, `"echo"`) || strings.Contains(out, `"get-env"`) {
		t.Errorf("inspector tools/list: %v\n%s", err, out)
	}
	// get-env is hidden from tools/list, so the Inspector itself refuses to call it.
	out, _ = inspect("--method", "tools/call", "--tool-name", "get-env")
	if !strings.Contains(out, "not found") {
		t.Errorf("inspector could call a tool gatehouse hides:\n%s", out)
	}
	// get-sum is listed, but an argument out of the policy's bounds is denied by gatehouse.
	out, err = inspect("--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=99999999999", "--tool-arg", "b=1")
	if err == nil || !strings.Contains(out, "Denied by policy") {
		t.Errorf("inspector get-sum out of bounds was not refused by policy: %v\n%s", err, out)
	}
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", audit).CombinedOutput(); err != nil {
		t.Errorf("audit after three inspector runs does not verify: %v\n%s", err, out)
	}
}

// TestVerifyDetectsEachTampering runs gatehouse against the real server, then tampers with copies of
// its audit log in each way SPEC §12.3 names and checks that `gatehouse verify` exits 1 naming the
// first bad record.
func TestVerifyDetectsEachTampering(t *testing.T) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	out, err := exec.Command(gatehouseBin, "keygen", "--out", filepath.Join(dir, "k")).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	s, _ := connect(t, []string{"--policy", example("policies", "everything-demo.yaml"), "--audit", auditPath, "--audit-key", filepath.Join(dir, "k.key")},
		peer(t, "mcp-server-everything"), "stdio")
	for i := 0; i < 3; i++ {
		callText(t, s, "echo", map[string]any{"message": fmt.Sprint("m", i)})
	}
	refusal(t, s, "get-env", nil)
	s.Close()
	verify := func(path string) (int, string) {
		out, err := exec.Command(gatehouseBin, "verify", "--audit", path, "--pubkey", filepath.Join(dir, "k.pub")).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := verify(auditPath); code != 0 {
		t.Fatalf("the untouched log does not verify: %s", out)
	}
	data, _ := os.ReadFile(auditPath)
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 6 {
		t.Fatalf("log too short to tamper with: %d lines", len(lines))
	}
	join := func(ls []string) string {
		s := strings.Join(ls, "")
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		return s
	}
	tamperings := []struct {
		name, content, want string
	}{
		{"edit", join(append(append(append([]string{}, lines[:2]...), strings.Replace(lines[2], `"tools/`, `"toolz/`, 1)), lines[3:]...)), ":3: seq 3:"},
		{"insert", join(append(append(append([]string{}, lines[:3]...), lines[1]), lines[3:]...)), ":4: seq 2:"},
		{"delete", join(append(append([]string{}, lines[:2]...), lines[3:]...)), ":3: seq 4:"},
		{"reorder", join(append(append(append([]string{}, lines[:2]...), lines[3], lines[2]), lines[4:]...)), ":3: seq 4:"},
		{"truncate whole records", join(lines[:len(lines)-2]), "without a closing checkpoint"},
		{"cut mid-line", join(lines[:len(lines)-1]) + lines[len(lines)-1][:20], fmt.Sprintf(":%d:", len(lines))},
	}
	for _, tt := range tamperings {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".jsonl")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := verify(p)
			if code != 1 || !strings.Contains(out, "NOT INTACT") || !strings.Contains(out, tt.want) {
				t.Errorf("verify after %s: exit %d, want 1 naming %q:\n%s", tt.name, code, tt.want, out)
			}
		})
	}
}

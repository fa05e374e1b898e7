package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// TestServeAsksHeldClientToRetry (SPEC §10.2, the spec-native answer): the Go SDK's 2026-07-28
// client, with an elicitation handler, calls through gatehouse serve the Go SDK conformance
// server's tool that asks for input of its own (a Multi Round-Trip with requestState), while
// gatehouse holds every call of that tool for a human. Gatehouse answers each hold with an
// input_required result whose elicitation tells the human what waits; the human approves it through
// the admin API and accepts; the SDK retries. The server's own round goes through gatehouse both
// ways: its requestState and the client's answer come back, are held as a call of their own, and
// reach the server unchanged once that is approved too, so the tool completes. A human who declines
// gatehouse's elicitation gets approval_required, nothing is forwarded, and the approval is
// withdrawn.
func TestServeAsksHeldClientToRetry(t *testing.T) {
	dir := t.TempDir()
	upstream, gw, admin := freeAddr(t), freeAddr(t), freeAddr(t)
	background(t, upstream, nil, peerBin(t, "everything-server"), "-http="+upstream)
	const adminToken = "admin-token-for-asking"
	sum := sha256.Sum256([]byte(adminToken))
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(`
name: ask
version: "1"
default_effect: allow
rules:
  - id: confirm-by-human
    tools: [test_input_required_result_request_state]
    effect: require_approval
    reason: this tool needs a human
`), 0o644)
	auditPath := filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
admin:
  listen: %s
  token_sha256: %s
policy:
  rules: %s
audit:
  path: %s
upstreams:
  - name: conf
    prefix: ""
    url: http://%s/
`, gw, admin, hex.EncodeToString(sum[:]), policy, auditPath, upstream)), 0o644)
	_, stop := startServe(t, cfg, gw)

	approvalID := regexp.MustCompile(`approval (apr_[A-Z0-9]+)`)
	var mu sync.Mutex
	var asked []string // gatehouse's elicitation messages, in order
	var serverAsks int // the conformance server's own elicitations
	decline := false   // whether the human declines gatehouse's elicitation
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			defer mu.Unlock()
			msg := req.Params.Message
			if !strings.HasPrefix(msg, "gatehouse holds") {
				serverAsks++
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
			}
			asked = append(asked, msg)
			if decline {
				return &mcp.ElicitResult{Action: "decline"}, nil
			}
			m := approvalID.FindStringSubmatch(msg)
			if m == nil {
				return nil, fmt.Errorf("gatehouse's elicitation names no approval: %q", msg)
			}
			if st, body := adminAs(t, admin, adminToken, "POST", "/admin/v1/approvals/approve", `{"id":"`+m[1]+`","approver":"carol","note":"asked in the client"}`); st != 200 {
				return nil, fmt.Errorf("approving %s: %d %s", m[1], st, body)
			}
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + gw + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "test_input_required_result_request_state", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("the held call: %v", err)
	}
	if text := toolText(res); !strings.HasPrefix(text, "state-ok") {
		t.Errorf("the tool did not complete with its state: %q", text)
	}
	mu.Lock()
	if len(asked) != 2 || serverAsks != 1 || !strings.Contains(asked[0], "this tool needs a human") ||
		!strings.Contains(asked[0], "tools/call test_input_required_result_request_state") {
		t.Errorf("gatehouse asked %d times (%q) and the server %d, want 2 and 1", len(asked), asked, serverAsks)
	}
	ids := map[string]bool{}
	for _, a := range asked {
		if m := approvalID.FindStringSubmatch(a); m != nil {
			ids[m[1]] = true
		}
	}
	decline, asked = true, nil
	mu.Unlock()
	if len(ids) != 2 {
		t.Errorf("the two held calls (without and with the server's state) had %d approvals, want 2", len(ids))
	}

	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "test_input_required_result_request_state", Arguments: map[string]any{"again": true}})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || !strings.Contains(string(werr.Data), `"reason":"approval_required"`) || !strings.Contains(string(werr.Data), "declined") {
		t.Errorf("the declined call: %v", err)
	}
	mu.Lock()
	if len(asked) != 1 || approvalID.FindStringSubmatch(asked[0]) == nil {
		t.Fatalf("gatehouse asked %q before the decline, want once", asked)
	}
	withdrawn := approvalID.FindStringSubmatch(asked[0])[1]
	mu.Unlock()
	if st, body := adminAs(t, admin, adminToken, "GET", "/admin/v1/approvals/"+withdrawn, ""); st != 200 ||
		!strings.Contains(body, `"status":"denied"`) || !strings.Contains(body, "withdrawn") {
		t.Errorf("the declined call's approval: %d %s, want it withdrawn (denied)", st, body)
	}

	stop()
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", auditPath).CombinedOutput(); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
	forwarded, approvedBy := 0, map[string]string{}
	for _, rec := range readAuditAll(t, auditPath) {
		if rec.Type == auditlog.TypeEvent && rec.Method == "admin/approvals.approve" {
			approvedBy[rec.ApprovalID] = rec.User
		}
		if rec.Type == auditlog.TypeDecision && rec.Tool == "test_input_required_result_request_state" && rec.Effect == "allow" {
			forwarded++
			if !ids[rec.ApprovalID] || !strings.Contains(rec.ArgsPreview, "{}") {
				t.Errorf("a forwarded call not let through by one of the two approvals: %+v", rec)
			}
		}
	}
	if forwarded != 2 || len(approvedBy) != 2 {
		t.Errorf("%d calls forwarded and %d approvals audited, want 2 and 2 (the declined call is never forwarded)", forwarded, len(approvedBy))
	}
}

// toolText is the text of a tool result's first content.
func toolText(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

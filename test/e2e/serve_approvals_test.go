package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
)

// TestServeApprovals (SPEC §10.1–10.3, §11.3): two gatehouse serve replicas share their state in a
// real redis-server. A refund over 500 is held; a human approves it through the other replica, with
// the gatehouse approvals CLI; the same call retried goes through once, and never reached the server
// before. Approvals are bound to the caller and single-use; a denial is answered. A client of the
// replica that waits gets progress notifications and then the server's answer once approved, or
// approval_denied. Every decision is in the audit log, which verifies.
func TestServeApprovals(t *testing.T) {
	redisSrv := redistest.Start(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "received.jsonl")
	policy := filepath.Join(dir, "rules.yaml")
	os.WriteFile(policy, []byte(refundApprovalRules), 0o644)
	const adminToken = "admin-token-for-approvals"
	tokenFile := filepath.Join(dir, "admin.token")
	os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600)
	sum := sha256.Sum256([]byte(adminToken))
	type replica struct{ gw, admin, cfg, audit string }
	newReplica := func(name, wait string) replica {
		r := replica{gw: freeAddr(t), admin: freeAddr(t), cfg: filepath.Join(dir, name+".yaml"), audit: filepath.Join(dir, name+"-audit.jsonl")}
		writeApprovalsServeConfig(t, r.cfg, r.gw, r.admin, sum, policy, r.audit, record, "state:\n  redis:\n    url: "+redisSrv.URL+"\napprovals:\n  wait: "+wait+"\n")
		return r
	}
	a, b := newReplica("a", "0s"), newReplica("b", "30s")
	_, stopA := startServe(t, a.cfg, a.gw)
	_, stopB := startServe(t, b.cfg, b.gw)

	// refund calls the refund tool through gw as key's caller and returns the answer's reason ("ok"
	// when answered), the approval id, and the text of a result.
	refund := func(gw, key string, amount int) (reason, approvalID, text string) {
		t.Helper()
		frames := modernFrames(t, "http://"+gw+"/mcp", key, map[string]any{"name": "refund", "arguments": map[string]any{"amount": amount}})
		return answerOf(t, frames[len(frames)-1])
	}
	approvals := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(gatehouseBin, append([]string{"approvals"}, args...)...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN=")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	refunds := func() (n int, amounts []string) {
		amounts = recordedRefunds(t, record)
		return len(amounts), amounts
	}
	expect := expecter(t)

	expect("alice's small refund through a", first(refund(a.gw, "alice-key", 100)), "ok")
	reason, x, _ := refund(a.gw, "alice-key", 900)
	expect("alice's refund of 900 through a", reason, "approval_required")
	if n, amounts := refunds(); n != 1 || amounts[0] != "100" {
		t.Fatalf("the server received %v before any approval", amounts)
	}

	// A human lists and approves it through replica b, with the CLI.
	out, code := approvals("list", "--status", "pending", "--admin", "http://"+b.admin)
	if code != 3 || !strings.Contains(out, "token") {
		t.Errorf("list without the admin token: exit %d\n%s", code, out)
	}
	out, code = approvals("list", "--status", "pending", "--admin", "http://"+b.admin, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, x) || !strings.Contains(out, "agent:alice") || !strings.Contains(out, "big-refund") {
		t.Fatalf("list through b: exit %d\n%s", code, out)
	}
	out, code = approvals("show", x, "--admin", "http://"+b.admin, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, `"arguments_preview": "{\"amount\":900}"`) || !strings.Contains(out, `"call_digest"`) {
		t.Errorf("show: exit %d\n%s", code, out)
	}
	out, code = approvals("approve", x, "--approver", "carol", "--note", "checked with billing", "--admin", "http://"+b.admin, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, "approved "+x) {
		t.Fatalf("approve through b: exit %d\n%s", code, out)
	}
	if out, code = approvals("approve", x, "--approver", "carol", "--admin", "http://"+b.admin, "--token-file", tokenFile); code != 1 {
		t.Errorf("a second approval of %s: exit %d, want 1\n%s", x, code, out)
	}

	expect("mallory's identical refund does not use alice's approval", first(refund(a.gw, "mallory-key", 900)), "approval_required")
	expect("alice's refund of 901 does not use it", first(refund(a.gw, "alice-key", 901)), "approval_required")
	reason, id, text := refund(a.gw, "alice-key", 900)
	if reason != "ok" || id != "" || text != "refunded 900" {
		t.Fatalf("alice's retry after the approval: %s %s %q", reason, id, text)
	}
	reason, y, _ := refund(a.gw, "alice-key", 900)
	if reason != "approval_required" || y == x {
		t.Fatalf("a second retry: %s %s, want a new hold (the approval is single-use)", reason, y)
	}
	if _, code = approvals("deny", y, "--approver", "carol", "--note", "once is enough", "--admin", "http://"+a.admin, "--token-file", tokenFile); code != 0 {
		t.Fatalf("deny through a: exit %d", code)
	}
	expect("alice's retry after the denial", first(refund(a.gw, "alice-key", 900)), "approval_denied")

	// Replica b holds the request open: progress, then the answer once approved through a's API.
	approveWhenPending := func(amount int, action string) {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			status, body := adminAs(t, a.admin, adminToken, "GET", "/admin/v1/approvals?status=pending", "")
			var list struct {
				Approvals []struct {
					ID, Caller string
					Arguments  string `json:"arguments_preview"`
				}
			}
			json.Unmarshal([]byte(body), &list)
			for _, ap := range list.Approvals {
				if status == 200 && ap.Caller == "agent:alice" && strings.Contains(ap.Arguments, fmt.Sprint(amount)) {
					if st, body := adminAs(t, a.admin, adminToken, "POST", "/admin/v1/approvals/"+action, `{"id":"`+ap.ID+`","approver":"dave"}`); st != 200 {
						t.Errorf("%s: %d %s", action, st, body)
					}
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("no pending approval of %d appeared", amount)
	}
	go approveWhenPending(700, "approve")
	frames := modernFrames(t, "http://"+b.gw+"/mcp", "alice-key", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 700},
		"_meta": map[string]any{"progressToken": "p-700"}})
	if len(frames) < 2 || frames[0]["method"] != "notifications/progress" || !strings.Contains(fmt.Sprint(frames[0]["params"]), "p-700") {
		t.Errorf("no progress notification before the answer: %v", frames)
	}
	if reason, _, text := answerOf(t, frames[len(frames)-1]); reason != "ok" || text != "refunded 700" {
		t.Errorf("the waiting call after approval: %s %q", reason, text)
	}
	go approveWhenPending(800, "deny")
	reason, _, _ = refund(b.gw, "alice-key", 800)
	expect("the waiting call after a denial", reason, "approval_denied")

	// A client that cancels its waiting request ends the wait; approved afterwards, nothing is sent.
	cancelled := make(chan string, 1)
	go func() {
		frames := modernFrames(t, "http://"+b.gw+"/mcp", "alice-key", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 650}})
		reason, _, _ := answerOf(t, frames[len(frames)-1])
		cancelled <- reason
	}()
	var pendingID string
	for deadline := time.Now().Add(10 * time.Second); pendingID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, body := adminAs(t, b.admin, adminToken, "GET", "/admin/v1/approvals?status=pending", "")
		if i := strings.Index(body, `"id":"apr_`); i >= 0 && strings.Contains(body, `650`) {
			pendingID = body[i+6 : i+6+strings.Index(body[i+6:], `"`)]
		}
	}
	if status := modernNotify(t, "http://"+b.gw+"/mcp", "alice-key", "notifications/cancelled", map[string]any{"requestId": 1, "reason": "changed my mind"}); status != http.StatusAccepted {
		t.Errorf("the cancellation: %d", status)
	}
	select {
	case reason := <-cancelled:
		expect("the cancelled waiting call", reason, "approval_timeout")
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling did not end the wait")
	}
	if st, body := adminAs(t, b.admin, adminToken, "POST", "/admin/v1/approvals/approve", `{"id":"`+pendingID+`","approver":"dave"}`); st != 200 {
		t.Errorf("approving the cancelled call's approval %q: %d %s", pendingID, st, body)
	}
	time.Sleep(200 * time.Millisecond)

	if _, amounts := refunds(); strings.Join(amounts, ",") != "100,900,700" {
		t.Errorf("the server received refunds %v, want 100,900,700: each approved call once, nothing held", amounts)
	}
	stopA()
	stopB()
	for _, r := range []replica{a, b} {
		if out, err := exec.Command(gatehouseBin, "verify", "--audit", r.audit).CombinedOutput(); err != nil {
			t.Errorf("verify %s: %v\n%s", r.audit, err, out)
		}
	}
	decided := map[string]string{}
	for _, r := range []replica{a, b} {
		for _, rec := range readAuditAll(t, r.audit) {
			if rec.Type == auditlog.TypeEvent && strings.HasPrefix(rec.Method, "admin/approvals.") {
				decided[rec.ApprovalID] = rec.Method + " by " + rec.User
			}
			if rec.Type == auditlog.TypeDecision && rec.ApprovalID == x && rec.Effect == "allow" && !strings.Contains(rec.Reason, "carol") {
				t.Errorf("the approved call's record does not name the approver: %+v", rec)
			}
		}
	}
	if decided[x] != "admin/approvals.approve by carol" || decided[y] != "admin/approvals.deny by carol" || len(decided) != 5 {
		t.Errorf("audited decisions: %v", decided)
	}
}

// refundApprovalRules hold refunds over 500 for a human and allow the others.
const refundApprovalRules = `
name: approvals
version: "1"
default_effect: deny
rules:
  - id: big-refund
    tools: [refund]
    when: {field: amount, op: gt, value: 500}
    effect: require_approval
    reason: refunds over 500 need a human
  - id: refunds
    tools: [refund]
    effect: allow
`

// writeApprovalsServeConfig writes a serve configuration at path for the approvals tests: the
// gateway on gw, its admin listener on admin with the token whose SHA-256 is tokenSum, the API keys
// "mallory-key" and "alice-key", the rules policy, the audit log auditPath, no threat scanner, the
// test peer recording what it receives in record, and extra YAML (top-level keys) appended.
func writeApprovalsServeConfig(t *testing.T, path, gw, admin string, tokenSum [32]byte, policy, auditPath, record, extra string) {
	t.Helper()
	writeKeyedServeConfigAdmin(t, path, gw, admin, "  token_sha256: "+hex.EncodeToString(tokenSum[:])+"\n", policy, auditPath,
		fmt.Sprintf("    env: [\"TESTPEER_RECORD=%s\"]\n", record)+extra)
}

// recordedRefunds are the amounts of the refunds the test peer recording in record received, as
// written.
func recordedRefunds(t *testing.T, record string) (amounts []string) {
	t.Helper()
	for _, line := range testpeer.Recorded(t, record) {
		if strings.Contains(line, `"refund"`) {
			var m struct {
				Params struct {
					Arguments struct{ Amount json.Number }
				}
			}
			json.Unmarshal([]byte(line), &m)
			amounts = append(amounts, m.Params.Arguments.Amount.String())
		}
	}
	return amounts
}

func first(reason, _, _ string) string { return reason }

// readAuditAll reads every record of an audit file: decisions, events and checkpoints.
func readAuditAll(t *testing.T, path string) []auditlog.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Record
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		r, err := auditlog.ParseLine(line)
		if err != nil {
			t.Fatalf("audit line: %v", err)
		}
		out = append(out, *r)
	}
	return out
}

// modernFrames sends a 2026-07-28 tools/call to url as key's caller and returns every message of the
// answer: the SSE stream's events in order, or the one JSON body.
func modernFrames(t *testing.T, url, key string, params map[string]any) []map[string]any {
	t.Helper()
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	if m, ok := params["_meta"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	params["_meta"] = meta
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", params["name"].(string))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raws []string
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.TrimSpace(d) != "" {
				raws = append(raws, d)
			}
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		raws = append(raws, string(b))
	}
	var frames []map[string]any
	for _, r := range raws {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatalf("answer %q: %v", r, err)
		}
		frames = append(frames, m)
	}
	if len(frames) == 0 {
		t.Fatalf("no answer (status %d)", resp.StatusCode)
	}
	return frames
}

// modernNotify sends a 2026-07-28 notification to url as key's caller and returns the HTTP status.
func modernNotify(t *testing.T, url, key, method string, params map[string]any) int {
	t.Helper()
	params["_meta"] = map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// answerOf reads an answer: its refusal's reason and approval id, or "ok" and the result's text.
func answerOf(t *testing.T, m map[string]any) (reason, approvalID, text string) {
	t.Helper()
	if e, ok := m["error"].(map[string]any); ok {
		d, _ := e["data"].(map[string]any)
		reason, _ = d["reason"].(string)
		approvalID, _ = d["approval_id"].(string)
		return reason, approvalID, ""
	}
	return "ok", "", firstText(m)
}

// adminAs sends a request to the admin listener at addr, with the bearer token when not empty.
func adminAs(t *testing.T, addr, token, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

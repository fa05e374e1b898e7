package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestApprovalsCommand drives gatehouse approvals against a stand-in admin API: the token travels
// as a bearer token, a decision posts the approver and note, the answers map to exit codes, and
// what an agent chose (a tool name) cannot put control or bidi characters on the terminal.
func TestApprovalsCommand(t *testing.T) {
	approval := map[string]any{"id": "apr_1", "status": "pending", "method": "tools/call", "tool": "refund\u202e\u009b31m\ufe0f\u3164\u2800\U000e0100",
		"caller": "agent:a1", "params": `{"to":"acct\u202e"}`, "created": "2026-11-21T10:00:00Z", "expires": "2026-11-21T11:00:00Z"}
	var posted map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"admin token required"}`))
			return
		}
		switch r.URL.Path {
		case "/admin/v1/approvals":
			json.NewEncoder(w).Encode(map[string]any{"approvals": []any{approval}})
		case "/admin/v1/approvals/apr_1":
			json.NewEncoder(w).Encode(approval)
		case "/admin/v1/approvals/approve":
			json.NewDecoder(r.Body).Decode(&posted)
			done := map[string]any{}
			for k, v := range approval {
				done[k] = v
			}
			done["status"], done["approver"] = "approved", posted["approver"]
			json.NewEncoder(w).Encode(done)
		default:
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"the approval is denied, not pending"}`))
		}
	}))
	defer srv.Close()
	env := []string{"GATEHOUSE_ADMIN_URL=" + srv.URL, "GATEHOUSE_ADMIN_TOKEN=tok", "USER=carol"}

	code, out, errOut := gatehouseEnv(t, env, "approvals", "list")
	if code != 0 || !strings.Contains(out, "apr_1") || !strings.Contains(out, "refund??31m????") || strings.ContainsAny(out, "\u202e\u009b\ufe0f") {
		t.Errorf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = gatehouseEnv(t, env, "approvals", "show", "apr_1")
	if code != 0 || strings.ContainsAny(out, "\u202e\u009b\u3164\u2800\U000e0100") || !strings.Contains(out, `\u202e\u009b31m\ufe0f\u3164\u2800\udb40\udd00`) {
		t.Errorf("show prints raw control characters, or nothing: exit %d\n%q", code, out)
	}
	code, out, _ = gatehouseEnv(t, env, "approvals", "approve", "apr_1", "--note", "ok")
	if code != 0 || posted["approver"] != "carol" || posted["note"] != "ok" || posted["id"] != "apr_1" || !strings.HasPrefix(out, "approved apr_1") {
		t.Errorf("approve: exit %d, posted %v\n%s", code, posted, out)
	}
	if code, _, errOut = gatehouseEnv(t, env, "approvals", "deny", "apr_1", "--approver", "x"); code != ExitProblem || !strings.Contains(errOut, "not pending") {
		t.Errorf("deny of a decided approval: exit %d %s", code, errOut)
	}
	if code, _, errOut = gatehouseEnv(t, []string{"GATEHOUSE_ADMIN_URL=" + srv.URL}, "approvals", "list"); code != ExitRuntime || !strings.Contains(errOut, "token") {
		t.Errorf("without the token: exit %d %s", code, errOut)
	}
	if code, _, _ = gatehouseEnv(t, []string{"GATEHOUSE_ADMIN_URL=" + srv.URL, "GATEHOUSE_ADMIN_TOKEN=tok"}, "approvals", "approve", "apr_1"); code != ExitUsage {
		t.Errorf("no --approver and no $USER: exit %d, want %d", code, ExitUsage)
	}
	if code, _, _ = gatehouseEnv(t, env, "approvals", "list", "--admin", "ftp://x"); code != ExitUsage {
		t.Errorf("a bad admin URL: exit %d", code)
	}
}

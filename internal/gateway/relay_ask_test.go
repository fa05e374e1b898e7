package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// elicitingMeta is the _meta of a 2026-07-28 request from a client that declares form elicitation.
var elicitingMeta = map[string]any{
	"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
	"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
}

// askOf returns the requestState and the elicitation message of an input_required answer, failing
// the test if r is not one that asks through gatehouse's elicitation.
func askOf(t *testing.T, r map[string]any) (requestState, message string) {
	t.Helper()
	result, _ := r["result"].(map[string]any)
	requests, _ := result["inputRequests"].(map[string]any)
	ask, _ := requests["gatehouse/approval"].(map[string]any)
	params, _ := ask["params"].(map[string]any)
	requestState, _ = result["requestState"].(string)
	message, _ = params["message"].(string)
	if result["resultType"] != "input_required" || ask["method"] != "elicitation/create" || params["mode"] != "form" ||
		!strings.HasPrefix(requestState, "gatehouse.hold.v1.") || message == "" || len(requests) != 1 {
		t.Fatalf("not an input_required answer asking through gatehouse's elicitation: %v", r)
	}
	return requestState, message
}

// TestRelayAsksModernClientToRetryHold (SPEC §10.2): a held 2026-07-28 call whose client declares
// form elicitation is answered with an input_required result that asks its human to retry; the
// retry carries gatehouse's requestState, which is taken off (the server's own state of an earlier
// round put back) before the call is decided again, so it matches its approval: pending, it is asked
// again; declined, it is refused and the approval left unused; accepted once approved, the server
// gets the held call exactly, without gatehouse's state. Other clients get the approval_required
// error, and a state that does not decode is refused.
func TestRelayAsksModernClientToRetryHold(t *testing.T) {
	store := state.NewMemory(nil)
	h := newHarness(t, setup{policy: approvalPolicy, agent: "a1", store: store})
	ctx := context.Background()
	held := map[string]any{"name": "refund", "arguments": map[string]any{"amount": 900}, "_meta": elicitingMeta,
		"requestState": "server-round-1", "inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"ok": true}}}}

	requestState, message := askOf(t, h.request(1, "tools/call", held))
	a := pendingApproval(t, store, 900)
	if !strings.Contains(message, a.ID) || !strings.Contains(message, "refunds over 500 need a human") || !strings.Contains(message, "tools/call refund") {
		t.Errorf("the elicitation's message does not say what waits for whom: %q", message)
	}
	retry := func(id int, action string) map[string]any {
		t.Helper()
		return h.request(id, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 900}, "_meta": elicitingMeta,
			"requestState": requestState, "inputResponses": map[string]any{"gatehouse/approval": map[string]any{"action": action}}})
	}
	status := func(id string) string {
		got, _ := store.Approval(ctx, id)
		return got.Status
	}
	declined := func(id int, approvalID, how string) {
		t.Helper()
		r := retry(id, "decline")
		data := errorData(t, r)
		if data["reason"] != "approval_required" || data["approval_id"] != approvalID || !strings.Contains(data["detail"].(string), "declined") ||
			!strings.Contains(data["detail"].(string), how) {
			t.Errorf("a declined retry: %v", r)
		}
		if h.received(`"amount":900`) {
			t.Fatal("a declined retry reached the server")
		}
	}

	// Pending: the accepted retry is asked again, for the same approval.
	if again, _ := askOf(t, retry(2, "accept")); again != requestState {
		t.Errorf("asked again with another state: %q, want %q", again, requestState)
	}
	if all, _ := store.Approvals(ctx); len(all) != 1 || h.received(`"amount":900`) {
		t.Fatalf("the retry opened another approval (%d kept) or reached the server", len(all))
	}

	// Declined while pending: the approval is withdrawn, denied with the caller as approver; the
	// next retry gets that denial, once, and the one after it is held anew.
	declined(3, a.ID, "withdrawn")
	if got, _ := store.Approval(ctx, a.ID); got.Status != state.ApprovalDenied || got.Approver != "agent:a1" || !strings.Contains(got.Note, "withdrawn") {
		t.Errorf("the approval after a decline: %+v", got)
	}
	if data := errorData(t, retry(4, "accept")); data["reason"] != "approval_denied" {
		t.Errorf("the retry after a withdrawal: %v", data)
	}
	requestState, _ = askOf(t, retry(5, "accept"))
	b := pendingApproval(t, store, 900)

	// Declined once granted: the approval is used up, and the call still not forwarded.
	store.DecideApproval(ctx, b.ID, true, "alice", "fine")
	declined(6, b.ID, "used up")
	if status(b.ID) != state.ApprovalUsed {
		t.Errorf("a granted approval after a declined retry: %s, want used", status(b.ID))
	}

	// Accepted once granted: the server gets the held call, its own state back and gatehouse's gone.
	requestState, _ = askOf(t, retry(7, "accept"))
	c := pendingApproval(t, store, 900)
	if _, err := store.DecideApproval(ctx, c.ID, true, "alice", "fine"); err != nil {
		t.Fatal(err)
	}
	r := retry(8, "accept")
	if text := resultText(t, r); text != "refunded 900" {
		t.Fatalf("the accepted retry once approved: %v", r)
	}
	var forwarded string
	for _, line := range h.recorded() {
		if strings.Contains(line, `"amount":900`) {
			forwarded = line
		}
	}
	var frame struct {
		Params map[string]json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal([]byte(forwarded), &frame); err != nil {
		t.Fatalf("the server received %q: %v", forwarded, err)
	}
	if string(frame.Params["requestState"]) != `"server-round-1"` || string(frame.Params["inputResponses"]) != `{"confirm":{"action":"accept","content":{"ok":true}}}` ||
		strings.Contains(forwarded, "gatehouse.hold") || strings.Contains(forwarded, "gatehouse/approval") {
		t.Errorf("the server did not get the held call as it was: %s", forwarded)
	}
	if status(c.ID) != state.ApprovalUsed {
		t.Errorf("the approval after the retry went through: %s", status(c.ID))
	}

	// A declined retry whose state names the approval of another call withdraws nothing.
	askOf(t, h.request(9, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 905}, "_meta": elicitingMeta}))
	d := pendingApproval(t, store, 905)
	forged := "gatehouse.hold.v1." + base64.RawURLEncoding.EncodeToString([]byte(`{"approval":"`+d.ID+`"}`))
	r = h.request(20, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 906}, "_meta": elicitingMeta,
		"requestState": forged, "inputResponses": map[string]any{"gatehouse/approval": map[string]any{"action": "decline"}}})
	if data := errorData(t, r); data["reason"] != "approval_required" || data["approval_id"] != nil || status(d.ID) != state.ApprovalPending {
		t.Errorf("a decline naming another call's approval: %v; that approval is %s", r, status(d.ID))
	}
	// A client that does not declare elicitation, and a legacy request, get the error.
	plain := map[string]any{"name": "refund", "arguments": map[string]any{"amount": 901},
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}
	if data := errorData(t, h.request(5, "tools/call", plain)); data["reason"] != "approval_required" {
		t.Errorf("a client without elicitation: %v", data)
	}
	urlOnly := map[string]any{"name": "refund", "arguments": map[string]any{"amount": 902},
		"_meta": map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{"url": map[string]any{}}}}}
	if data := errorData(t, h.request(6, "tools/call", urlOnly)); data["reason"] != "approval_required" {
		t.Errorf("a client with URL elicitation only: %v", data)
	}
	if data := errorData(t, h.call(7, "refund", map[string]any{"amount": 903})); data["reason"] != "approval_required" {
		t.Errorf("a legacy request: %v", data)
	}

	// A state of gatehouse's that does not decode is refused; one with nothing to restore ("{}") is
	// read, and the call held. Nothing is forwarded.
	for id, bad := range []string{"gatehouse.hold.v1.!!!", "gatehouse.hold.v1.eyJhIjoxfQ", "gatehouse.hold.v1.eyJhcHByb3ZhbCI6MX0"} {
		r := h.request(10+id, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 904}, "_meta": elicitingMeta, "requestState": bad})
		if data := errorData(t, r); data["reason"] != "malformed_message" {
			t.Errorf("requestState %q: %v", bad, r)
		}
	}
	askOf(t, h.request(13, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 904}, "_meta": elicitingMeta, "requestState": "gatehouse.hold.v1.e30"}))
	if h.received(`"amount":904`) {
		t.Error("a call with a bad state reached the server")
	}

	// The input_required answers are audited as held calls, with their approval.
	asked := 0
	for _, rec := range h.auditOf("decision") {
		if rec.ApprovalID == a.ID && rec.Code == "approval_required" && rec.Status == "refused" && strings.Contains(rec.ResultPreview, "input_required") {
			asked++
		}
	}
	if asked != 2 {
		t.Errorf("%d audited input_required answers for %s, want 2", asked, a.ID)
	}
}

// TestRelayAsksAfterWait: with approvals.wait, a held 2026-07-28 call that nobody decides in time is
// answered input_required (its code approval_timeout) rather than the approval_timeout error.
func TestRelayAsksAfterWait(t *testing.T) {
	store := state.NewMemory(nil)
	h := newHarness(t, setup{policy: approvalPolicy, agent: "a1", store: store, opts: func(o *Options) {
		o.Approvals = approval.Options{Wait: 50 * time.Millisecond, Poll: 5 * time.Millisecond}
	}})
	start := time.Now()
	_, message := askOf(t, h.request(1, "tools/call", map[string]any{"name": "refund", "arguments": map[string]any{"amount": 900}, "_meta": elicitingMeta}))
	if time.Since(start) < 50*time.Millisecond || !strings.Contains(message, "no decision within") {
		t.Errorf("asked after %s: %q", time.Since(start), message)
	}
	for _, rec := range h.auditOf("decision") {
		if rec.Code == "approval_timeout" && strings.Contains(rec.ResultPreview, "input_required") {
			return
		}
	}
	t.Error("no audited approval_timeout answered input_required")
}

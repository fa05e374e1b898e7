package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

const approvalPolicy = `
name: approvals
version: "1"
default_effect: allow
rules:
  - id: big-refund
    tools: [refund]
    when: {field: amount, op: gt, value: 500}
    effect: require_approval
    reason: refunds over 500 need a human
`

// pendingApproval waits for the one pending approval of the call with amount in store.
func pendingApproval(t *testing.T, store state.Store, amount int) state.Approval {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		all, _ := store.Approvals(context.Background())
		for _, a := range all {
			if a.Status == state.ApprovalPending && strings.Contains(a.Arguments, fmt.Sprint(amount)) {
				return a
			}
		}
	}
	t.Fatalf("no pending approval of %d", amount)
	return state.Approval{}
}

// TestRelayWaitsForApproval: under gatehouse run with approvals.wait, a held call waits on a
// goroutine of its own: the client's other calls are answered meanwhile; progress reaches a client
// that asked for it; once approved the call reaches the server and its answer the client; a call the
// client cancels is never answered nor forwarded; a client that hangs up ends every wait.
func TestRelayWaitsForApproval(t *testing.T) {
	store := state.NewMemory(nil)
	h := newHarness(t, setup{policy: approvalPolicy, agent: "a1", store: store, opts: func(o *Options) {
		o.Approvals = approval.Options{Wait: 30 * time.Second, Poll: 5 * time.Millisecond}
	}})
	h.initialize()
	ctx := context.Background()

	h.send(`{"jsonrpc":"2.0","id":"held","method":"tools/call","params":{"name":"refund","arguments":{"amount":900},"_meta":{"progressToken":"tok"}}}`)
	a := pendingApproval(t, store, 900)
	if r := h.call("other", "echo", map[string]any{"message": "meanwhile"}); r["result"] == nil {
		t.Fatalf("a call behind the held one: %v", r)
	}
	if h.received(`"amount":900`) {
		t.Fatal("the held call reached the server before any approval")
	}
	if _, err := store.DecideApproval(ctx, a.ID, true, "alice", "fine"); err != nil {
		t.Fatal(err)
	}
	r := h.await("held")
	if r["result"] == nil || !h.received(`"amount":900`) {
		t.Fatalf("the held call after approval: %v", r)
	}
	progressed := false
	for _, f := range h.extra {
		if f["method"] == "notifications/progress" && strings.Contains(fmt.Sprint(f["params"]), "tok") && strings.Contains(fmt.Sprint(f["params"]), a.ID) {
			progressed = true
		}
	}
	if !progressed {
		t.Errorf("no progress notification naming %s: %v", a.ID, h.extra)
	}

	// A duplicate id of a waiting request is refused; a cancelled one gets no answer.
	h.send(`{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"refund","arguments":{"amount":700}}}`)
	b := pendingApproval(t, store, 700)
	if r := h.call("c", "echo", map[string]any{"message": "dup"}); r["error"] == nil {
		t.Errorf("a request reusing a waiting request's id: %v", r)
	}
	h.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c","reason":"user gave up"}}`)
	if r := h.call("after", "echo", map[string]any{"message": "x"}); r["result"] == nil {
		t.Fatalf("after the cancel: %v", r)
	}
	store.DecideApproval(ctx, b.ID, true, "alice", "")
	time.Sleep(100 * time.Millisecond)
	for _, f := range h.extra {
		if fmt.Sprint(f["id"]) == "c" && f["method"] == nil && f["error"] == nil {
			t.Errorf("the cancelled request was answered: %v", f)
		}
	}
	if h.received(`"amount":700`) || h.received(`notifications/cancelled`) {
		t.Error("the cancelled held call, or its cancellation, reached the server")
	}

	// Hanging up ends a wait: the relay stops, and the held call is audited as refused.
	h.send(`{"jsonrpc":"2.0","id":"gone","method":"tools/call","params":{"name":"refund","arguments":{"amount":800}}}`)
	pendingApproval(t, store, 800)
	start := time.Now()
	h.close()
	if time.Since(start) > 5*time.Second {
		t.Errorf("hanging up took %s with a call waiting", time.Since(start))
	}
	// Each hold is on record before its wait, then how it ended, under a decision id of its own.
	var codes []string
	ids := map[string]bool{}
	for _, rec := range h.auditOf("decision") {
		if rec.Tool == "refund" {
			codes = append(codes, rec.Status+":"+rec.Effect+"/"+rec.Code)
			ids[rec.DecisionID] = true
			if rec.ApprovalID == "" {
				t.Errorf("a refund record without its approval id: %+v", rec)
			}
		}
	}
	want := "held:require_approval/approval_required answered:allow/ " +
		"held:require_approval/approval_required refused:require_approval/approval_timeout " +
		"held:require_approval/approval_required refused:require_approval/approval_timeout"
	if strings.Join(codes, " ") != want || len(ids) != 6 {
		t.Errorf("refund records: %v (%d decision ids), want %s", codes, len(ids), want)
	}
	if !ids[a.DecisionID] {
		t.Errorf("the approval names decision %s, which no record has", a.DecisionID)
	}
}

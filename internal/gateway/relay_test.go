package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

const testPolicy = `
name: relay-test
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, server/discover, tools/list, prompts/list, resources/list, resources/read]
    effect: allow
  - id: kill-on-drop
    tools: [admin.drop]
    effect: kill_session
    reason: dropping is forbidden
  - id: hold-backup
    tools: [database.backup]
    effect: require_approval
    reason: backups need a human
  - id: redact-secret-echo
    tools: [echo]
    when: {field: message, op: startswith, value: "secret:"}
    effect: redact
    redact_fields: [message]
  - id: small-refunds
    tools: [refund]
    when: {field: amount, op: lt, value: 500}
    effect: allow
    budget: {field: amount, limit: 2000, scope: session}
  - id: safe-tools
    tools: [echo, add, slow, crash, hang, noise, ansi, sample, flood, notify, big, secret_result]
    effect: allow
  - id: redact-ssn
    phase: response
    tools: [secret_result]
    effect: redact
    redact_fields: [structuredContent.ssn]
`

func TestAllowedCallPassesByteForByte(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	// Odd whitespace and key order must reach the upstream exactly as sent.
	line := `{ "params" : {"arguments":{"message":"hi"},  "name":"echo"}, "method":"tools/call","id":7,"jsonrpc":"2.0"}`
	h.send(line)
	resp := h.await(7)
	if got := resultText(t, resp); got != "Echo: hi" {
		t.Errorf("result = %q, want %q", got, "Echo: hi")
	}
	var found bool
	for _, l := range h.recorded() {
		if l == line {
			found = true
		}
	}
	if !found {
		t.Errorf("upstream did not receive the frame byte for byte; it received:\n%s", strings.Join(h.recorded(), "\n"))
	}
	recs := h.auditRecords()
	last := recs[len(recs)-1]
	if last.Method != "tools/call" || last.Tool != "echo" || last.Effect != "allow" || last.RuleID != "safe-tools" || last.Status != "answered" || last.CallID != "7" {
		t.Errorf("audit record = %+v", last)
	}
	if !strings.Contains(last.ResultPreview, "Echo: hi") || !strings.Contains(last.ArgsPreview, `"message":"hi"`) {
		t.Errorf("previews = %q / %q", last.ArgsPreview, last.ResultPreview)
	}
}

func TestDeniedCallNeverReachesUpstream(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	resp := h.call(1, "temp.convert", map[string]any{"temp": -500, "marker": "DENIED-MARKER"})
	d := errorData(t, resp)
	if d["reason"] != "policy_deny" || d["decision_id"] == "" {
		t.Errorf("error data = %v, want reason policy_deny and a decision_id", d)
	}
	if code := resp["error"].(map[string]any)["code"]; code != float64(-32001) {
		t.Errorf("error code = %v, want -32001", code)
	}
	// Prove ordering: a later allowed call has arrived, so the denied one would have too.
	h.call(2, "echo", map[string]any{"message": "after"})
	if h.received("DENIED-MARKER") {
		t.Fatal("the upstream received a denied call")
	}
	recs := h.auditRecords()
	var denied bool
	for _, r := range recs {
		if r.Tool == "temp.convert" {
			denied = r.Effect == "deny" && r.Code == "policy_deny" && r.Status == "refused" && r.DecisionID == d["decision_id"]
		}
	}
	if !denied {
		t.Errorf("no matching deny record in %+v", recs)
	}
}

func TestRedactBeforeUpstream(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	resp := h.call(1, "echo", map[string]any{"message": "secret:hunter2"})
	if got := resultText(t, resp); got != "Echo: [REDACTED]" {
		t.Errorf("result = %q, want the upstream to have echoed the redacted value", got)
	}
	if h.received("hunter2") {
		t.Fatal("the secret reached the upstream")
	}
	for _, r := range h.auditRecords() {
		if strings.Contains(r.ArgsPreview, "hunter2") {
			t.Errorf("audit record kept the redacted secret: %q", r.ArgsPreview)
		}
	}
}

func TestBudgetDeniesTheCrossingCall(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	for i, amount := range []float64{450, 450, 450, 450} { // 1800
		if r := h.call(i+1, "refund", map[string]any{"amount": amount}); r["result"] == nil {
			t.Fatalf("refund %d of %v refused: %v", i+1, amount, r)
		}
	}
	resp := h.call(10, "refund", map[string]any{"amount": 201, "marker": "CROSSING"})
	if d := errorData(t, resp); d["reason"] != "budget_exceeded" || d["rule_id"] != "small-refunds" {
		t.Errorf("crossing refund: %v, want budget_exceeded by small-refunds", d)
	}
	if h.received("CROSSING") {
		t.Fatal("the call that crossed the budget reached the upstream")
	}
	if r := h.call(11, "refund", map[string]any{"amount": 200}); r["result"] == nil {
		t.Errorf("a refund that fits the remaining budget was refused: %v", r)
	}
	if d := errorData(t, h.call(12, "refund", map[string]any{"amount": 500})); d["reason"] != "policy_deny" {
		t.Errorf("refund of 500: %v, want policy_deny (over the per-call limit)", d)
	}
	if d := errorData(t, h.call(13, "refund", map[string]any{"amount": -1000})); d["reason"] != "validation_failed" {
		t.Errorf("negative refund: %v, want validation_failed (it would refill the budget)", d)
	}
}

func TestHeldCallIsRefusedWithApprovalID(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	d := errorData(t, h.call(1, "database.backup", map[string]any{}))
	if d["reason"] != "approval_required" || !strings.HasPrefix(d["approval_id"].(string), "apr_") {
		t.Errorf("held call: %v", d)
	}
	if h.received("database.backup") {
		t.Fatal("a held call reached the upstream")
	}
}

func TestKillSessionRefusesEverythingAfter(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	if d := errorData(t, h.call(1, "admin.drop", map[string]any{})); d["reason"] != "session_killed" {
		t.Fatalf("kill rule: %v, want session_killed", d)
	}
	if d := errorData(t, h.call(2, "echo", map[string]any{"message": "AFTER-KILL"})); d["reason"] != "session_killed" {
		t.Errorf("call after the kill: %v, want session_killed", d)
	}
	if d := errorData(t, h.request(3, "tools/list", nil)); d["reason"] != "session_killed" {
		t.Errorf("list after the kill: %v, want session_killed", d)
	}
	if h.received("AFTER-KILL") || h.received("admin.drop") {
		t.Fatal("a killed session's call reached the upstream")
	}
}

func TestListsAreFilteredToWhatMayBeCalled(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	resp := h.request(1, "tools/list", nil)
	var names []string
	for _, tool := range resp["result"].(map[string]any)["tools"].([]any) {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	got := strings.Join(names, ",")
	for _, hidden := range []string{"temp.convert", "admin.drop"} {
		if strings.Contains(got, hidden) {
			t.Errorf("tools/list shows %s, which the policy denies: %s", hidden, got)
		}
	}
	for _, shown := range []string{"echo", "refund", "database.backup"} {
		if !strings.Contains(got, shown) {
			t.Errorf("tools/list hides %s, which may be called (or approved): %s", shown, got)
		}
	}
}

func TestMonitorModeAllowsAndLogsWouldDeny(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy, mode: pipeline.ModeMonitor})
	h.initialize()
	if resp := h.call(1, "temp.convert", map[string]any{"temp": 1}); resp["result"] == nil {
		t.Fatalf("monitor mode refused a call: %v", resp)
	}
	if !h.received("temp.convert") {
		t.Error("monitor mode did not forward the call")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"would_deny"`) {
		t.Errorf("no would_deny at WARN in the log:\n%s", logs)
	}
	var found bool
	for _, r := range h.auditRecords() {
		if r.Tool == "temp.convert" {
			found = r.Effect == "allow" && r.WouldEffect == "deny" && r.Mode == "monitor"
		}
	}
	if !found {
		t.Error("audit record does not show effect allow with would_effect deny")
	}
}

func TestResponsePhaseRedactsResult(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	resp := h.call(1, "secret_result", nil)
	b, _ := json.Marshal(resp)
	if strings.Contains(string(b), "123-45-6789") || !strings.Contains(string(b), `"ssn":"[REDACTED]"`) {
		t.Errorf("result was not redacted: %s", b)
	}
	for _, r := range h.auditRecords() {
		if strings.Contains(r.ResultPreview, "123-45-6789") {
			t.Errorf("audit kept the redacted result value: %s", r.ResultPreview)
		}
		if r.Tool == "secret_result" && (r.ResponseEffect != "redact" || r.ResponseRuleID != "redact-ssn") {
			t.Errorf("record = %+v, want response_effect redact by redact-ssn", r)
		}
	}
}

func TestResponsesMatchedByIDNotOrder(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow","arguments":{"ms":400}}}`)
	h.send(`{"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"echo","arguments":{"message":"quick"}}}`)
	first := h.read()
	if first["id"] != "fast" {
		t.Fatalf("first answer = %v, want the fast call's (the upstream answers out of order)", first)
	}
	if got := resultText(t, h.await("slow")); got != "slept 400ms" {
		t.Errorf("slow result = %q", got)
	}
}

func TestCrashedUpstreamIsRestartedAndReinitialized(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	start := time.Now()
	d := errorData(t, h.call(1, "crash", nil))
	if d["reason"] != "upstream_unavailable" {
		t.Fatalf("crash: %v, want upstream_unavailable", d)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("crash answered after %v", time.Since(start))
	}
	var resp map[string]any
	for i := 0; i < 100; i++ { // until the restart (backoff 20ms) and re-initialization are done
		resp = h.call(100+i, "echo", map[string]any{"message": "back"})
		if resp["result"] != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := resultText(t, resp); got != "Echo: back" {
		t.Fatalf("after restart: %v", resp)
	}
	if n := testpeer.Starts(t, h.starts); n != 2 {
		t.Errorf("upstream started %d times, want 2", n)
	}
	inits := 0
	for _, l := range h.recorded() {
		if strings.Contains(l, `"method":"initialize"`) {
			inits++
		}
	}
	if inits != 2 {
		t.Errorf("upstream saw %d initialize requests, want 2 (the client's and the replay)", inits)
	}
}

func TestHungUpstreamIsKilledWithinBoundedTime(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy, opts: func(o *Options) {
		o.HangAfter, o.PingTimeout = 200*time.Millisecond, 200*time.Millisecond
	}})
	h.initialize()
	start := time.Now()
	d := errorData(t, h.call(1, "hang", nil))
	if d["reason"] != "upstream_unavailable" {
		t.Fatalf("hang: %v, want upstream_unavailable", d)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("hung call answered after %v, want within ~0.5s", el)
	}
	var resp map[string]any
	for i := 0; i < 100; i++ {
		resp = h.call(100+i, "echo", map[string]any{"message": "alive"})
		if resp["result"] != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp["result"] == nil {
		t.Fatalf("upstream did not come back: %v", resp)
	}
}

func TestRequestTimeoutCancelsUpstream(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy, opts: func(o *Options) { o.RequestTimeout = 300 * time.Millisecond }})
	h.initialize()
	d := errorData(t, h.call(1, "slow", map[string]any{"ms": 3000}))
	if d["reason"] != "upstream_unavailable" || !strings.Contains(d["detail"].(string), "did not answer within") {
		t.Errorf("timeout: %v", d)
	}
	time.Sleep(100 * time.Millisecond)
	if !h.received(`"method":"notifications/cancelled","params":{"requestId":1`) {
		t.Error("the upstream was not told to cancel the timed-out request")
	}
}

func TestNoiseOnUpstreamStdoutIsSkipped(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy, env: []string{"TESTPEER_BANNER=1"}})
	h.initialize()
	if got := resultText(t, h.call(1, "noise", nil)); got != "after noise" {
		t.Errorf("result = %q", got)
	}
	if !strings.Contains(h.logs.String(), "skipping non-MCP output from upstream") {
		t.Error("noise was not logged")
	}
}

// A server's requests waiting for the client's answer are bounded: beyond maxServerRequests the
// server is answered with an error, and the client is not sent them.
func TestServerRequestsWaitingForTheClientAreBounded(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	extra := 7
	h.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"flood","arguments":{"requests":%d}}}`, maxServerRequests+extra))
	for i := range maxServerRequests {
		if req := h.read(); req["method"] != "sampling/createMessage" {
			t.Fatalf("message %d: %v, want a sampling request", i, req)
		}
	}
	if got := resultText(t, h.await(5)); got != fmt.Sprintf("refused %d", extra) {
		t.Errorf("flood result %q, want %d refused", got, extra)
	}
	if !strings.Contains(h.logs.String(), "too many are waiting") {
		t.Error("the refusals were not logged")
	}
}

func TestServerToClientRequestAndNotificationsRelayed(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"sample","arguments":{}}}`)
	req := h.read()
	if req["method"] != "sampling/createMessage" {
		t.Fatalf("expected the server's sampling request, got %v", req)
	}
	ans, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req["id"], "result": map[string]any{"model": "m", "role": "assistant", "content": map[string]any{"type": "text", "text": "sampled"}}})
	h.send(string(ans))
	if got := resultText(t, h.await(5)); !strings.Contains(got, "sampled") {
		t.Errorf("result = %q, want the client's sampling answer", got)
	}
	h.send(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"notify","arguments":{}}}`)
	note := h.read()
	if note["method"] != "notifications/message" {
		t.Errorf("expected notifications/message before the result, got %v", note)
	}
	h.await(6)
	// A response to a request the server never sent is dropped, not forwarded.
	h.send(`{"jsonrpc":"2.0","id":"forged","result":{"x":"FORGED"}}`)
	h.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99,"reason":"CANCEL-MARK"}}`)
	h.call(7, "echo", map[string]any{"message": "sync"})
	if h.received("FORGED") {
		t.Error("a forged client response reached the upstream")
	}
	if !h.received("CANCEL-MARK") {
		t.Error("notifications/cancelled was not forwarded")
	}
}

func TestBadClientInputIsRefusedAndGatewayLives(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy, maxBytes: 4096, maxTokens: 1000})
	h.initialize()
	tests := []struct {
		name, line, id, reason string
		code                   float64
	}{
		{"duplicate key", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"temp.convert","arguments":{"message":"DUP"}}}`, "1", "malformed_message", -32700},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","n\u0061me":"x","arguments":{"message":"DUP2"}}}`, "2", "malformed_message", -32700},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"UTF\xff\"}}}", "3", "malformed_message", -32700},
		{"too deep", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"message":"DEEP","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}}`, "4", "malformed_message", -32700},
		{"oversize", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"message":"BIG` + strings.Repeat("x", 5000) + `"}}}`, "5", "payload_too_large", -32010},
		{"too many tokens", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"message":"MANY","x":[` + strings.Repeat("0,", 1000) + `0]}}}`, "8", "payload_too_large", -32010},
		{"not json", `this is not json`, "<nil>", "malformed_message", -32700},
		{"batch", `[{"jsonrpc":"2.0","id":6,"method":"ping"}]`, "<nil>", "malformed_message", -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.send(tt.line)
			var resp map[string]any
			for {
				resp = h.read()
				if _, isMsg := resp["method"]; !isMsg {
					break
				}
			}
			if got := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(jsonString(resp["id"])), `"`), `"`); got != tt.id && !(tt.id == "<nil>" && resp["id"] == nil) {
				t.Errorf("id = %v, want %s", resp["id"], tt.id)
			}
			d := errorData(t, resp)
			if d["reason"] != tt.reason || resp["error"].(map[string]any)["code"] != tt.code {
				t.Errorf("error = %v, want reason %s code %v", resp["error"], tt.reason, tt.code)
			}
		})
	}
	if got := resultText(t, h.call(9, "echo", map[string]any{"message": "still alive"})); got != "Echo: still alive" {
		t.Errorf("gateway not alive after bad input: %q", got)
	}
	for _, mark := range []string{"DUP", "UTF", "DEEP", "BIG", "MANY"} {
		if h.received(mark) {
			t.Errorf("a refused frame (%s) reached the upstream", mark)
		}
	}
	malformed := 0
	for _, r := range h.auditRecords() {
		if r.Status == "malformed" {
			malformed++
		}
	}
	if malformed != len(tests) {
		t.Errorf("%d malformed frames audited, want %d", malformed, len(tests))
	}
}

// TestUpstreamAnswerOverTokenLimit: an answer holding more tokens than the limit fails its call with
// payload_too_large, none of it relayed or decoded, and the session goes on.
func TestUpstreamAnswerOverTokenLimit(t *testing.T) {
	h := newHarness(t, setup{policy: "name: t\nversion: \"1\"\ndefault_effect: allow\nrules: []\n", maxTokens: 1000})
	h.initialize()
	resp := h.call(1, "many", map[string]any{"tokens": 2000})
	d := errorData(t, resp)
	if d["reason"] != "payload_too_large" || resp["error"].(map[string]any)["code"] != -32010.0 {
		t.Fatalf("answer of 2,000+ tokens: %v, want payload_too_large", resp)
	}
	if !strings.Contains(jsonString(resp), "more JSON tokens than the limit of 1000") {
		t.Errorf("the error does not say which limit: %v", resp)
	}
	if got := resultText(t, h.call(2, "many", map[string]any{"tokens": 900})); got != "many" {
		t.Errorf("answer under the limit: %q", got)
	}
	if got := resultText(t, h.call(3, "echo", map[string]any{"message": "still alive"})); got != "Echo: still alive" {
		t.Errorf("after the refused answer: %q", got)
	}
	statuses := map[string]int{}
	for _, r := range h.auditRecords() {
		if r.Tool == "many" {
			statuses[string(r.Status)]++
		}
	}
	if statuses["upstream_error"] != 1 || statuses["answered"] != 1 {
		t.Errorf("audited statuses of the two calls: %v, want one upstream_error and one answered", statuses)
	}
}

func TestDuplicateInFlightIDRefused(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	h.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":300}}}`)
	time.Sleep(50 * time.Millisecond)
	h.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"SECOND"}}}`)
	first := h.read()
	if d := errorData(t, first); d["reason"] != "malformed_message" {
		t.Errorf("duplicate id: %v", first)
	}
	if got := resultText(t, h.await(1)); got != "slept 300ms" {
		t.Errorf("original request answered with %q", got)
	}
	if h.received("SECOND") {
		t.Error("the duplicate-id request was forwarded")
	}
}

func TestModernEraPassesThrough(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	resp := h.request("d1", "server/discover", map[string]any{"_meta": meta})
	r, _ := resp["result"].(map[string]any)
	if r == nil || r["resultType"] != "complete" {
		t.Fatalf("server/discover: %v", resp)
	}
	resp = h.request("c1", "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "modern"}, "_meta": meta})
	if got := resultText(t, resp); got != "Echo: modern" {
		t.Errorf("modern tools/call: %q", got)
	}
	for _, rec := range h.auditRecords() {
		if rec.Method == "tools/call" && rec.ProtocolVersion != "2026-07-28" {
			t.Errorf("audit protocol_version = %q, want 2026-07-28", rec.ProtocolVersion)
		}
	}
}

// failingStore fails every budget operation, to exercise the fail posture.
type failingStore struct{ state.Store }

func (failingStore) Reserve(context.Context, state.Key, float64, float64, time.Duration) (float64, bool, state.Release, error) {
	return 0, false, nil, errors.New("state backend down")
}

func TestStateFailureFailsClosedOrOpen(t *testing.T) {
	for _, tt := range []struct {
		fail pipeline.Fail
		want string
	}{{pipeline.FailClosed, "policy_error"}, {pipeline.FailOpen, ""}} {
		t.Run(string(tt.fail), func(t *testing.T) {
			h := newHarness(t, setup{policy: testPolicy, fail: tt.fail, store: failingStore{state.NewMemory(nil)}})
			h.initialize()
			resp := h.call(1, "refund", map[string]any{"amount": 10})
			if tt.want == "" {
				if resp["result"] == nil {
					t.Errorf("fail open refused: %v", resp)
				}
				return
			}
			if d := errorData(t, resp); d["reason"] != tt.want {
				t.Errorf("fail closed: %v, want %s", d, tt.want)
			}
			if h.received("refund") {
				t.Error("fail closed forwarded the call")
			}
		})
	}
}

func TestAuditLogOfARunVerifies(t *testing.T) {
	h := newHarness(t, setup{policy: testPolicy})
	h.initialize()
	h.call(1, "echo", map[string]any{"message": "a"})
	h.call(2, "temp.convert", nil)
	h.request(3, "tools/list", nil)
	recs := h.auditRecords() // verifies
	// initialize, echo, temp.convert, tools/list: one record per decision.
	if len(recs) != 4 {
		t.Errorf("%d decision records, want 4: %+v", len(recs), recs)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPromptAndResourceListsFiltered(t *testing.T) {
	policy := `
name: lists
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, prompts/list, resources/list]
    effect: allow
  - id: public-prompts
    methods: [prompts/get]
    tools: [greet]
    effect: allow
  - id: public-files
    methods: [resources/read]
    tools: ["file:///public/*"]
    effect: allow
`
	h := newHarness(t, setup{policy: policy})
	h.initialize()
	prompts, _ := json.Marshal(h.request(1, "prompts/list", nil)["result"])
	if !strings.Contains(string(prompts), `"greet"`) || strings.Contains(string(prompts), "secret_prompt") {
		t.Errorf("prompts/list = %s, want greet only", prompts)
	}
	resources, _ := json.Marshal(h.request(2, "resources/list", nil)["result"])
	if !strings.Contains(string(resources), "file:///public/a.txt") || strings.Contains(string(resources), "private") {
		t.Errorf("resources/list = %s, want the public file only", resources)
	}
	if d := errorData(t, h.request(3, "resources/read", map[string]any{"uri": "file:///private/b.txt"})); d["reason"] != "policy_deny" {
		t.Errorf("reading a hidden resource: %v, want policy_deny", d)
	}
}

const secretsPolicy = `
name: secrets
version: "1"
default_effect: deny
rules:
  - id: protocol
    methods: [initialize, tools/list]
    effect: allow
  - id: scrub-echo
    tools: [echo]
    effect: redact
    redact_secrets: true
  - id: scrub-results
    phase: response
    tools: [secret_result]
    effect: redact
    redact_secrets: true
  - id: results
    tools: [secret_result]
    effect: allow
`

// A rule with redact_secrets hides every secret the redactor finds (SPEC §8.6 names and patterns)
// in what is forwarded and in what is returned, without naming the fields.
func TestRedactSecretsByPolicy(t *testing.T) {
	h := newHarness(t, setup{policy: secretsPolicy})
	h.initialize()
	msg := "connect to https://admin:hunter2@db.internal/prod with AKIAIOSFODNN7EXAMPLE, then report"
	got := resultText(t, h.call(1, "echo", map[string]any{"message": msg}))
	for _, secret := range []string{"hunter2", "AKIAIOSFODNN7EXAMPLE"} {
		if h.received(secret) {
			t.Errorf("%s reached the upstream", secret)
		}
		if strings.Contains(got, secret) {
			t.Errorf("%s came back in the result %q", secret, got)
		}
	}
	if !strings.Contains(got, "connect to https://") || !strings.Contains(got, "[REDACTED_") || !strings.Contains(got, "then report") {
		t.Errorf("result = %q, want the message with only its secrets masked", got)
	}
	b, _ := json.Marshal(h.call(2, "secret_result", nil))
	if strings.Contains(string(b), "123-45-6789") || !strings.Contains(string(b), `"ssn":"[REDACTED]"`) || !strings.Contains(string(b), `"name":"ann"`) {
		t.Errorf("result: %s, want ssn redacted by name and the rest kept", b)
	}
	for _, r := range h.auditRecords() {
		if r.Tool == "echo" && (r.Effect != "redact" || r.RuleID != "scrub-echo") {
			t.Errorf("echo record: effect %q rule %q", r.Effect, r.RuleID)
		}
		if r.Tool == "secret_result" && (r.ResponseEffect != "redact" || r.ResponseRuleID != "scrub-results") {
			t.Errorf("secret_result record: response effect %q rule %q", r.ResponseEffect, r.ResponseRuleID)
		}
	}
}

// TestRelayOnTheEventLoop runs the relay's core tests with its event loop (upstream.event_loop): the
// client's input and the upstream's output read by one lineloop.Loop. The other tests read each in a
// goroutine.
func TestRelayOnTheEventLoop(t *testing.T) {
	eventLoop = true
	defer func() { eventLoop = false }()
	for _, test := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"allowed", TestAllowedCallPassesByteForByte},
		{"denied", TestDeniedCallNeverReachesUpstream},
		{"redact", TestRedactBeforeUpstream},
		{"by id", TestResponsesMatchedByIDNotOrder},
		{"bad input", TestBadClientInputIsRefusedAndGatewayLives},
		{"crash", TestCrashedUpstreamIsRestartedAndReinitialized},
		{"hang", TestHungUpstreamIsKilledWithinBoundedTime},
		{"noise", TestNoiseOnUpstreamStdoutIsSkipped},
		{"server requests", TestServerToClientRequestAndNotificationsRelayed},
		{"audit", TestAuditLogOfARunVerifies},
	} {
		t.Run(test.name, test.run)
	}
}

// TestClientReadOnTheLoop: with the event loop, a client on a pipe is read by the loop, and one the
// loop cannot take in a goroutine; the relay says which.
func TestClientReadOnTheLoop(t *testing.T) {
	const fallback = "reading client input in a goroutine of its own"
	for _, asReader := range []bool{false, true} {
		eventLoop, clientAsReader = true, asReader
		h := newHarness(t, setup{policy: testPolicy})
		eventLoop, clientAsReader = false, false
		h.initialize()
		if got := resultText(t, h.call(1, "echo", map[string]any{"message": "hi"})); got != "Echo: hi" {
			t.Errorf("echo answered %q", got)
		}
		h.close()
		if strings.Contains(h.logs.String(), fallback) != asReader {
			t.Errorf("client as a plain reader %v: the log says %q %v times", asReader, fallback, strings.Count(h.logs.String(), fallback))
		}
	}
}

package approval

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// held is a tools/call of refund by agent a1 whose rules verdict holds it, and whose rego verdict
// redacts an argument.
func held(t *testing.T, args string) *pipeline.Call {
	t.Helper()
	msg, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":`+args+`,"_meta":{"progressToken":"`+rand.Text()+`"}}}`), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := mcp.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	c := &pipeline.Call{DecisionID: "dec_1", Msg: msg, Request: req, Upstream: "billing"}
	c.Input.Kind, c.Input.Tool.Name, c.Input.Agent.ID, c.Input.Tenant = mcp.MethodToolsCall, "refund", "a1", "acme"
	c.Verdicts = []pipeline.Verdict{
		{Verdict: policy.Verdict{Engine: "rules", Effect: policy.EffectRequireApproval, RuleID: "big-refund", Reason: "refunds over 500 need a human"}},
		{Verdict: policy.Verdict{Engine: "rego", Effect: policy.EffectRedact, Ops: []policy.Op{{Kind: policy.OpKind("redact"), Path: []string{"card"}}}}},
	}
	c.Decision = pipeline.Combine(c.Verdicts)
	return c
}

// recorder is a next handler that records whether the rest of the chain ran.
type recorder struct {
	mu  sync.Mutex
	ran int
}

func (r *recorder) next(context.Context, *pipeline.Call) error {
	r.mu.Lock()
	r.ran++
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ran
}

func newStage(store *state.Memory, wait time.Duration) *Stage {
	return New(Options{Store: store, Wait: wait, TTL: time.Hour, Poll: 5 * time.Millisecond, Logger: quiet})
}

func TestHoldOpensAnApprovalAndARetryAfterApprovalGoesThroughOnce(t *testing.T) {
	store := state.NewMemory(nil)
	s := newStage(store, 0)
	ctx := context.Background()
	var rec recorder
	args := `{"amount":900,"card":"4111 1111 1111 1111","password":"hunter2"}`

	c := held(t, args)
	if err := s.Handle(ctx, c, rec.next); err != nil {
		t.Fatal(err)
	}
	if c.Decision.Code != policy.CodeApprovalRequired || c.Decision.ApprovalID == "" || c.Wait != nil || rec.count() != 0 {
		t.Fatalf("first call: %+v (wait %v, next ran %d)", c.Decision, c.Wait != nil, rec.count())
	}
	id := c.Decision.ApprovalID
	a, err := store.Approval(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != state.ApprovalPending || a.Caller != "agent:a1" || a.Tenant != "acme" || a.Upstream != "billing" || a.Tool != "refund" ||
		a.RuleID != "big-refund" || a.DecisionID != "dec_1" || len(a.Digest) != 64 {
		t.Errorf("approval = %+v", a)
	}
	if strings.Contains(a.Arguments, "hunter2") || strings.Contains(a.Arguments, "4111 1111") || !strings.Contains(a.Arguments, "900") {
		t.Errorf("the arguments preview is not redacted: %s", a.Arguments)
	}

	// A retry before anyone decides waits for the same approval.
	c = held(t, `{"password":"hunter2","card":"4111 1111 1111 1111","amount":900.0}`) // the same call, written differently
	s.Handle(ctx, c, rec.next)
	if c.Decision.ApprovalID != id || c.Decision.Code != policy.CodeApprovalRequired {
		t.Fatalf("retry before a decision: %+v, want approval %s", c.Decision, id)
	}

	if _, err := store.DecideApproval(ctx, id, true, "alice", "checked"); err != nil {
		t.Fatal(err)
	}
	c = held(t, args)
	s.Handle(ctx, c, rec.next)
	d := c.Decision
	if d.Effect != policy.EffectRedact || len(d.Ops) != 1 || d.ApprovalID != id || d.RuleID != "big-refund" || rec.count() != 1 ||
		!strings.Contains(d.Reason, "alice") {
		t.Fatalf("retry after approval: %+v (next ran %d): want the redaction applied, the approval named, the chain continued", d, rec.count())
	}

	// Single use: the next identical call is held anew.
	c = held(t, args)
	s.Handle(ctx, c, rec.next)
	if c.Decision.Code != policy.CodeApprovalRequired || c.Decision.ApprovalID == id || rec.count() != 1 {
		t.Fatalf("second retry after one approval: %+v", c.Decision)
	}
}

func TestApprovalIsBoundToTheExactCall(t *testing.T) {
	store := state.NewMemory(nil)
	s := newStage(store, 0)
	ctx := context.Background()
	var rec recorder
	c := held(t, `{"amount":900}`)
	s.Handle(ctx, c, rec.next)
	store.DecideApproval(ctx, c.Decision.ApprovalID, true, "alice", "")

	other := []*pipeline.Call{held(t, `{"amount":901}`), held(t, `{"amount":900,"extra":1}`), held(t, `{"amount":900}`), held(t, `{"amount":900}`), held(t, `{"amount":900}`)}
	other[2].Input.Agent.ID = "a2"
	other[3].Input.Tenant = "globex"
	other[4].Upstream = "other"
	for i, o := range other {
		s.Handle(ctx, o, rec.next)
		if o.Decision.Code != policy.CodeApprovalRequired || o.Decision.ApprovalID == c.Decision.ApprovalID {
			t.Errorf("call %d used another call's approval: %+v", i, o.Decision)
		}
	}
	if rec.count() != 0 {
		t.Errorf("a different call went through on the approval")
	}
}

func TestDeniedApprovalIsAnsweredOnceThenHeldAnew(t *testing.T) {
	store := state.NewMemory(nil)
	s := newStage(store, 0)
	ctx := context.Background()
	var rec recorder
	c := held(t, `{"amount":900}`)
	s.Handle(ctx, c, rec.next)
	id := c.Decision.ApprovalID
	store.DecideApproval(ctx, id, false, "bob", "not this customer")
	c = held(t, `{"amount":900}`)
	s.Handle(ctx, c, rec.next)
	if c.Decision.Code != policy.CodeApprovalDenied || c.Decision.Effect != policy.EffectDeny || c.Decision.ApprovalID != id ||
		!strings.Contains(c.Decision.Reason, "bob") || !strings.Contains(c.Decision.Reason, "not this customer") {
		t.Fatalf("retry after denial: %+v", c.Decision)
	}
	c = held(t, `{"amount":900}`)
	s.Handle(ctx, c, rec.next)
	if c.Decision.Code != policy.CodeApprovalRequired || c.Decision.ApprovalID == id {
		t.Fatalf("the call after the denial was answered: %+v", c.Decision)
	}
}

// waitFor runs c.Wait and returns the progress messages it sent.
func waitFor(t *testing.T, ctx context.Context, c *pipeline.Call) []string {
	t.Helper()
	if c.Wait == nil {
		t.Fatalf("no wait: %+v", c.Decision)
	}
	var msgs []string
	if err := c.Wait(ctx, func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// holdWaiting holds a refund of 900 on a stage that waits wait, in a store of its own.
func holdWaiting(t *testing.T, wait time.Duration) (*state.Memory, *Stage, *recorder, *pipeline.Call) {
	t.Helper()
	store := state.NewMemory(nil)
	s := newStage(store, wait)
	rec := &recorder{}
	c := held(t, `{"amount":900}`)
	if err := s.Handle(context.Background(), c, rec.next); err != nil {
		t.Fatal(err)
	}
	return store, s, rec, c
}

func TestWaitingCall(t *testing.T) {
	ctx := context.Background()
	t.Run("approved", func(t *testing.T) {
		store, _, rec, c := holdWaiting(t, 10*time.Second)
		go func() {
			time.Sleep(30 * time.Millisecond)
			store.DecideApproval(ctx, c.Decision.ApprovalID, true, "alice", "")
		}()
		msgs := waitFor(t, ctx, c)
		if !c.Decision.Forwards() || rec.count() != 1 || len(msgs) == 0 || !strings.Contains(msgs[0], c.Decision.ApprovalID) {
			t.Fatalf("approved while waiting: %+v, next ran %d, progress %q", c.Decision, rec.count(), msgs)
		}
		if a, _ := store.Approval(ctx, c.Decision.ApprovalID); a.Status != state.ApprovalUsed {
			t.Errorf("the approval is %s after the call went through, want used", a.Status)
		}
	})
	t.Run("denied", func(t *testing.T) {
		store, _, rec, c := holdWaiting(t, 10*time.Second)
		go func() {
			time.Sleep(30 * time.Millisecond)
			store.DecideApproval(ctx, c.Decision.ApprovalID, false, "bob", "no")
		}()
		waitFor(t, ctx, c)
		if c.Decision.Code != policy.CodeApprovalDenied || rec.count() != 0 {
			t.Fatalf("denied while waiting: %+v", c.Decision)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		store, s, rec, c := holdWaiting(t, 50*time.Millisecond)
		id := c.Decision.ApprovalID
		waitFor(t, ctx, c)
		if c.Decision.Code != policy.CodeApprovalTimeout || c.Decision.Forwards() || !strings.Contains(c.Decision.Reason, "stays pending") {
			t.Fatalf("nobody decided: %+v", c.Decision)
		}
		// Approved later, the same call retried goes through.
		store.DecideApproval(ctx, id, true, "alice", "")
		c = held(t, `{"amount":900}`)
		s.Handle(ctx, c, rec.next)
		if !c.Decision.Forwards() || c.Decision.ApprovalID != id {
			t.Fatalf("retry after a late approval: %+v", c.Decision)
		}
	})
	t.Run("client gone", func(t *testing.T) {
		_, _, rec, c := holdWaiting(t, 10*time.Second)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		waitFor(t, cctx, c)
		if c.Decision.Code != policy.CodeApprovalTimeout || rec.count() != 0 {
			t.Fatalf("client went away: %+v", c.Decision)
		}
	})
	t.Run("killed while waiting", func(t *testing.T) {
		store, _, rec, c := holdWaiting(t, 10*time.Second)
		store.Kill(ctx, "agent:a1", "operator")
		store.DecideApproval(ctx, c.Decision.ApprovalID, true, "alice", "")
		waitFor(t, ctx, c)
		if c.Decision.Code != policy.CodeSessionKilled || c.Decision.Forwards() || rec.count() != 0 {
			t.Fatalf("approved after a kill: %+v", c.Decision)
		}
	})
}

func TestTooManyPendingStaysHeld(t *testing.T) {
	store := state.NewMemory(nil)
	s := New(Options{Store: store, MaxPending: 1, MaxPendingPerCaller: 5, Logger: quiet})
	ctx := context.Background()
	var rec recorder
	c := held(t, `{"amount":1}`)
	s.Handle(ctx, c, rec.next)
	c2 := held(t, `{"amount":2}`)
	s.Handle(ctx, c2, rec.next)
	if c2.Decision.Code != policy.CodeApprovalRequired || c2.Decision.ApprovalID != "" || c2.Decision.Forwards() || !strings.Contains(c2.Decision.Reason, "too many are pending") {
		t.Fatalf("past max_pending: %+v", c2.Decision)
	}
}

func TestNotAHoldPassesThrough(t *testing.T) {
	s := newStage(state.NewMemory(nil), 0)
	var rec recorder
	c := &pipeline.Call{Decision: pipeline.Decision{Effect: policy.EffectAllow}}
	s.Handle(context.Background(), c, rec.next)
	if rec.count() != 1 || c.Decision.ApprovalID != "" {
		t.Fatalf("an allowed call: %+v, next ran %d", c.Decision, rec.count())
	}
}

func TestDigest(t *testing.T) {
	digest := func(method, params string) string {
		t.Helper()
		p, err := CallParams([]byte(params))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Digest(method, p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	call := func(args string) string { return `{"name":"t","arguments":` + args + `}` }
	base := digest("tools/call", call(`{"a":1,"b":[true,null,"x"]}`))
	for _, same := range []string{
		call(`{"b":[true,null,"x"],"a":1}`),
		call(`{ "a" : 1.0 , "b" : [ true , null , "\u0078" ] }`),
		call(`{"a":1e0,"b":[true,null,"x"]}`),
		`{"arguments":{"a":1,"b":[true,null,"x"]},"name":"t","_meta":{"progressToken":7,"traceparent":"00-x"}}`,
	} {
		if got := digest("tools/call", same); got != base {
			t.Errorf("%s: digest differs from the same call written otherwise", same)
		}
	}
	for _, other := range []string{
		call(`{"a":2,"b":[true,null,"x"]}`), call(`{"a":1,"b":["x",null,true]}`), call(`{"a":1}`),
		call(`{"a":"1","b":[true,null,"x"]}`), call(`{"a":1.0000000000000000001,"b":[true,null,"x"]}`),
		`{"name":"u","arguments":{"a":1,"b":[true,null,"x"]}}`,
		`{"name":"t","arguments":{"a":1,"b":[true,null,"x"]},"_meta":{"gatehouse/gate_phase":"release"}}`,
		`{"name":"t","arguments":{"a":1,"b":[true,null,"x"]},"task":{"ttl":5}}`,
	} {
		if got := digest("tools/call", other); got == base {
			t.Errorf("%s: same digest as a different call", other)
		}
	}
	if digest("prompts/get", call(`{"a":1,"b":[true,null,"x"]}`)) == base {
		t.Error("the method is not in the digest")
	}
	if digest("tools/call", call(`{"n":9007199254740993}`)) == digest("tools/call", call(`{"n":9007199254740992}`)) {
		t.Error("integers past 2^53 collide")
	}
	if digest("completion/complete", `{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"x"}}`) ==
		digest("completion/complete", `{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"y"}}`) {
		t.Error("the params of a method without a tool are not in the digest")
	}
}

// TestApproverSeesTheWholeCall: the approval shows the human every parameter, including values
// under names that sound secret and values past a preview's cut, with secrets masked by their form.
func TestApproverSeesTheWholeCall(t *testing.T) {
	store := state.NewMemory(nil)
	s := newStage(store, 0)
	var rec recorder
	pad := strings.Repeat("x", 900)
	c := held(t, `{"pad":"`+pad+`","address":"attacker-wallet","key":"ship-it","amount":900,"fee":1000.50,"auth":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"}`)
	s.Handle(context.Background(), c, rec.next)
	a, err := store.Approval(context.Background(), c.Decision.ApprovalID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"attacker-wallet", "ship-it", `"amount":900`, `"fee":1000.50`, pad} {
		if !strings.Contains(a.Params, want) {
			t.Errorf("the approver does not see %.40q in %.200s", want, a.Params)
		}
	}
	if strings.Contains(a.Params, "c2lnbmF0dXJl") || strings.Contains(a.Arguments, "attacker-wallet") {
		t.Errorf("a token is shown, or the preview is not redacted: %s / %s", a.Params, a.Arguments)
	}
	big := held(t, `{"blob":"`+strings.Repeat("y", MaxParams)+`"}`)
	s.Handle(context.Background(), big, rec.next)
	if big.Decision.ApprovalID != "" || big.Decision.Forwards() || !strings.Contains(big.Decision.Reason, "too large") {
		t.Errorf("a call too large to show: %+v", big.Decision)
	}
}

// gatehouse_approvals_pending counts the store's pending approvals when scraped, and
// gatehouse_approvals_waiting the calls waiting in this process.
func TestMetrics(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	if got := testutil.ToFloat64(m.pending); got != 0 {
		t.Errorf("pending before any store: %v", got)
	}
	store := state.NewMemory(nil)
	s := New(Options{Store: store, Wait: 10 * time.Second, Poll: 5 * time.Millisecond, Logger: quiet, Metrics: m})
	var rec recorder
	ctx := context.Background()
	for _, amount := range []string{"1", "2"} {
		s.Handle(ctx, held(t, `{"amount":`+amount+`}`), rec.next)
	}
	c := held(t, `{"amount":3}`)
	s.Handle(ctx, c, rec.next)
	if got := testutil.ToFloat64(m.pending); got != 3 {
		t.Errorf("pending with three holds: %v", got)
	}
	done := make(chan struct{})
	go func() { c.Wait(ctx, nil); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(m.wait) != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("gatehouse_approvals_waiting never showed the waiting call")
		}
	}
	store.DecideApproval(ctx, c.Decision.ApprovalID, false, "bob", "")
	<-done
	if p, w := testutil.ToFloat64(m.pending), testutil.ToFloat64(m.wait); p != 2 || w != 0 {
		t.Errorf("after one was denied: pending %v, waiting %v, want 2 and 0", p, w)
	}
}

// heldEliciting is held's call made by a 2026-07-28 client that declares form elicitation.
func heldEliciting(t *testing.T, args string) *pipeline.Call {
	t.Helper()
	c := held(t, args)
	msg, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":`+args+
		`,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}`), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Request, err = mcp.Decode(msg); err != nil || !c.Request.Elicits {
		t.Fatalf("the call does not elicit: %v", err)
	}
	c.Msg = msg
	return c
}

// TestAsk (SPEC §10.2): a pending hold of a client that can be asked is answered by asking it
// (Decision.Ask), at once or after a wait nobody decided; not when it stopped waiting, nor when the
// hold opened no approval. A retry whose human declined is refused without touching the approvals,
// even one the policies would now let through.
func TestAsk(t *testing.T) {
	ctx := context.Background()
	store := state.NewMemory(nil)
	s := newStage(store, 0)
	var rec recorder

	c := heldEliciting(t, `{"amount":900}`)
	s.Handle(ctx, c, rec.next)
	id := c.Decision.ApprovalID
	if !c.Decision.Ask || id == "" || c.Decision.Code != policy.CodeApprovalRequired || c.Decision.Forwards() {
		t.Fatalf("a held call of a client that elicits: %+v", c.Decision)
	}
	if c := held(t, `{"amount":900}`); s.Handle(ctx, c, rec.next) == nil && (c.Decision.Ask || c.Decision.ApprovalID != id) {
		t.Errorf("a client that does not elicit is asked, or gets another approval: %+v", c.Decision)
	}

	store.DecideApproval(ctx, id, true, "alice", "")
	for _, answer := range []string{"decline", "cancel"} {
		c = heldEliciting(t, `{"amount":900}`)
		c.HoldAnswer = answer
		s.Handle(ctx, c, rec.next)
		if c.Decision.Code != policy.CodeApprovalRequired || c.Decision.Forwards() || c.Decision.Ask || c.Decision.RuleID != "big-refund" || rec.count() != 0 {
			t.Errorf("a retry answered %s: %+v, next ran %d", answer, c.Decision, rec.count())
		}
	}
	if a, _ := store.Approval(ctx, id); a.Status != state.ApprovalApproved {
		t.Errorf("declined retries changed the approval: %s", a.Status)
	}
	allowed := &pipeline.Call{Decision: pipeline.Decision{Effect: policy.EffectAllow}, HoldAnswer: "decline"}
	s.Handle(ctx, allowed, rec.next)
	if allowed.Decision.Forwards() || allowed.Decision.Code != policy.CodeApprovalRequired || rec.count() != 0 {
		t.Errorf("a declined retry the policies allow: %+v, next ran %d", allowed.Decision, rec.count())
	}
	c = heldEliciting(t, `{"amount":900}`)
	c.HoldAnswer = "accept"
	s.Handle(ctx, c, rec.next)
	if !c.Decision.Forwards() || c.Decision.Ask || rec.count() != 1 {
		t.Errorf("the accepted retry once approved: %+v", c.Decision)
	}

	full := New(Options{Store: state.NewMemory(nil), MaxPending: 1, Logger: quiet})
	full.Handle(ctx, heldEliciting(t, `{"amount":1}`), rec.next)
	c = heldEliciting(t, `{"amount":2}`)
	full.Handle(ctx, c, rec.next)
	if c.Decision.Ask || c.Decision.ApprovalID != "" {
		t.Errorf("asked to retry a hold that has no approval: %+v", c.Decision)
	}

	waiting := newStage(state.NewMemory(nil), 30*time.Millisecond)
	c = heldEliciting(t, `{"amount":900}`)
	waiting.Handle(ctx, c, rec.next)
	waitFor(t, ctx, c)
	if !c.Decision.Ask || c.Decision.Code != policy.CodeApprovalTimeout {
		t.Errorf("nobody decided within the wait: %+v", c.Decision)
	}
	expiring := New(Options{Store: state.NewMemory(nil), Wait: 10 * time.Second, TTL: 30 * time.Millisecond, Poll: 5 * time.Millisecond, Logger: quiet})
	c = heldEliciting(t, `{"amount":900}`)
	expiring.Handle(ctx, c, rec.next)
	waitFor(t, ctx, c)
	if c.Decision.Ask || c.Decision.Code != policy.CodeApprovalTimeout {
		t.Errorf("the approval expired while the call waited: %+v", c.Decision)
	}
	c = heldEliciting(t, `{"amount":901}`)
	waiting.Handle(ctx, c, rec.next)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	waitFor(t, gone, c)
	if c.Decision.Ask || c.Decision.Code != policy.CodeApprovalTimeout {
		t.Errorf("the client stopped waiting: %+v", c.Decision)
	}
}

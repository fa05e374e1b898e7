package replay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
)

// harness is a replayer whose results are kept.
type harness struct {
	*Replayer
	got []*Result
}

// replayer returns a replayer for a rules policy in mode, with budgets in memory.
func replayer(t testing.TB, mode pipeline.Mode, src string) *harness {
	t.Helper()
	pol, err := rules.Load("p.yaml", []byte("name: p\nversion: \"1\"\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	st := engine.New(engine.Config{Name: "rules", Mode: mode, Fail: pipeline.FailClosed, Logger: discard}, engine.NewRules(pol))
	h := &harness{}
	h.Replayer = New(Options{Engines: []pipeline.Stage{st}, Fail: pipeline.FailClosed, MemoryState: true,
		Emit: func(r *Result) { h.got = append(h.got, r) }})
	return h
}

// one replays one record on its own and returns its result, nil when there is none.
func (h *harness) one(ctx context.Context, rec *auditlog.Record) *Result {
	h.got = nil
	h.Record(ctx, rec)
	h.Flush(ctx)
	if len(h.got) != 1 {
		return nil
	}
	return h.got[0]
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// call is a decision record of a tools/call, allowed by the rule allow.
func call(seq uint64, tool, args string) *auditlog.Record {
	return &auditlog.Record{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: auditlog.TypeDecision,
		DecisionID: "dec_" + tool, SessionID: "sess_1", Agent: "bot", Roles: []string{"dev"}, Method: "tools/call",
		Upstream: "up", Tool: tool, Effect: "allow", RuleID: "allow", Engine: "rules", Status: "answered", ArgsPreview: args}
}

func refused(r *auditlog.Record, engine, code string) *auditlog.Record {
	r.Effect, r.Code, r.Engine, r.RuleID = "deny", code, engine, ""
	r.Status = "refused"
	return r
}

func TestReplayComparesEffects(t *testing.T) {
	rp := replayer(t, pipeline.ModeEnforce, `default_effect: deny
rules:
  - {id: small, tools: [refund], effect: allow, when: {field: amount, op: lt, value: 100}}
  - {id: devs, tools: [deploy], effect: allow, require_roles: [ops]}
  - {id: read, tools: [read], effect: allow}
`)
	ctx := context.Background()
	cases := []struct {
		rec     *auditlog.Record
		status  string
		effect  string
		rule    string
		inexact string
	}{
		{call(1, "refund", `{"amount":50}`), StatusUnchanged, "allow", "small", ""},
		{call(2, "refund", `{"amount":500}`), StatusChanged, "deny", "", ""},
		{call(3, "deploy", `{}`), StatusChanged, "deny", "", ""},                                     // the caller has dev, not ops
		{refused(call(4, "read", `{}`), "rules", "policy_deny"), StatusChanged, "allow", "read", ""}, // refused then
		{call(5, "refund", `{"amount":50,"note":"x…`+strings.Repeat("y", 20)), StatusUncertain, "deny", "", InexactArgsCut},
		{call(6, "refund", `{"amount":"[REDACTED]"}`), StatusUncertain, "deny", "", InexactArgsRedacted},
	}
	for _, c := range cases {
		res := rp.one(ctx, c.rec)
		if res == nil || res.Skipped != "" {
			t.Fatalf("seq %d not replayed: %+v", c.rec.Seq, res)
		}
		if res.Status != c.status || res.Now.Effect != c.effect || res.Now.RuleID != c.rule || strings.Join(res.Inexact, ",") != c.inexact {
			t.Errorf("seq %d: %s now %+v inexact %v; want %s %s by %q inexact %q", c.rec.Seq, res.Status, *res.Now, res.Inexact, c.status, c.effect, c.rule, c.inexact)
		}
	}
	sum := rp.Summary()
	if sum.Decisions != 6 || sum.Replayed != 6 || sum.Changed != 3 || sum.Uncertain != 2 || sum.Unchanged != 1 || sum.Inexact != 2 {
		t.Errorf("summary %+v", sum)
	}
	if sum.Transitions["allow → deny"] != 2 || sum.Transitions["deny → allow"] != 1 {
		t.Errorf("transitions %v", sum.Transitions)
	}
}

// Refusals made before the engines decide are counted, not replayed; records other than decisions
// are not results at all.
func TestReplaySkipsWhatThePoliciesDidNotDecide(t *testing.T) {
	rp := replayer(t, pipeline.ModeEnforce, "default_effect: allow\nrules: []\n")
	ctx := context.Background()
	malformed := refused(call(1, "", ""), "codec", "malformed_message")
	malformed.Status = "malformed"
	for _, rec := range []*auditlog.Record{
		malformed,
		refused(call(2, "x", `{}`), "identity", "unauthenticated"),
		refused(call(3, "x", `{}`), "kill", "session_killed"),
		refused(call(4, "x", `{}`), "kill", "session_killed"),
		refused(call(5, "x", `{}`), "threat", "threat_detected"),
		refused(call(6, "x", `{}`), "ratelimit", "rate_limited"),
		refused(call(7, "x", `{}`), "pin", "approval_required"),
		refused(call(8, "x", `{}`), "budget", "policy_error"),
	} {
		if res := rp.one(ctx, rec); res == nil || res.Skipped == "" || res.Now != nil || res.Status != "" {
			t.Errorf("seq %d (%s) replayed: %+v", rec.Seq, rec.Engine, res)
		}
	}
	pinDenied := refused(call(9, "x", `{}`), "approval", "approval_denied")
	pinDenied.RuleID, pinDenied.ApprovalID = "pin.changed", "apr_1"
	if res := rp.one(ctx, pinDenied); res.Skipped != skipPin {
		t.Errorf("a denied approval of a changed tool definition: %+v", res)
	}
	for _, typ := range []string{auditlog.TypeEvent, auditlog.TypeCheckpoint, auditlog.TypeRecovery} {
		rec := call(10, "x", `{}`)
		rec.Type = typ
		if res := rp.one(ctx, rec); res != nil {
			t.Errorf("a %s record gave a result: %+v", typ, res)
		}
	}
	sum := rp.Summary()
	if sum.Decisions != 9 || sum.Replayed != 0 {
		t.Errorf("summary %+v", sum)
	}
	if sum.Skipped["refused by kill: session_killed (not a decision of the policies)"] != 2 || sum.Skipped[skipMalformed] != 1 ||
		sum.Skipped[skipPin] != 2 || sum.Skipped[skipBudgetState] != 1 || len(sum.Skipped) != 7 {
		t.Errorf("skipped %v", sum.Skipped)
	}
}

// A call held for a human was a hold of the policies, whatever the human then decided; a call the
// upstream failed was let through, with the exact effect unrecorded.
func TestReplayHoldsAndUpstreamFailures(t *testing.T) {
	rp := replayer(t, pipeline.ModeEnforce, `default_effect: deny
rules:
  - {id: hold, tools: [pay], effect: require_approval}
  - {id: ok, tools: [read], effect: allow}
`)
	ctx := context.Background()
	approved := call(1, "pay", `{}`)
	approved.ApprovalID, approved.Reason = "apr_1", "approved by alice (approval apr_1)"
	timedOut := refused(call(2, "pay", `{}`), "approval", "approval_timeout")
	timedOut.ApprovalID = "apr_2"
	heldThenNowAllowed := refused(call(3, "read", `{}`), "approval", "approval_denied")
	failed := refused(call(4, "read", `{}`), "upstream", "upstream_unavailable")
	failedNowDenied := refused(call(5, "write", `{}`), "upstream", "upstream_unavailable")
	want := []struct{ status, then, now string }{
		{StatusUnchanged, "require_approval", "require_approval"},
		{StatusUnchanged, "require_approval", "require_approval"},
		{StatusChanged, "require_approval", "allow"},
		{StatusUnchanged, Forwarded, "allow"},
		{StatusChanged, Forwarded, "deny"},
	}
	for i, rec := range []*auditlog.Record{approved, timedOut, heldThenNowAllowed, failed, failedNowDenied} {
		res := rp.one(ctx, rec)
		if res.Status != want[i].status || res.Then.Effect != want[i].then || res.Now.Effect != want[i].now {
			t.Errorf("seq %d: %s, then %+v, now %+v; want %+v", rec.Seq, res.Status, res.Then, *res.Now, want[i])
		}
	}
}

// Budgets count forwarded calls again, in the log's order, on the records' clock; a call the
// upstream failed gives its reservation back, as the gateway does.
func TestReplayCountsBudgetsInOrder(t *testing.T) {
	rp := replayer(t, pipeline.ModeEnforce, `default_effect: deny
rules:
  - id: refund
    tools: [refund]
    effect: allow
    budget: {field: amount, limit: 10, scope: session, window: 1h}
`)
	ctx := context.Background()
	at := func(r *auditlog.Record, d time.Duration) *auditlog.Record {
		r.Time = t0.Add(d)
		return r
	}
	recs := []*auditlog.Record{
		at(call(1, "refund", `{"amount":6}`), 0),
		at(refused(call(2, "refund", `{"amount":4}`), "upstream", "upstream_unavailable"), time.Minute), // given back
		at(call(3, "refund", `{"amount":4}`), 2*time.Minute),                                            // 6 + 4 = 10: allowed
		at(call(4, "refund", `{"amount":1}`), 3*time.Minute),                                            // 11: refused
		at(sentThenFailed(call(5, "refund", `{"amount":9}`)), 61*time.Minute),                           // a new window; sent, so kept
	}
	want := []string{"allow", "allow", "allow", "deny", "allow"}
	for i, rec := range recs {
		res := rp.one(ctx, rec)
		if res.Now.Effect != want[i] || res.Status != StatusUnchanged && rec.Seq != 4 {
			t.Errorf("seq %d: now %+v, want %s", rec.Seq, *res.Now, want[i])
		}
	}
	if res := rp.one(ctx, at(call(6, "refund", `{"amount":2}`), 62*time.Minute)); res.Now.Code != "budget_exceeded" || res.Now.Engine != "budget" {
		t.Errorf("over the budget in the new window: %+v", *res.Now)
	}
}

// sentThenFailed is a call the upstream received and then failed to answer.
func sentThenFailed(r *auditlog.Record) *auditlog.Record {
	r = refused(r, "upstream", "upstream_unavailable")
	r.UpstreamUS = 5000
	return r
}

// The log is in the order calls ended: calls are replayed in the order they were decided.
func TestReplayOrdersByDecisionTime(t *testing.T) {
	rp := replayer(t, pipeline.ModeEnforce, `default_effect: deny
rules:
  - {id: slow, tools: [t], effect: allow, rate: {limit: 1, per: 1m, scope: agent}}
`)
	ctx := context.Background()
	second := refused(call(1, "t", `{}`), "budget", "rate_limited") // decided and written at t0+1s
	second.RuleID = "slow"
	first := call(2, "t", `{}`) // written at t0+2s, decided 3 s before
	first.LatencyUS = (3 * time.Second).Microseconds()
	rp.Record(ctx, second)
	rp.Record(ctx, first)
	rp.Flush(ctx)
	if len(rp.got) != 2 || rp.got[0].Seq != 2 || rp.got[0].Status != StatusUnchanged || rp.got[1].Status != StatusUnchanged || rp.got[1].Now.Code != "rate_limited" {
		for _, r := range rp.got {
			t.Logf("seq %d %s now %+v", r.Seq, r.Status, *r.Now)
		}
		t.Error("not replayed in the order decided")
	}
}

// Budgets kept in memory start again when the gateway restarts; kept in Redis, they do not.
func TestReplayRestarts(t *testing.T) {
	policy := "default_effect: deny\nrules:\n  - {id: once, tools: [t], effect: allow, rate: {limit: 1, per: 1h, scope: agent}}\n"
	ctx := context.Background()
	for _, memory := range []bool{true, false} {
		rp := replayer(t, pipeline.ModeEnforce, policy)
		rp.o.MemoryState = memory
		rp.Record(ctx, call(1, "t", `{}`))
		rp.Record(ctx, &auditlog.Record{Seq: 2, Type: auditlog.TypeCheckpoint, Checkpoint: &auditlog.Checkpoint{Reason: auditlog.CheckpointClose}})
		rp.Record(ctx, call(3, "t", `{}`)) // the next run's first call
		rp.Flush(ctx)
		if len(rp.got) != 2 || rp.got[0].Status != StatusUnchanged || (rp.got[1].Status == StatusUnchanged) != memory {
			t.Errorf("state in memory %v: %s then %s (%+v)", memory, rp.got[0].Status, rp.got[1].Status, *rp.got[1].Now)
		}
	}
}

// An engine in monitor mode reports what it would do, as a monitored run recorded it.
func TestReplayMonitorMode(t *testing.T) {
	src := "default_effect: allow\nrules:\n  - {id: no-x, tools: [x], effect: deny}\n"
	monitored := call(1, "x", `{}`)
	monitored.Engine, monitored.WouldEffect, monitored.Code, monitored.RuleID = "", "deny", "policy_deny", "no-x"
	ctx := context.Background()
	if res := replayer(t, pipeline.ModeMonitor, src).one(ctx, monitored); res.Status != StatusUnchanged || res.Now.Would != "deny" || res.Now.RuleID != "no-x" {
		t.Errorf("monitor replayed in monitor: %s %+v", res.Status, *res.Now)
	}
	res := replayer(t, pipeline.ModeEnforce, src).one(ctx, monitored)
	if res.Status != StatusChanged || Transition(res.Then, *res.Now) != "allow (would deny) → deny" {
		t.Errorf("monitor replayed enforced: %s %s", res.Status, Transition(res.Then, *res.Now))
	}
}

func TestReplayRebuildsTheInput(t *testing.T) {
	rec := call(1, "t", `{"n":1.50,"s":"v"}`)
	rec.Tenant, rec.ClientIP, rec.RunID, rec.User, rec.ThreatScore, rec.Threats = "acme", "10.0.0.1", "run_1", "alice", 0.9, []string{"pi.ignore"}
	in, inexact := input(rec)
	if strings.Join(inexact, ",") != InexactThreatScore || in.Tool.Name != "t" || in.Tool.Server != "up" || in.Tenant != "acme" || in.RequestIP != "10.0.0.1" ||
		in.Session.ID != "sess_1" || in.Session.RunID != "run_1" || in.Agent.ID != "bot" || in.User.ID != "alice" ||
		in.Agent.Roles[0] != "dev" || in.Threat.Score != 0.9 || in.Threat.Findings[0].Rule != "pi.ignore" {
		t.Errorf("input %+v inexact %v", in, inexact)
	}
	if n := in.Tool.Args["n"]; n == nil || n.(interface{ String() string }).String() != "1.50" {
		t.Errorf("a number lost its spelling: %#v", n)
	}
	for method, target := range map[string]func() string{
		"prompts/get":    func() string { return in.Prompt.Name },
		"resources/read": func() string { return in.Resource.URI },
	} {
		rec.Method = method
		in, _ = input(rec)
		if target() != "t" {
			t.Errorf("%s: target not set: %+v", method, in)
		}
	}
	rec.Method, rec.Effect, rec.ThreatScore = "tools/call", "redact", 0
	if _, inexact := input(rec); strings.Join(inexact, ",") != InexactArgsRewritten {
		t.Errorf("a redacted call: inexact %v", inexact)
	}
}

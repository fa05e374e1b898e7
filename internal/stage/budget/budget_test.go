package budget

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

func call(amount float64, monitor bool) *pipeline.Call {
	v := pipeline.Verdict{Verdict: policy.Verdict{Engine: "rules", Effect: policy.EffectAllow, RuleID: "refunds",
		Budget: &policy.Budget{Key: "refunds", Scope: policy.ScopeSession, Amount: amount, Limit: 1000}}, Monitor: monitor}
	c := &pipeline.Call{Input: policy.Input{Session: policy.Session{ID: "s1"}}, Verdicts: []pipeline.Verdict{v}}
	c.Decision = pipeline.Combine(c.Verdicts)
	return c
}

func handle(t *testing.T, s *Stage, c *pipeline.Call, next pipeline.Handler) {
	t.Helper()
	if next == nil {
		next = func(context.Context, *pipeline.Call) error { return nil }
	}
	if err := s.Handle(context.Background(), c, next); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetCountsOnlyForwardedCalls(t *testing.T) {
	store := state.NewMemory(nil)
	s := New(store, pipeline.FailClosed, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// A later stage holds the call: its reservation must be given back.
	held := call(600, false)
	handle(t, s, held, func(_ context.Context, c *pipeline.Call) error {
		c.Decision.Effect = policy.EffectRequireApproval
		return nil
	})
	// The forwarded call is counted, and can be abandoned if the forward fails.
	fwd := call(600, false)
	handle(t, s, fwd, nil)
	if !fwd.Decision.Forwards() {
		t.Fatalf("600 of 1000 refused after a held call: %+v (the hold was counted)", fwd.Decision)
	}
	over := call(600, false)
	handle(t, s, over, nil)
	if over.Decision.Code != policy.CodeBudgetExceeded || over.Decision.RuleID != "refunds" {
		t.Fatalf("1200 of 1000: %+v, want budget_exceeded by refunds", over.Decision)
	}
	fwd.Decision.Abandon() // the upstream was never reached
	again := call(600, false)
	handle(t, s, again, nil)
	if !again.Decision.Forwards() {
		t.Errorf("abandoned forward was not given back: %+v", again.Decision)
	}
}

func TestMonitoredBudgetOnlyWouldDeny(t *testing.T) {
	s := New(state.NewMemory(nil), pipeline.FailClosed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c := call(5000, true)
	handle(t, s, c, nil)
	if !c.Decision.Forwards() || c.Decision.Would != policy.EffectDeny || c.Decision.WouldCode != policy.CodeBudgetExceeded {
		t.Errorf("monitored budget: %+v, want allowed with would deny budget_exceeded", c.Decision)
	}
}

func TestRateLimit(t *testing.T) {
	s := New(state.NewMemory(nil), pipeline.FailClosed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mk := func() *pipeline.Call {
		v := pipeline.Verdict{Verdict: policy.Verdict{Effect: policy.EffectAllow, RuleID: "r",
			Rate: &policy.Rate{Key: "r", Scope: policy.ScopeAgent, Limit: 2, Per: time.Minute}}}
		c := &pipeline.Call{Input: policy.Input{Agent: policy.Principal{ID: "a1"}}, Verdicts: []pipeline.Verdict{v}}
		c.Decision = pipeline.Combine(c.Verdicts)
		return c
	}
	for i := 0; i < 2; i++ {
		c := mk()
		handle(t, s, c, nil)
		if !c.Decision.Forwards() {
			t.Fatalf("call %d refused", i+1)
		}
	}
	c := mk()
	handle(t, s, c, nil)
	if c.Decision.Code != policy.CodeRateLimited || c.Decision.RetryAfter <= 0 {
		t.Errorf("third call: %+v, want rate_limited with a retry-after", c.Decision)
	}
}

func TestKeyScopes(t *testing.T) {
	full := &policy.Input{Tenant: "t", Agent: policy.Principal{ID: "a"}, Session: policy.Session{ID: "s", RunID: "r"}}
	stateless := &policy.Input{Tenant: "t", Agent: policy.Principal{ID: "a"}, Session: policy.Session{RunID: "r"}}
	noRun := &policy.Input{Agent: policy.Principal{ID: "a"}, Session: policy.Session{ID: "s"}}
	agentOnly := &policy.Input{Agent: policy.Principal{ID: "a"}}
	nobody := &policy.Input{}
	tests := []struct {
		in     *policy.Input
		scope  policy.Scope
		holder string
	}{
		{full, policy.ScopeSession, "session:s"},
		{full, "", "session:s"},
		{full, policy.ScopeAgent, "agent:a"},
		{full, policy.ScopeRun, "run:t/r"},
		{full, policy.ScopeTenant, "tenant:t"},
		{stateless, policy.ScopeSession, "agent:a"}, // never the run a client names
		{stateless, policy.ScopeRun, "run:t/r"},
		{noRun, policy.ScopeRun, "session:s"},
		{agentOnly, policy.ScopeSession, "agent:a"},
		{agentOnly, policy.ScopeRun, "agent:a"},
		{agentOnly, policy.ScopeTenant, ""},
		{nobody, policy.ScopeSession, ""},
	}
	for _, tt := range tests {
		want := state.Key{Holder: tt.holder, Name: "budget:k:" + string(cmp.Or(tt.scope, policy.ScopeSession)), Owner: tt.in.Agent.ID}
		switch {
		case strings.HasPrefix(tt.holder, "run:"):
			want.Idle = RunIdle
		case strings.HasPrefix(tt.holder, "session:"):
			want.Idle = SessionIdle
		}
		if got := Key("budget", "k", tt.scope, tt.in); got != want {
			t.Errorf("Key(%q) of %+v = %+v, want %+v", tt.scope, tt.in.Session, got, want)
		}
	}
}

// A store full for the whole gateway meets the fail posture; a caller that filled its own share is
// refused even under fail: open, or it could escape its budgets by naming new runs.
func TestFullStoreAndFailPosture(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name      string
		maxKeys   int
		perCaller int
		fail      pipeline.Fail
		forwards  bool
	}{
		{"store full, fail open", 1, 1, pipeline.FailOpen, true},
		{"store full, fail closed", 1, 1, pipeline.FailClosed, false},
		{"caller's share full, fail open", 10, 1, pipeline.FailOpen, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := state.NewMemoryBounded(nil, tt.maxKeys, tt.perCaller)
			other := "someone-else"
			if tt.perCaller < tt.maxKeys {
				other = "" // the same caller as the call below
			}
			store.Reserve(context.Background(), state.Key{Holder: "run:/r0", Name: "x", Owner: other}, 1, 10, 0)
			c := call(1, false)
			handle(t, New(store, tt.fail, logger), c, nil)
			if c.Decision.Forwards() != tt.forwards {
				t.Errorf("forwards = %v, want %v (%+v)", c.Decision.Forwards(), tt.forwards, c.Decision)
			}
		})
	}
}

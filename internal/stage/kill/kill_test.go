package kill

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// TestKillIsCounted checks that a kill_session decision kills the session, refuses its next call,
// and is counted by the engine that decided it; other decisions are not counted.
func TestKillIsCounted(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.Engines("rules", "rego")
	s := New(state.NewMemory(nil), slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	decide := func(effect policy.Effect, engine string) pipeline.Handler {
		return func(ctx context.Context, c *pipeline.Call) error {
			c.Decision = pipeline.Decision{Effect: effect, Engine: engine, RuleID: "r1"}
			return nil
		}
	}
	call := func() *pipeline.Call {
		c := &pipeline.Call{DecisionID: "dec_1"}
		c.Input.Session.ID = "sess_1"
		return c
	}
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		effect policy.Effect
		engine string
	}{
		{"allowed", policy.EffectAllow, "rules"},
		{"denied", policy.EffectDeny, "rules"},
		{"killed by rego", policy.EffectKillSession, "rego"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Handle(ctx, call(), decide(tt.effect, tt.engine)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := testutil.ToFloat64(m.killed.WithLabelValues("rego")); got != 1 {
		t.Errorf("gatehouse_sessions_killed_total{engine=rego} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.killed.WithLabelValues("rules")); got != 0 {
		t.Errorf("gatehouse_sessions_killed_total{engine=rules} = %v, want 0", got)
	}
	c := call()
	if err := s.Handle(ctx, c, decide(policy.EffectAllow, "rules")); err != nil {
		t.Fatal(err)
	}
	if c.Decision.Code != policy.CodeSessionKilled {
		t.Errorf("a call of the killed session: code %q, want %q", c.Decision.Code, policy.CodeSessionKilled)
	}
	if got := testutil.CollectAndCount(m.killed); got != 2 {
		t.Errorf("%d series, want 2 (one per engine)", got)
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		in   policy.Input
		want string
	}{
		{policy.Input{Agent: policy.Principal{ID: "a"}, Session: policy.Session{ID: "s", RunID: "r"}}, "session:s"},
		{policy.Input{Agent: policy.Principal{ID: "a"}, Session: policy.Session{RunID: "r"}}, "agent:a"}, // never the run a client names
		{policy.Input{Agent: policy.Principal{ID: "a"}, Tenant: "t"}, "agent:a"},
		{policy.Input{Tenant: "t"}, ""},
	}
	for _, tt := range tests {
		if got := Target(&tt.in); got != tt.want {
			t.Errorf("Target(%+v) = %q, want %q", tt.in.Session, got, tt.want)
		}
	}
}

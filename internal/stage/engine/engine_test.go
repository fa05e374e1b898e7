package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// fake is a Decider with a fixed answer.
type fake struct {
	v        policy.Verdict
	err      error
	visible  bool
	response bool
	rev      string
}

func (f fake) Decide(context.Context, *policy.Input) (policy.Verdict, error) { return f.v, f.err }
func (f fake) Visible(context.Context, *policy.Input) (bool, error)          { return f.visible, f.err }
func (f fake) Revision() string                                              { return f.rev }
func (f fake) HasResponsePhase() bool                                        { return f.response }

func newStage(t *testing.T, mode pipeline.Mode, fail pipeline.Fail, d Decider) (*Stage, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	return New(Config{Name: "rules", Mode: mode, Fail: fail, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, d), m
}

func run(t *testing.T, s *Stage, phase policy.Phase) *pipeline.Call {
	t.Helper()
	c := &pipeline.Call{Input: policy.Input{Kind: "tools/call", Phase: phase}}
	nextRan := false
	if err := s.Handle(context.Background(), c, func(context.Context, *pipeline.Call) error { nextRan = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if !nextRan {
		t.Fatal("an engine stage must always call next: engines do not short-circuit")
	}
	return c
}

func TestModesAndPosture(t *testing.T) {
	deny := fake{v: policy.Verdict{Effect: policy.EffectDeny, RuleID: "r"}, rev: "v1@abc"}
	broken := fake{err: errors.New("boom"), rev: "v1"}
	tests := []struct {
		name        string
		mode        pipeline.Mode
		fail        pipeline.Fail
		d           Decider
		verdicts    int
		effect      policy.Effect
		code        policy.Code
		monitor     bool
		failPosture pipeline.Fail
	}{
		{"enforce", pipeline.ModeEnforce, pipeline.FailClosed, deny, 1, policy.EffectDeny, "", false, ""},
		{"monitor marks the verdict", pipeline.ModeMonitor, pipeline.FailClosed, deny, 1, policy.EffectDeny, "", true, ""},
		{"off runs nothing", pipeline.ModeOff, pipeline.FailClosed, deny, 0, "", "", false, ""},
		{"error fails closed", pipeline.ModeEnforce, pipeline.FailClosed, broken, 1, policy.EffectDeny, policy.CodePolicyError, false, pipeline.FailClosed},
		{"error fails open", pipeline.ModeEnforce, pipeline.FailOpen, broken, 1, policy.EffectAllow, "", false, pipeline.FailOpen},
		{"no policy loaded fails closed", pipeline.ModeEnforce, pipeline.FailClosed, nil, 1, policy.EffectDeny, policy.CodePolicyError, false, pipeline.FailClosed},
		{"no policy loaded fails open", pipeline.ModeEnforce, pipeline.FailOpen, nil, 1, policy.EffectAllow, "", false, pipeline.FailOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStage(t, tt.mode, tt.fail, tt.d)
			c := run(t, s, policy.PhaseRequest)
			if len(c.Verdicts) != tt.verdicts {
				t.Fatalf("%d verdicts, want %d", len(c.Verdicts), tt.verdicts)
			}
			if tt.verdicts == 0 {
				return
			}
			v := c.Verdicts[0]
			if v.Effect != tt.effect || v.Code != tt.code || v.Monitor != tt.monitor || v.Fail != tt.failPosture || v.Engine != "rules" {
				t.Errorf("verdict = %+v", v)
			}
			if tt.name == "enforce" && v.Revision != "v1@abc" {
				t.Errorf("revision = %q, want the decider's", v.Revision)
			}
			wantErrors := 0.0
			if tt.failPosture != "" {
				wantErrors = 1
			}
			if got := testutil.ToFloat64(m.errors.WithLabelValues("rules")); got != wantErrors {
				t.Errorf("gatehouse_policy_errors_total = %v, want %v", got, wantErrors)
			}
		})
	}
}

// TestWithoutMetrics: gatehouse run keeps no metrics; a stage built without them decides, and fails,
// as one with them does.
func TestWithoutMetrics(t *testing.T) {
	if m := NewMetrics(nil); m != nil {
		t.Fatalf("NewMetrics(nil) = %v, want nil", m)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	deny := New(Config{Name: "rules", Mode: pipeline.ModeEnforce, Fail: pipeline.FailClosed, Logger: logger},
		fake{v: policy.Verdict{Effect: policy.EffectDeny, RuleID: "r"}})
	if v := run(t, deny, policy.PhaseRequest).Verdicts; len(v) != 1 || v[0].Effect != policy.EffectDeny || v[0].RuleID != "r" {
		t.Errorf("verdicts = %+v, want the decider's deny", v)
	}
	broken := New(Config{Name: "rules", Mode: pipeline.ModeEnforce, Fail: pipeline.FailClosed, Logger: logger},
		fake{err: errors.New("boom")})
	if v := run(t, broken, policy.PhaseRequest).Verdicts; len(v) != 1 || v[0].Code != policy.CodePolicyError {
		t.Errorf("verdicts = %+v, want the fail posture's policy_error", v)
	}
}

func TestResponsePhaseSkippedWithoutResponseRules(t *testing.T) {
	s, _ := newStage(t, pipeline.ModeEnforce, pipeline.FailClosed, fake{v: policy.Verdict{Effect: policy.EffectDeny}})
	if c := run(t, s, policy.PhaseResponse); len(c.Verdicts) != 0 {
		t.Errorf("an engine without response rules decided a result: %+v", c.Verdicts)
	}
	s.Swap(fake{v: policy.Verdict{Effect: policy.EffectRedact}, response: true})
	if c := run(t, s, policy.PhaseResponse); len(c.Verdicts) != 1 {
		t.Errorf("an engine with response rules did not decide the result")
	}
}

func TestSwapTakesEffectOnNextCall(t *testing.T) {
	s, m := newStage(t, pipeline.ModeEnforce, pipeline.FailClosed, fake{v: policy.Verdict{Effect: policy.EffectDeny}, rev: "old"})
	if c := run(t, s, policy.PhaseRequest); c.Verdicts[0].Effect != policy.EffectDeny {
		t.Fatal("old policy not applied")
	}
	s.Swap(fake{v: policy.Verdict{Effect: policy.EffectAllow}, rev: "new"})
	c := run(t, s, policy.PhaseRequest)
	if c.Verdicts[0].Effect != policy.EffectAllow || c.Verdicts[0].Revision != "new" {
		t.Errorf("after Swap: %+v", c.Verdicts[0])
	}
	if n := testutil.CollectAndCount(m.eval, "gatehouse_policy_eval_seconds"); n != 1 {
		t.Errorf("eval histogram has %d series, want 1", n)
	}
}

func TestVisibility(t *testing.T) {
	c := &pipeline.Call{}
	for _, tt := range []struct {
		name string
		mode pipeline.Mode
		fail pipeline.Fail
		d    Decider
		want bool
	}{
		{"enforce hides", pipeline.ModeEnforce, pipeline.FailClosed, fake{visible: false}, false},
		{"enforce shows", pipeline.ModeEnforce, pipeline.FailClosed, fake{visible: true}, true},
		{"monitor never hides", pipeline.ModeMonitor, pipeline.FailClosed, fake{visible: false}, true},
		{"error closed hides", pipeline.ModeEnforce, pipeline.FailClosed, fake{err: errors.New("x")}, false},
		{"error open shows", pipeline.ModeEnforce, pipeline.FailOpen, fake{err: errors.New("x")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStage(t, tt.mode, tt.fail, tt.d)
			if got := s.Visible(context.Background(), c); got != tt.want {
				t.Errorf("Visible = %v, want %v", got, tt.want)
			}
		})
	}
}

// Package engine is the stage that asks a policy engine for its verdict. The native rules, the
// embedded Rego engine and the workflow policy pack are all pure deciders behind the same Decider
// interface, so one stage gives all of them the same treatment: the mode they run in (enforce,
// monitor, off), the fail posture when they error, an atomic swap for hot reload, and the
// gatehouse_policy_eval_seconds histogram.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// Decider is a pure policy engine: an input in, a verdict out, no I/O.
type Decider interface {
	// Decide returns the engine's verdict for in (request or response phase, by in.Phase).
	Decide(ctx context.Context, in *policy.Input) (policy.Verdict, error)
	// Visible reports whether a caller may use the item a hypothetical in names, with its arguments
	// unknown (SPEC §3.4).
	Visible(ctx context.Context, in *policy.Input) (bool, error)
	// Revision identifies the loaded policy.
	Revision() string
	// HasResponsePhase reports whether the policy decides results at all; when none does, results
	// are returned without being decoded.
	HasResponsePhase() bool
}

// Stage runs one engine.
type Stage struct {
	name    string
	mode    pipeline.Mode
	fail    pipeline.Fail
	decider atomic.Pointer[deciderBox]
	metrics *Metrics
	evalObs prometheus.Observer // metrics.eval for this engine, looked up once; nil without metrics
	logger  *slog.Logger
}

type deciderBox struct{ d Decider }

var (
	_ pipeline.Stage      = (*Stage)(nil)
	_ pipeline.Visibility = (*Stage)(nil)
)

// Config is how one engine runs.
type Config struct {
	// Name is the engine's name in verdicts, audit records and metrics: rules, rego, pack.
	Name string
	// Mode is enforce, monitor or off.
	Mode pipeline.Mode
	// Fail is the posture when the engine errors.
	Fail    pipeline.Fail
	Metrics *Metrics
	Logger  *slog.Logger
}

// New returns a stage running d. d may be nil: the engine is configured but has no policy loaded, and
// every call meets the fail posture (SPEC §5.7: a missing bundle fails open unless fail is closed).
func New(cfg Config, d Decider) *Stage {
	s := &Stage{name: cfg.Name, mode: cfg.Mode, fail: cfg.Fail, metrics: cfg.Metrics, logger: cfg.Logger}
	if cfg.Metrics != nil {
		s.evalObs = cfg.Metrics.eval.WithLabelValues(cfg.Name)
	}
	s.Swap(d)
	return s
}

// Swap replaces the decider atomically: calls in flight finish on the old one, the next call uses the
// new one.
func (s *Stage) Swap(d Decider) { s.decider.Store(&deciderBox{d}) }

// Current returns the decider in use, nil when none is loaded.
func (s *Stage) Current() Decider { return s.decider.Load().d }

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return s.name }

// HasResponsePhase reports whether the loaded policy decides results.
func (s *Stage) HasResponsePhase() bool {
	d := s.Current()
	return s.mode != pipeline.ModeOff && d != nil && d.HasResponsePhase()
}

// Mode returns the mode the engine runs in.
func (s *Stage) Mode() pipeline.Mode { return s.mode }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if s.mode == pipeline.ModeOff || (c.Input.Phase == policy.PhaseResponse && !s.HasResponsePhase()) {
		return next(ctx, c)
	}
	var end func(effect, code, rule string, monitor, failed bool)
	if c.Trace != nil {
		end = tracing.Policy(ctx, s.name, string(c.Input.Phase))
	}
	v := s.decide(ctx, c)
	if end != nil {
		end(string(v.Effect), string(v.Code), v.RuleID, v.Monitor, v.Fail != "")
	}
	c.Verdicts = append(c.Verdicts, v)
	return next(ctx, c)
}

func (s *Stage) decide(ctx context.Context, c *pipeline.Call) pipeline.Verdict {
	d := s.Current()
	if d == nil {
		return s.failed(c, fmt.Errorf("no %s policy is loaded", s.name))
	}
	var start time.Time
	if s.evalObs != nil {
		start = time.Now()
	}
	pv, err := d.Decide(ctx, &c.Input)
	if s.evalObs != nil {
		s.evalObs.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return s.failed(c, err)
	}
	pv.Engine = s.name
	if pv.Revision == "" {
		pv.Revision = d.Revision()
	}
	return pipeline.Verdict{Verdict: pv, Monitor: s.mode == pipeline.ModeMonitor}
}

// failed applies the fail posture to an engine error (SPEC §3.6).
func (s *Stage) failed(c *pipeline.Call, err error) pipeline.Verdict {
	if s.metrics != nil {
		s.metrics.errors.WithLabelValues(s.name).Inc()
	}
	v := pipeline.Verdict{Fail: s.fail, Error: err.Error(), Monitor: s.mode == pipeline.ModeMonitor}
	v.Engine = s.name
	if s.fail == pipeline.FailOpen {
		s.logger.Error("policy engine failed; failing open", "engine", s.name, "decision_id", c.DecisionID, "error", err)
		v.Effect = policy.EffectAllow
		v.Reason = "engine failed; fail open"
		return v
	}
	s.logger.Error("policy engine failed; failing closed", "engine", s.name, "decision_id", c.DecisionID, "error", err)
	v.Effect, v.Code, v.Reason = policy.EffectDeny, policy.CodePolicyError, "policy engine error"
	return v
}

// Visible implements pipeline.Visibility. Only an enforcing engine hides anything: monitor mode
// changes nothing a client sees.
func (s *Stage) Visible(ctx context.Context, c *pipeline.Call) bool {
	if s.mode != pipeline.ModeEnforce {
		return true
	}
	d := s.Current()
	if d == nil {
		return s.fail == pipeline.FailOpen
	}
	ok, err := d.Visible(ctx, &c.Input)
	if err != nil {
		s.logger.Error("policy engine failed on a visibility check", "engine", s.name, "error", err)
		return s.fail == pipeline.FailOpen
	}
	return ok
}

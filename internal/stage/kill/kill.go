// Package kill is the stage that enforces kill switches (SPEC §10.4) and carries out kill_session
// decisions. It sits before the policy engines, so a killed session is refused without spending any
// policy evaluation on it, and it sees the combined decision on the way back, so a kill_session from
// any engine disables the session for every later request.
package kill

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Stage refuses calls in a killed scope and kills sessions when a decision says so.
type Stage struct {
	store   state.Store
	logger  *slog.Logger
	metrics *Metrics
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns the kill stage over store; m may be nil.
func New(store state.Store, logger *slog.Logger, m *Metrics) *Stage {
	return &Stage{store: store, logger: logger, metrics: m}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "kill" }

// Scopes lists the kill scopes a call belongs to, broadest first.
func Scopes(in *policy.Input) []string {
	scopes := []string{"all"}
	if in.Tenant != "" {
		scopes = append(scopes, "tenant:"+in.Tenant)
	}
	if in.Agent.ID != "" {
		scopes = append(scopes, "agent:"+in.Agent.ID)
	}
	if in.Session.RunID != "" {
		scopes = append(scopes, "run:"+in.Session.RunID)
	}
	if in.Session.ID != "" {
		scopes = append(scopes, "session:"+in.Session.ID)
	}
	return scopes
}

// Target is the scope a kill_session decision on the call in disables: its session; for a
// 2026-07-28 request, which has none, its agent (never a run the client names, which it could change
// at will, or name to kill another caller's run). It is "" when the call has neither.
func Target(in *policy.Input) string { return in.Holder(policy.ScopeSession) }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	scope, reason, err := s.store.Killed(ctx, Scopes(&c.Input)...)
	if err != nil {
		// The kill state cannot be read: a killed session must not slip through a state outage.
		c.Refuse(s.Name(), policy.CodeSessionKilled, "kill state unavailable")
		return fmt.Errorf("kill state: %w", err)
	}
	if scope != "" {
		c.Refuse(s.Name(), policy.CodeSessionKilled, fmt.Sprintf("%s is killed: %s", scope, reason))
		return nil
	}
	if err := next(ctx, c); err != nil {
		return err
	}
	if c.Decision.Effect != policy.EffectKillSession {
		return nil
	}
	c.Decision.Code = policy.CodeSessionKilled
	target := Target(&c.Input)
	if target == "" {
		s.logger.Error("kill_session for a call with no session, run or agent: only the call is refused", "rule_id", c.Decision.RuleID, "decision_id", c.DecisionID)
		return nil
	}
	why := c.Decision.Reason
	if why == "" {
		why = "rule " + c.Decision.RuleID
	}
	if err := s.store.Kill(ctx, target, why); err != nil {
		return fmt.Errorf("kill %s: %w", target, err)
	}
	s.metrics.kill(c.Decision.Engine)
	s.logger.Warn("session killed", "scope", target, "rule_id", c.Decision.RuleID, "decision_id", c.DecisionID)
	return nil
}

// Package budget is the stage that enforces the stateful limits a deciding rule carries: budgets that
// sum an argument across calls and rate limits (SPEC §4.4). It runs after the engines' verdicts are
// combined, and only for calls that will be forwarded, because a budget counts forwarded calls only:
// a reservation is taken back if anything later stops the call (a hold, a failed audit write, an
// unreachable upstream).
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Stage enforces budgets and rate limits.
type Stage struct {
	store  state.Store
	fail   pipeline.Fail
	logger *slog.Logger
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns the budget stage. fail decides what happens when the state store cannot answer.
func New(store state.Store, fail pipeline.Fail, logger *slog.Logger) *Stage {
	return &Stage{store: store, fail: fail, logger: logger}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "budget" }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if !c.Decision.Forwards() {
		return next(ctx, c)
	}
	var releases []state.Release
	giveBack := func() {
		for i := len(releases) - 1; i >= 0; i-- {
			releases[i]()
		}
	}
	for i := range c.Verdicts {
		v := &c.Verdicts[i]
		if !v.Effect.Forwards() {
			continue
		}
		if b := v.Budget; b != nil {
			key := Key("budget", b.Key, b.Scope, &c.Input)
			total, ok, rel, err := s.store.Reserve(ctx, key, b.Amount, b.Limit, b.Window)
			if err != nil {
				if s.storeFailed(c, v, err) {
					giveBack()
					return nil
				}
				continue
			}
			if !ok {
				reason := fmt.Sprintf("budget %q: %s + %s would exceed %s per %s", b.Key, num(total), num(b.Amount), num(b.Limit), b.Scope)
				if s.exceeded(c, v, policy.CodeBudgetExceeded, reason) {
					giveBack()
					return nil
				}
				continue
			}
			releases = append(releases, rel)
		}
		if r := v.Rate; r != nil {
			key := Key("rate", r.Key, r.Scope, &c.Input)
			ok, retry, rel, err := s.store.Admit(ctx, key, r.Limit, r.Per)
			if err != nil {
				if s.storeFailed(c, v, err) {
					giveBack()
					return nil
				}
				continue
			}
			if !ok {
				reason := fmt.Sprintf("rate %q: more than %d calls per %s per %s", r.Key, r.Limit, r.Per, r.Scope)
				if s.exceeded(c, v, policy.CodeRateLimited, reason) {
					c.Decision.RetryAfter = retry
					giveBack()
					return nil
				}
				continue
			}
			releases = append(releases, rel)
		}
	}
	if err := next(ctx, c); err != nil {
		giveBack()
		return err
	}
	if !c.Decision.Forwards() {
		giveBack()
		return nil
	}
	for _, r := range releases {
		c.Decision.OnAbandon(r)
	}
	return nil
}

// exceeded applies a limit that was hit: a refusal, or for a monitored verdict a would-be refusal.
// It reports whether the call was refused.
func (s *Stage) exceeded(c *pipeline.Call, v *pipeline.Verdict, code policy.Code, reason string) bool {
	if v.Monitor {
		if c.Decision.Would == "" {
			c.Decision.Would, c.Decision.WouldCode, c.Decision.WouldRule, c.Decision.WouldReason = policy.EffectDeny, code, v.RuleID, reason
		}
		return false
	}
	c.Refuse(s.Name(), code, reason)
	c.Decision.RuleID = v.RuleID
	return true
}

// storeFailed applies the fail posture to a state store error and reports whether the call was refused.
func (s *Stage) storeFailed(c *pipeline.Call, v *pipeline.Verdict, err error) bool {
	if (s.fail == pipeline.FailOpen && !errors.Is(err, state.ErrCallerFull)) || v.Monitor {
		s.logger.Error("budget state unavailable; failing open", "rule_id", v.RuleID, "decision_id", c.DecisionID, "error", err)
		c.Decision.Fail, c.Decision.EngineError = pipeline.FailOpen, "budget state: "+err.Error()
		return false
	}
	s.logger.Error("budget state unavailable; refusing", "rule_id", v.RuleID, "decision_id", c.DecisionID, "error", err)
	c.Refuse(s.Name(), policy.CodePolicyError, "budget state unavailable")
	c.Decision.RuleID = v.RuleID
	c.Decision.Fail, c.Decision.EngineError = pipeline.FailClosed, "budget state: "+err.Error()
	return true
}

// RunIdle is how long a counter kept per run may go unused before it is dropped. A client names its
// runs, so a run's budget bounds a well-behaved workflow, not a hostile caller (which can start
// another run); without this, every run ever named would be remembered.
const RunIdle = 24 * time.Hour

// SessionIdle is how long a counter kept per session may go unused before it is dropped. A
// session's counters are dropped when it ends; this bounds those of a session whose end gatehouse
// never saw (a gatehouse run killed with SIGKILL, its counters kept in Redis).
const SessionIdle = 24 * time.Hour

// Key is the state key of a budget or rate counter: what it counts (its kind, name and scope) and
// whom it is counted for (policy.Input.Holder: a scope the call has no value for falls back to its
// session, then its agent). Calls without any (no agent id, no tenant) share the counter of all
// such calls, which is the conservative choice. The key is owned by the calling agent, whose share
// of the store is bounded.
func Key(kind, name string, scope policy.Scope, in *policy.Input) state.Key {
	if scope == "" {
		scope = policy.ScopeSession
	}
	k := state.Key{Holder: in.Holder(scope), Name: kind + ":" + name + ":" + string(scope), Owner: in.Agent.ID}
	switch {
	case strings.HasPrefix(k.Holder, "run:"):
		k.Idle = RunIdle
	case strings.HasPrefix(k.Holder, "session:"):
		k.Idle = SessionIdle
	}
	return k
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

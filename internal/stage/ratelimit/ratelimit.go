// Package ratelimit is the stage that enforces the gateway's own rate limits: per caller identity,
// per tenant and per tool (SPEC §8.7), configured by the operator rather than by a policy. Unlike a
// rule's rate (which counts only forwarded calls, like a budget), these count every attempt: they
// protect the gateway and its upstreams from a caller that floods them, whatever the policy would
// have said. The stage runs after the policy engines, as SPEC §3.1 orders the request path
// (engines, then budgets and rate limits), so every call's record still says what policy decided;
// it counts refused and allowed attempts alike.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Scope is what a limit is counted per.
type Scope string

// The scopes.
const (
	ScopeIdentity Scope = "identity"
	ScopeTenant   Scope = "tenant"
	ScopeTool     Scope = "tool"
	// ScopeIdentityTool counts each caller's calls to each tool separately.
	ScopeIdentityTool Scope = "identity_tool"
)

// Limit is one rate limit.
type Limit struct {
	// Scope is what the limit is counted per.
	Scope Scope
	// Limit calls per Per are admitted (a burst of Limit, refilled smoothly).
	Limit int
	Per   time.Duration
	// Tools restricts the limit to calls whose target matches one of these path.Match globs; empty
	// applies it to every decided request.
	Tools []string
}

// Stage enforces the limits.
type Stage struct {
	limits []Limit
	store  state.Store
	fail   pipeline.Fail
	logger *slog.Logger
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns the stage. fail decides what a state store failure does.
func New(limits []Limit, store state.Store, fail pipeline.Fail, logger *slog.Logger) *Stage {
	return &Stage{limits: limits, store: store, fail: fail, logger: logger}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "ratelimit" }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	target := c.Input.Target()
	for i, l := range s.limits {
		if len(l.Tools) > 0 && !matchAny(l.Tools, target) {
			continue
		}
		key := state.Key{Holder: string(l.Scope) + ":" + scopeValue(l.Scope, &c.Input), Name: "ratelimit:" + strconv.Itoa(i), Owner: c.Input.User.ID}
		ok, retry, _, err := s.store.Admit(ctx, key, l.Limit, l.Per)
		if err != nil {
			if s.fail == pipeline.FailOpen && !errors.Is(err, state.ErrCallerFull) {
				s.logger.Error("rate limit state unavailable; failing open", "error", err, "decision_id", c.DecisionID)
				continue
			}
			s.logger.Error("rate limit state unavailable; refusing", "error", err, "decision_id", c.DecisionID)
			c.Refuse(s.Name(), policy.CodePolicyError, "rate limit state unavailable")
			c.Decision.Fail, c.Decision.EngineError = pipeline.FailClosed, "rate limit state: "+err.Error()
			return nil
		}
		if !ok {
			c.Refuse(s.Name(), policy.CodeRateLimited, fmt.Sprintf("more than %d requests per %s per %s", l.Limit, l.Per, l.Scope))
			c.Decision.RetryAfter = retry
			return nil
		}
	}
	return next(ctx, c)
}

func scopeValue(scope Scope, in *policy.Input) string {
	switch scope {
	case ScopeTenant:
		return in.Tenant
	case ScopeTool:
		return in.Kind + " " + in.Target()
	case ScopeIdentityTool:
		return in.User.ID + "\x00" + in.Kind + " " + in.Target()
	}
	return in.User.ID
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

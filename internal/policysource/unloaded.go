package policysource

import (
	"context"
	"log/slog"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

// Unloaded stands in for the Rego engine while no bundle has loaded and the operator has chosen no
// fail posture (SPEC §5.7: with the engine on and the bundle missing, gatehouse starts, fails open for
// Rego and logs an error, unless fail: closed). It allows every call and logs each at ERROR, so the
// gap is loud; it is swapped out by the first bundle that loads. With a fail posture configured, the
// engine stage runs with no decider instead, and the posture decides.
type Unloaded struct {
	// Logger receives one ERROR per decision.
	Logger *slog.Logger
	// Source names the bundle that is missing.
	Source string
}

// UnloadedReason is the reason on every verdict Unloaded gives.
const UnloadedReason = "no Rego bundle is loaded: failing open (set fail: closed to refuse instead)"

// Decide allows, and logs that it did.
func (u Unloaded) Decide(_ context.Context, in *policy.Input) (policy.Verdict, error) {
	u.Logger.Error("no policy bundle loaded; failing open", "engine", "rego", "source", u.Source, "method", redact.Clip(in.Kind, 200), "target", redact.Clip(in.Target(), 200))
	return policy.Verdict{Effect: policy.EffectAllow, Reason: UnloadedReason, Revision: "none"}, nil
}

// Visible shows everything: without a policy nothing can be proven refused.
func (Unloaded) Visible(context.Context, *policy.Input) (bool, error) { return true, nil }

// Revision is "none".
func (Unloaded) Revision() string { return "none" }

// HasResponsePhase is false: there is no policy to look at results.
func (Unloaded) HasResponsePhase() bool { return false }

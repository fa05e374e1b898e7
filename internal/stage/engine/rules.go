package engine

import (
	"context"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
)

// Rules adapts a native rules policy (SPEC §4) to Decider. The rules engine cannot fail at decision
// time: everything that could go wrong was refused when the file was loaded.
type Rules struct{ p *rules.Policy }

var _ Decider = Rules{}

// NewRules wraps p.
func NewRules(p *rules.Policy) Rules { return Rules{p: p} }

// Decide implements Decider.
func (r Rules) Decide(_ context.Context, in *policy.Input) (policy.Verdict, error) {
	return r.p.Decide(in), nil
}

// Visible implements Decider.
func (r Rules) Visible(_ context.Context, in *policy.Input) (bool, error) {
	return r.p.Visible(in), nil
}

// Revision implements Decider.
func (r Rules) Revision() string { return r.p.Revision() }

// HasResponsePhase implements Decider.
func (r Rules) HasResponsePhase() bool { return r.p.HasResponseRules() }

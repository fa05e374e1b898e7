package pipeline

import (
	"context"
)

// Handler continues a call through the rest of the chain.
type Handler func(ctx context.Context, c *Call) error

// Stage is one step of the request or response path. Handle either refuses the call (setting
// c.Decision through c.Refuse and returning without calling next) or calls next exactly once. An error
// is an internal fault, not a refusal: the caller turns it into an opaque internal error.
type Stage interface {
	Name() string
	Handle(ctx context.Context, c *Call, next Handler) error
}

// Chain is an ordered, immutable list of stages built once at start-up.
type Chain struct {
	stages []Stage
	first  Handler
}

// NewChain links stages in the order given. The final next is a no-op, so next is never nil.
func NewChain(stages ...Stage) *Chain {
	ch := &Chain{stages: stages}
	h := Handler(func(context.Context, *Call) error { return nil })
	for i := len(stages) - 1; i >= 0; i-- {
		s, next := stages[i], h
		h = func(ctx context.Context, c *Call) error { return s.Handle(ctx, c, next) }
	}
	ch.first = h
	return ch
}

// Run sends c through the chain.
func (ch *Chain) Run(ctx context.Context, c *Call) error { return ch.first(ctx, c) }

// Stages returns the stages in order.
func (ch *Chain) Stages() []Stage { return append([]Stage(nil), ch.stages...) }

// Names lists the stages in order, for start-up logs and /readyz.
func (ch *Chain) Names() []string {
	out := make([]string, len(ch.stages))
	for i, s := range ch.stages {
		out[i] = s.Name()
	}
	return out
}

// Decide is the stage that combines the verdicts of the engines before it into c.Decision. Stages
// after it (budgets, approvals) act on that decision.
type Decide struct{}

var _ Stage = Decide{}

// Name implements Stage.
func (Decide) Name() string { return "decide" }

// Handle implements Stage.
func (Decide) Handle(ctx context.Context, c *Call, next Handler) error {
	c.Decision = Combine(c.Verdicts)
	for _, v := range c.Verdicts {
		switch v.Engine {
		case "rules":
			c.Decision.Revisions.Rules = v.Revision
		case "rego":
			c.Decision.Revisions.Bundle = v.Revision
		case "pack":
			c.Decision.Revisions.Pack = v.Revision
		}
	}
	return next(ctx, c)
}

// Visibility is implemented by engines that can say whether a caller may use a listed item, so that
// list results show exactly what may be called (SPEC §3.4). in describes a hypothetical use of the item
// with unknown arguments.
type Visibility interface {
	Visible(ctx context.Context, in *Call) bool
}

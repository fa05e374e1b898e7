// Package identity is the stage that says who is calling. For the stdio wrapper that is a trusted
// local identity given on the command line (--agent, --roles): the process that launched gatehouse is
// the only client, so there is nothing to verify. Signed agent tokens and OAuth bearer tokens replace
// this stage's source of truth without changing its place in the chain.
package identity

import (
	"context"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Local is the identity stage for a trusted local caller.
type Local struct {
	principal policy.Principal
}

var _ pipeline.Stage = (*Local)(nil)

// NewLocal returns a stage that attributes every call to the agent id with roles. The same principal
// is the agent and the user: locally there is no separate human login.
func NewLocal(agentID string, roles []string) *Local {
	return &Local{principal: policy.Principal{ID: agentID, Roles: append([]string{}, roles...), Claims: map[string]any{}}}
}

// Name implements pipeline.Stage.
func (*Local) Name() string { return "identity" }

// Handle implements pipeline.Stage.
func (l *Local) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	c.Input.Agent = l.principal
	c.Input.User = l.principal
	return next(ctx, c)
}

// Transport is the identity stage for `gatehouse serve`: the HTTP transport has already
// authenticated the caller (bearer token, API key, or anonymous on a loopback listener), and the
// stage makes that principal the call's user and agent.
type Transport struct{}

var _ pipeline.Stage = Transport{}

// Name implements pipeline.Stage.
func (Transport) Name() string { return "identity" }

// Handle implements pipeline.Stage.
func (Transport) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if c.Principal == nil {
		c.Refuse("identity", policy.CodeUnauthenticated, "no authenticated caller")
		return nil
	}
	p := *c.Principal
	if p.Roles == nil {
		p.Roles = []string{}
	}
	if p.Claims == nil {
		p.Claims = map[string]any{}
	}
	c.Input.User, c.Input.Agent = p, p
	return next(ctx, c)
}

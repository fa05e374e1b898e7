// Package tenancy holds the stages that keep every call inside its engagement (SPEC §8.1, §8.2).
// Resolve sits right after identity: a call whose engagement the transport could not establish — none
// named, sources that disagree, a header from an untrusted peer — is refused as cross_tenant and
// audited as an attempted violation. Allowlist sits after the kill switch: a tools/call outside the
// engagement's allowlist is refused the same way, and list results show only allowlisted tools.
package tenancy

import (
	"context"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
)

// Resolve refuses calls without an engagement.
type Resolve struct{}

var _ pipeline.Stage = Resolve{}

// Name implements pipeline.Stage.
func (Resolve) Name() string { return "tenant" }

// Handle implements pipeline.Stage.
func (Resolve) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	switch {
	case c.TenantProblem != "":
		c.Refuse("tenant", policy.CodeCrossTenant, c.TenantProblem)
		return nil
	case c.Input.Tenant == "":
		c.Refuse("tenant", policy.CodeCrossTenant, "the request names no engagement")
		return nil
	}
	return next(ctx, c)
}

// Allowlist refuses tools outside the engagement's allowlist and hides them from lists.
type Allowlist struct {
	lists *tenancy.Allowlists
}

var (
	_ pipeline.Stage      = (*Allowlist)(nil)
	_ pipeline.Visibility = (*Allowlist)(nil)
)

// NewAllowlist returns the stage enforcing lists.
func NewAllowlist(lists *tenancy.Allowlists) *Allowlist { return &Allowlist{lists: lists} }

// Name implements pipeline.Stage.
func (*Allowlist) Name() string { return "allowlist" }

// Handle implements pipeline.Stage.
func (a *Allowlist) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if c.Input.Kind == mcp.MethodToolsCall && !a.lists.Allowed(c.Input.Tenant, c.Input.Tool.Name) {
		c.Refuse("allowlist", policy.CodeCrossTenant,
			fmt.Sprintf("tool %q is not on engagement %q's allowlist", c.Input.Tool.Name, c.Input.Tenant))
		return nil
	}
	return next(ctx, c)
}

// Visible implements pipeline.Visibility: only tools are allowlisted.
func (a *Allowlist) Visible(_ context.Context, c *pipeline.Call) bool {
	return c.Input.Kind != mcp.MethodToolsCall || a.lists.Allowed(c.Input.Tenant, c.Input.Tool.Name)
}

// Package approval is the stage that turns a hold (require_approval, hold_for_approval) into an
// approval request. Until the approval flow of SPEC §10 exists, a held call is answered at once with
// reason approval_required and the id of the approval it would wait for; it is never forwarded.
package approval

import (
	"context"
	"crypto/rand"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Stage handles holds.
type Stage struct{}

var _ pipeline.Stage = Stage{}

// Name implements pipeline.Stage.
func (Stage) Name() string { return "approval" }

// Handle implements pipeline.Stage.
func (Stage) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	if c.Decision.Effect != policy.EffectRequireApproval {
		return next(ctx, c)
	}
	c.Decision.Code = policy.CodeApprovalRequired
	c.Decision.ApprovalID = "apr_" + rand.Text()
	if c.Decision.Reason == "" {
		c.Decision.Reason = "this call needs a human approval"
	}
	return nil
}

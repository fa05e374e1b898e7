package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// approvalOptions turns the approvals section into the gateway's approval options, starting the
// webhook's delivery until ctx ends when one is configured.
func approvalOptions(ctx context.Context, c config.ApprovalsConfig, getenv func(string) string, logger *slog.Logger) (approval.Options, error) {
	o := approval.Options{Wait: c.Wait.D(), TTL: c.TTL.D(), MaxPending: c.MaxPending, MaxPendingPerCaller: c.MaxPendingPerCaller}
	w := c.Webhook
	if w.URL == "" {
		return o, nil
	}
	secret, err := readSecret("approvals.webhook.secret", w.SecretEnv, w.SecretFile, "webhook secret", getenv)
	if err != nil {
		return o, err
	}
	hook := approval.NewWebhook(w.URL, secret, w.Timeout.D(), logger)
	go hook.Run(ctx)
	o.Notify = hook.Notify
	logger.Info("new holds are announced to the approval webhook", "signed", len(secret) > 0)
	return o, nil
}

// approvalAPI is the admin API of approvals; every decision is audited before it takes effect.
// Deciding needs the admin token (admin.token_sha256): without one, any local process could approve.
func approvalAPI(store state.ApprovalStore, tokenSet bool, rec *audit.Recorder, logger *slog.Logger) *approval.Admin {
	return &approval.Admin{Store: store, Logger: logger, Authenticated: tokenSet, Record: func(ctx context.Context, d approval.Decision) error {
		a := d.Approval
		args, _ := json.Marshal(map[string]string{"approval_id": a.ID, "approver": d.Approver, "note": d.Note, "call_digest": a.Digest, "caller": a.Caller})
		status, detail := "applied", fmt.Sprintf("%s of %s %s for %s by %s", d.Action, a.Method, a.Tool, orNone(a.Caller), d.Approver)
		if !d.Applied {
			status, detail = "not_applied", fmt.Sprintf("%s of approval %s recorded above was not applied: %s", d.Action, a.ID, d.Detail)
		}
		effect := map[string]string{"approve": "allow", "deny": "deny"}[d.Action]
		return rec.Event("adm_"+rand.Text(), audit.Event{Method: "admin/approvals." + d.Action, Engine: "admin", Effect: effect,
			Status: status, Tenant: a.Tenant, User: d.Approver, ClientIP: d.ClientIP, Upstream: a.Upstream, Tool: a.Tool,
			ApprovalID: a.ID, Args: args, Detail: detail}).Wait()
	}}
}

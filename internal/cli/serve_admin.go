package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/pin"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
)

// allowlistAPI is the admin API of engagement allowlists; every change is audited before it is
// acknowledged, and undone if it cannot be.
func allowlistAPI(lists *tenancy.Allowlists, rec *audit.Recorder, logger *slog.Logger) *tenancy.Admin {
	return &tenancy.Admin{Lists: lists, Logger: logger, Record: func(ctx context.Context, c tenancy.Change) error {
		args, _ := json.Marshal(map[string]any{"tools": c.After.Tools})
		detail := fmt.Sprintf("allowlist of %s: %s (%s) -> %s", c.After.Engagement, strings.Join(c.Before.Tools, ","), c.Before.Origin, strings.Join(c.After.Tools, ","))
		return rec.Event("adm_"+rand.Text(), audit.Event{Method: "admin/allowlist." + c.Action, Engine: "admin", Effect: "allow",
			Status: "applied", Tenant: c.After.Engagement, User: c.By, ClientIP: c.ClientIP, Args: args, Detail: detail}).Wait()
	}}
}

// pinAPI is the admin API of tool pins; every approval is audited before it is acknowledged, and
// undone if it cannot be.
func pinAPI(pins *pin.Pinner, rec *audit.Recorder, logger *slog.Logger) *pin.Admin {
	return &pin.Admin{Pins: pins, Logger: logger, Record: func(ctx context.Context, a pin.Approval) error {
		args, _ := json.Marshal(map[string]string{"digest": a.Digest})
		return rec.Event("adm_"+rand.Text(), audit.Event{Method: "admin/pins.approve", Engine: "admin", Effect: "allow",
			Status: "applied", Upstream: a.Upstream, Tool: a.Tool, User: a.By, ClientIP: a.ClientIP, Args: args,
			Detail: fmt.Sprintf("approved %s (was approved %s, %s)", a.Digest, orNone(a.Before.Approved), a.Before.Reason)}).Wait()
	}}
}

// killAPI is the admin API of the kill switch; every kill and lift is audited before it is
// acknowledged, and undone if it cannot be.
func killAPI(store state.Store, rec *audit.Recorder, logger *slog.Logger) *kill.Admin {
	return &kill.Admin{Store: store, Logger: logger, Record: func(ctx context.Context, c kill.Change) error {
		args, _ := json.Marshal(map[string]string{"scope": c.Scope, "reason": c.Reason})
		tenant, ok := strings.CutPrefix(c.Scope, "tenant:")
		if !ok {
			tenant = ""
		}
		detail := fmt.Sprintf("%s %s: %s", map[string]string{"kill": "killed", "lift": "lifted the kill of"}[c.Action], c.Scope, c.Reason)
		return rec.Event("adm_"+rand.Text(), audit.Event{Method: "admin/kills." + c.Action, Engine: "admin", Effect: "allow",
			Status: "applied", Tenant: tenant, User: c.By, ClientIP: c.ClientIP, Args: args, Detail: detail}).Wait()
	}}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

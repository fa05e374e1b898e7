package kill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Change is an operator's kill or lift, for the audit log.
type Change struct {
	// Action is "kill" or "lift".
	Action, Scope, Reason string
	By, ClientIP          string
}

// Admin serves the kill switch's admin API (SPEC §10.4):
//
//	GET  /admin/v1/kills        the killed scopes, oldest first
//	POST /admin/v1/kills        {"scope": "agent:a", "reason": "..."} kills the scope
//	POST /admin/v1/kills/lift   {"scope": "agent:a"} lifts it
//
// A scope is "all", or "session:", "run:", "agent:" or "tenant:" followed by an id. It travels in
// the body, never in the path, where a '/' or a '?' in an id would be cleaned or cut into another
// scope. Every change is audited before it is acknowledged, and undone if it cannot be.
type Admin struct {
	Store state.Store
	// Record writes the audit record of a change.
	Record func(ctx context.Context, c Change) error
	Logger *slog.Logger

	mu sync.Mutex // one change at a time, so an undo restores what this change replaced
}

// Register adds the routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/kills", a.list)
	mux.HandleFunc("POST /admin/v1/kills", a.kill)
	mux.HandleFunc("POST /admin/v1/kills/lift", a.lift)
}

// Limits of what an operator may name, so that the audit record and the log stay readable.
const (
	maxScope  = 512
	maxReason = 1024
)

// ValidScope checks an operator's kill scope.
func ValidScope(scope string) error {
	if scope == "all" {
		return nil
	}
	if len(scope) > maxScope || !utf8.ValidString(scope) {
		return fmt.Errorf("a scope is valid UTF-8 of at most %d bytes", maxScope)
	}
	kind, id, ok := strings.Cut(scope, ":")
	switch {
	case !ok || (kind != "session" && kind != "run" && kind != "agent" && kind != "tenant"):
		return fmt.Errorf(`scope %q is not "all" or session:<id>, run:<id>, agent:<id>, tenant:<id>`, scope)
	case id == "":
		return fmt.Errorf("scope %q names no id", scope)
	}
	return nil
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	kills, err := a.Store.Kills(r.Context())
	if err != nil {
		a.Logger.Error("kill state unavailable", "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the kill state is unavailable")
		return
	}
	adminapi.JSON(w, http.StatusOK, map[string]any{"kills": kills})
}

// decode reads r's body into v and checks the scope it names; on failure it has answered.
func decode(w http.ResponseWriter, r *http.Request, v any, scope *string) bool {
	if !adminapi.Decode(w, r, v) {
		return false
	}
	if err := ValidScope(*scope); err != nil {
		adminapi.Error(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (a *Admin) kill(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Scope  string `json:"scope"`
		Reason string `json:"reason"`
	}
	if !decode(w, r, &body, &body.Scope) {
		return
	}
	scope := body.Scope
	if body.Reason == "" || len(body.Reason) > maxReason || !utf8.ValidString(body.Reason) {
		adminapi.Error(w, http.StatusBadRequest, fmt.Sprintf(`the body must be {"scope": "...", "reason": "<why, at most %d bytes>"}`, maxReason))
		return
	}
	ctx := r.Context()
	a.mu.Lock()
	defer a.mu.Unlock()
	was, before, err := a.Store.Killed(ctx, scope)
	if err == nil {
		err = a.Store.Kill(ctx, scope, body.Reason)
	}
	if err != nil {
		a.Logger.Error("kill not saved", "scope", scope, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the kill could not be saved; nothing changed")
		return
	}
	if !a.audited(w, r, Change{Action: "kill", Scope: scope, Reason: body.Reason}, func() error {
		// Only this change is undone: a kill that replaced it meanwhile (a decision's) stays.
		if _, now, err := a.Store.Killed(ctx, scope); err != nil || now != body.Reason {
			return err
		}
		if was == "" {
			_, err := a.Store.Lift(ctx, scope)
			return err
		}
		return a.Store.Kill(ctx, scope, before)
	}) {
		return
	}
	a.Logger.Warn("scope killed by an operator", "scope", scope, "reason", body.Reason)
	adminapi.JSON(w, http.StatusOK, map[string]string{"scope": scope, "reason": body.Reason})
}

func (a *Admin) lift(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Scope string `json:"scope"`
	}
	if !decode(w, r, &body, &body.Scope) {
		return
	}
	scope := body.Scope
	ctx := r.Context()
	a.mu.Lock()
	defer a.mu.Unlock()
	was, before, err := a.Store.Killed(ctx, scope)
	if err == nil && was != "" {
		_, err = a.Store.Lift(ctx, scope)
	}
	switch {
	case err != nil:
		a.Logger.Error("lift not saved", "scope", scope, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the lift could not be saved; nothing changed")
		return
	case was == "":
		adminapi.Error(w, http.StatusNotFound, "the scope is not killed")
		return
	}
	if !a.audited(w, r, Change{Action: "lift", Scope: scope, Reason: before}, func() error {
		// Only this change is undone: a scope killed again meanwhile keeps that kill.
		if now, _, err := a.Store.Killed(ctx, scope); err != nil || now != "" {
			return err
		}
		return a.Store.Kill(ctx, scope, before)
	}) {
		return
	}
	a.Logger.Warn("kill lifted by an operator", "scope", scope, "was", before)
	adminapi.JSON(w, http.StatusOK, map[string]string{"scope": scope, "lifted": before})
}

// audited records c, and when it cannot, undoes the change and answers 503. It reports whether c
// was recorded.
func (a *Admin) audited(w http.ResponseWriter, r *http.Request, c Change, undo func() error) bool {
	c.By, c.ClientIP = "admin", r.RemoteAddr
	if err := a.Record(r.Context(), c); err != nil {
		a.Logger.Error("kill switch change not audited; undoing it", "action", c.Action, "scope", c.Scope, "error", err)
		if uerr := undo(); uerr != nil {
			a.Logger.Error("kill switch change could not be undone", "action", c.Action, "scope", c.Scope, "error", uerr)
		}
		adminapi.Error(w, http.StatusServiceUnavailable, "the change could not be audited; nothing changed")
		return false
	}
	return true
}

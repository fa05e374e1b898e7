package tenancy

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
)

// Change is one allowlist change made through the admin API, for the audit log.
type Change struct {
	Action   string // "put" or "patch"
	By       string // who made it, as the admin listener authenticated them
	ClientIP string
	Before   View
	After    View
}

// Admin serves the allowlist admin API (SPEC §8.2):
//
//	GET   /admin/v1/engagements                  engagements with a configured or admin-set list
//	GET   /admin/v1/engagements/{id}/allowlist   one engagement's allowlist
//	PUT   /admin/v1/engagements/{id}/allowlist   {"tools": [...]} replaces it
//	PATCH /admin/v1/engagements/{id}/allowlist   {"add": [...], "remove": [...]} edits it
//
// Authentication is the admin listener's; this handler trusts its caller.
type Admin struct {
	Lists *Allowlists
	// Record writes the audit record of a change. A change whose record cannot be written is undone
	// and refused: no unaudited change stands.
	Record func(ctx context.Context, c Change) error
	Logger *slog.Logger
	// By names the caller of r for the audit record; default "admin".
	By  func(r *http.Request) string
	Now func() time.Time

	mu sync.Mutex // one change at a time, so an undo restores exactly what it replaced
}

// Register adds the admin API's routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/engagements", a.list)
	mux.HandleFunc("GET /admin/v1/engagements/{id}/allowlist", a.get)
	mux.HandleFunc("PUT /admin/v1/engagements/{id}/allowlist", a.put)
	mux.HandleFunc("PATCH /admin/v1/engagements/{id}/allowlist", a.patch)
}

func (a *Admin) list(w http.ResponseWriter, _ *http.Request) {
	adminapi.JSON(w, http.StatusOK, map[string]any{"engagements": a.Lists.Engagements()})
}

func (a *Admin) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ValidID(id); err != nil {
		adminapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	adminapi.JSON(w, http.StatusOK, a.Lists.Get(id))
}

type putBody struct {
	Tools *[]string `json:"tools"`
}

type patchBody struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func (a *Admin) put(w http.ResponseWriter, r *http.Request) {
	var b putBody
	if !adminapi.Decode(w, r, &b) {
		return
	}
	if b.Tools == nil {
		adminapi.Error(w, http.StatusBadRequest, `the body must be {"tools": [...]}`)
		return
	}
	a.change(w, r, "put", func([]string) ([]string, error) { return dedupe(*b.Tools), nil })
}

func (a *Admin) patch(w http.ResponseWriter, r *http.Request) {
	var b patchBody
	if !adminapi.Decode(w, r, &b) {
		return
	}
	if len(b.Add) == 0 && len(b.Remove) == 0 {
		adminapi.Error(w, http.StatusBadRequest, `the body must be {"add": [...], "remove": [...]} with at least one tool`)
		return
	}
	if err := ValidTools(b.Add); err != nil {
		adminapi.Error(w, http.StatusBadRequest, "add: "+err.Error())
		return
	}
	a.change(w, r, "patch", func(cur []string) ([]string, error) {
		out := slices.DeleteFunc(cur, func(t string) bool { return slices.Contains(b.Remove, t) })
		return dedupe(append(out, b.Add...)), nil
	})
}

func (a *Admin) change(w http.ResponseWriter, r *http.Request, action string, edit func([]string) ([]string, error)) {
	id := r.PathValue("id")
	if err := ValidID(id); err != nil {
		adminapi.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	by := "admin"
	if a.By != nil {
		by = a.By(r)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	before, after, err := a.Lists.Update(id, by, now(), edit)
	switch {
	case IsInvalid(err):
		adminapi.Error(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		a.Logger.Error("allowlist change not saved", "engagement", id, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the change could not be saved; nothing changed")
		return
	}
	c := Change{Action: action, By: by, ClientIP: r.RemoteAddr, Before: before, After: after}
	if err := a.Record(r.Context(), c); err != nil {
		a.Logger.Error("allowlist change not audited; undoing it", "engagement", id, "error", err)
		if rerr := a.Lists.Restore(before); rerr != nil {
			a.Logger.Error("allowlist change could not be undone", "engagement", id, "error", rerr)
		}
		adminapi.Error(w, http.StatusServiceUnavailable, "the change could not be audited; nothing changed")
		return
	}
	a.Logger.Info("allowlist changed", "engagement", id, "by", by, "action", action, "tools", len(after.Tools))
	adminapi.JSON(w, http.StatusOK, after)
}

func dedupe(tools []string) []string {
	out := make([]string, 0, len(tools))
	for _, t := range tools {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

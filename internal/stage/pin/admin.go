package pin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
)

// Approval is an operator's approval of a tool definition, for the audit log.
type Approval struct {
	Upstream, Tool string
	// Digest is the definition approved; Before is the record it replaced.
	Digest   string
	Before   Record
	By       string
	ClientIP string
}

// Admin serves the pin admin API (SPEC §9.3):
//
//	GET  /admin/v1/pins/{upstream}/{tool}           the pin: approved and seen digests, quarantine
//	POST /admin/v1/pins/{upstream}/{tool}/approve   {"digest": "sha256:..."} approves that definition
//
// Tool names are as clients see them (namespaced in federation). The digest must be the one seen
// last, so an operator never approves a definition that changed again after they reviewed it.
type Admin struct {
	Pins *Pinner
	// Record writes the audit record of an approval. An approval that cannot be audited is undone
	// and refused.
	Record func(ctx context.Context, a Approval) error
	Logger *slog.Logger
}

// Register adds the routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/pins/{upstream}/{tool}", a.get)
	mux.HandleFunc("POST /admin/v1/pins/{upstream}/{tool}/approve", a.approve)
}

type view struct {
	Upstream    string `json:"upstream"`
	Tool        string `json:"tool"`
	Approved    string `json:"approved"`
	Seen        string `json:"seen"`
	Reason      string `json:"reason,omitempty"`
	Quarantined bool   `json:"quarantined"`
}

func (a *Admin) get(w http.ResponseWriter, r *http.Request) {
	up, tool := r.PathValue("upstream"), r.PathValue("tool")
	rec, ok, err := a.Pins.Status(r.Context(), up, tool)
	switch {
	case err != nil:
		a.Logger.Error("pin store failed", "upstream", up, "tool", tool, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the pin store is unavailable")
	case !ok:
		adminapi.Error(w, http.StatusNotFound, "no such tool has been listed")
	default:
		adminapi.JSON(w, http.StatusOK, view{Upstream: up, Tool: tool, Approved: rec.Approved, Seen: rec.Seen, Reason: rec.Reason, Quarantined: rec.Quarantined()})
	}
}

func (a *Admin) approve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Digest string `json:"digest"`
	}
	if !adminapi.Decode(w, r, &body) {
		return
	}
	if body.Digest == "" {
		adminapi.Error(w, http.StatusBadRequest, `the body must be {"digest": "<the digest seen, from GET>"}`)
		return
	}
	ctx := r.Context()
	up, tool := r.PathValue("upstream"), r.PathValue("tool")
	before, _, _ := a.Pins.Status(ctx, up, tool)
	err := a.Pins.ApproveDigest(ctx, up, tool, body.Digest)
	switch {
	case errors.Is(err, ErrNotPinned):
		adminapi.Error(w, http.StatusNotFound, "no such tool has been listed")
		return
	case errors.Is(err, ErrDigestMismatch):
		adminapi.Error(w, http.StatusConflict, "the definition changed since it was reviewed: GET the pin again")
		return
	case err != nil:
		a.Logger.Error("approval not saved", "upstream", up, "tool", tool, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the approval could not be saved")
		return
	}
	if !before.Quarantined() {
		adminapi.JSON(w, http.StatusOK, view{Upstream: up, Tool: tool, Approved: before.Approved, Seen: before.Seen})
		return
	}
	if err := a.Record(ctx, Approval{Upstream: up, Tool: tool, Digest: body.Digest, Before: before, By: "admin", ClientIP: r.RemoteAddr}); err != nil {
		a.Logger.Error("approval not audited; undoing it", "upstream", up, "tool", tool, "error", err)
		approved := Record{Approved: body.Digest, Seen: body.Digest}
		if ok, uerr := a.Pins.store.CompareAndSwap(ctx, up, tool, &approved, before); !ok || uerr != nil {
			a.Logger.Error("approval could not be undone", "upstream", up, "tool", tool, "error", uerr)
		}
		adminapi.Error(w, http.StatusServiceUnavailable, "the approval could not be audited; nothing changed")
		return
	}
	a.Logger.Info("tool definition approved", "upstream", up, "tool", tool, "digest", body.Digest)
	adminapi.JSON(w, http.StatusOK, view{Upstream: up, Tool: tool, Approved: body.Digest, Seen: body.Digest})
}

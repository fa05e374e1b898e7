package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Decision is a human's decision on an approval, for the audit log (SPEC §10.3): a typed record of
// who decided what, why and when (the record's time).
type Decision struct {
	// Action is "approve" or "deny".
	Action   string
	Approval state.Approval
	Approver string
	Note     string
	ClientIP string
	// Applied is false for the second record of a decision that was recorded but could not be
	// applied (the approval stopped being pending in between); Detail then says why.
	Applied bool
	Detail  string
}

// Admin serves the approvals admin API (SPEC §10.3):
//
//	GET  /admin/v1/approvals            every approval kept, oldest first (?status=pending for one status)
//	GET  /admin/v1/approvals/{id}       one approval
//	POST /admin/v1/approvals/approve    {"id": "apr_…", "approver": "alice", "note": "…"}
//	POST /admin/v1/approvals/deny       {"id": "apr_…", "approver": "alice", "note": "…"}
//
// Listings leave out each approval's params (GET one for them). A decision needs the listener's
// token (Authenticated). A decision is recorded in the audit log before it takes effect: a decision that cannot be
// audited changes nothing (503). Only a pending approval can be decided (409 otherwise, with the
// approval as it stands).
type Admin struct {
	Store state.ApprovalStore
	// Authenticated says the admin listener requires a token. Without one, approvals are listed but
	// cannot be decided (403): any local process could approve.
	Authenticated bool
	// Record writes the audit record of a decision.
	Record func(ctx context.Context, d Decision) error
	Logger *slog.Logger
}

// Register adds the routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/approvals", a.list)
	mux.HandleFunc("GET /admin/v1/approvals/{id}", a.get)
	mux.HandleFunc("POST /admin/v1/approvals/approve", func(w http.ResponseWriter, r *http.Request) { a.decide(w, r, true) })
	mux.HandleFunc("POST /admin/v1/approvals/deny", func(w http.ResponseWriter, r *http.Request) { a.decide(w, r, false) })
}

// Limits of what an approver may write, so that the audit record and the log stay readable.
const (
	maxApprover = 128
	maxNote     = 1024
)

var statuses = []string{state.ApprovalPending, state.ApprovalApproved, state.ApprovalDenied, state.ApprovalUsed, state.ApprovalExpired}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(statuses, status) {
		adminapi.Error(w, http.StatusBadRequest, "status must be one of "+strings.Join(statuses, ", "))
		return
	}
	all, err := a.Store.Approvals(r.Context())
	if err != nil {
		a.unavailable(w, err)
		return
	}
	out := make([]state.Approval, 0, len(all))
	for _, ap := range all {
		if status == "" || ap.Status == status {
			ap.Params = ""
			out = append(out, ap)
		}
	}
	adminapi.JSON(w, http.StatusOK, map[string]any{"approvals": out})
}

func (a *Admin) get(w http.ResponseWriter, r *http.Request) {
	ap, err := a.Store.Approval(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, state.ErrNoApproval):
		adminapi.Error(w, http.StatusNotFound, "no such approval")
	case err != nil:
		a.unavailable(w, err)
	default:
		adminapi.JSON(w, http.StatusOK, ap)
	}
}

func (a *Admin) unavailable(w http.ResponseWriter, err error) {
	a.Logger.Error("approval state unavailable", "error", err)
	adminapi.Error(w, http.StatusServiceUnavailable, "the approval state is unavailable")
}

// validText checks an approver's name or note: valid UTF-8 of at most n bytes with no control
// characters.
func validText(s string, n int) bool {
	return len(s) <= n && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func (a *Admin) decide(w http.ResponseWriter, r *http.Request, approve bool) {
	var body struct {
		ID       string `json:"id"`
		Approver string `json:"approver"`
		Note     string `json:"note"`
	}
	if !a.Authenticated {
		adminapi.Error(w, http.StatusForbidden, "deciding approvals needs the admin listener's token (admin.token_sha256): without one, any local process could approve")
		return
	}
	if !adminapi.Decode(w, r, &body) {
		return
	}
	switch {
	case body.ID == "" || !validText(body.ID, 128):
		adminapi.Error(w, http.StatusBadRequest, `"id" must name an approval`)
		return
	case strings.TrimSpace(body.Approver) == "" || !validText(body.Approver, maxApprover):
		adminapi.Error(w, http.StatusBadRequest, fmt.Sprintf(`"approver" must name who decides: at most %d bytes, no control characters`, maxApprover))
		return
	case !validText(body.Note, maxNote):
		adminapi.Error(w, http.StatusBadRequest, fmt.Sprintf(`"note" is at most %d bytes, with no control characters`, maxNote))
		return
	}
	ctx := r.Context()
	ap, err := a.Store.Approval(ctx, body.ID)
	switch {
	case errors.Is(err, state.ErrNoApproval):
		adminapi.Error(w, http.StatusNotFound, "no such approval")
		return
	case err != nil:
		a.unavailable(w, err)
		return
	case ap.Status != state.ApprovalPending:
		adminapi.JSON(w, http.StatusConflict, map[string]any{"error": "the approval is " + ap.Status + ", not pending", "approval": ap})
		return
	}
	action := map[bool]string{true: "approve", false: "deny"}[approve]
	d := Decision{Action: action, Approval: ap, Approver: body.Approver, Note: body.Note, ClientIP: r.RemoteAddr, Applied: true}
	if err := a.Record(ctx, d); err != nil {
		a.Logger.Error("approval decision not audited; nothing changed", "approval_id", ap.ID, "action", action, "error", err)
		adminapi.Error(w, http.StatusServiceUnavailable, "the decision could not be audited; nothing changed")
		return
	}
	got, err := a.Store.DecideApproval(ctx, ap.ID, approve, body.Approver, body.Note)
	if err != nil {
		// Recorded but not applied: say so in the log too, so that it does not read as applied.
		d.Applied, d.Detail = false, err.Error()
		if rerr := a.Record(ctx, d); rerr != nil {
			a.Logger.Error("the failure of a recorded approval decision could not be audited", "approval_id", ap.ID, "error", rerr)
		}
		if errors.Is(err, state.ErrNotPending) {
			adminapi.JSON(w, http.StatusConflict, map[string]any{"error": "the approval is " + got.Status + ", not pending", "approval": got})
			return
		}
		a.unavailable(w, err)
		return
	}
	a.Logger.Warn("approval decided by an operator", "approval_id", got.ID, "status", got.Status, "approver", got.Approver, "tool", got.Tool, "caller", got.Caller)
	adminapi.JSON(w, http.StatusOK, got)
}

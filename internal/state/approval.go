package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// The states of an approval (SPEC §10.1). Pending and approved approvals whose Expires has passed
// read as expired; the stores never keep "expired" themselves.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalUsed     = "used"
	ApprovalExpired  = "expired"
)

// ApprovalRetention is how long an approval is kept, for listing and for its held client to read,
// after it expires.
const ApprovalRetention = time.Hour

// Approval is a held call and what a human decided about it (SPEC §10.1). It is bound to the exact
// call: the digest of its method and parameters (the tool and its arguments), its caller, its
// engagement and its upstream.
// An approved approval lets exactly one call with that binding through, once, before Expires.
type Approval struct {
	ID string `json:"id"`
	// Digest is the hex SHA-256 of the call's canonical method and parameters.
	Digest string `json:"call_digest"`
	// Caller is who made the call: "agent:<id>", "session:<id>" for an unauthenticated legacy
	// session, or "" for an anonymous caller with neither.
	Caller   string `json:"caller"`
	Tenant   string `json:"tenant,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	Method   string `json:"method"`
	Tool     string `json:"tool,omitempty"`
	// RuleID and Reason are the hold's: which rule held the call, and why.
	RuleID string `json:"rule_id,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Revision names the policies that held it (rules version, bundle revision, pack sha).
	Revision string `json:"policy_revision,omitempty"`
	// Params are the call's parameters as the human deciding sees them: whole, as compact JSON with
	// members sorted and numbers as the call wrote them, with values that read as secrets by their
	// form masked (not by the names of their members, which the caller chose). Not in listings or
	// the webhook.
	Params string `json:"params,omitempty"`
	// Arguments is a preview of the call's arguments, redacted as the audit log redacts them and
	// truncated: for listings and the webhook.
	Arguments string `json:"arguments_preview,omitempty"`
	// DecisionID is the decision that held the call.
	DecisionID string    `json:"decision_id"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	Status     string    `json:"status"`
	// Approver, Note and Decided are set when a human decides.
	Approver string    `json:"approver,omitempty"`
	Note     string    `json:"note,omitempty"`
	Decided  time.Time `json:"decided,omitzero"`
}

// Binding is the key an approval is bound to: its digest, caller, engagement and upstream, each
// length-prefixed so that no two bindings share a key.
func (a *Approval) Binding() string {
	h := sha256.New()
	for _, s := range []string{a.Digest, a.Caller, a.Tenant, a.Upstream} {
		h.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HoldOutcome is what ApprovalStore.Hold found for a call.
type HoldOutcome int

// The outcomes of Hold.
const (
	// HoldCreated: no live approval was bound to the call; a new pending one was stored.
	HoldCreated HoldOutcome = iota + 1
	// HoldPending: a pending approval for the same call exists (a retry before a decision).
	HoldPending
	// HoldApproved: an approved approval for the call was used up by this call.
	HoldApproved
	// HoldDenied: the approval for the call was denied. It is unbound, so the next identical call
	// is held anew.
	HoldDenied
)

// ErrNoApproval is returned for an approval id the store does not know (never made, or dropped
// ApprovalRetention after it expired).
var ErrNoApproval = errors.New("no such approval")

// ErrNotPending is returned by DecideApproval for an approval that is no longer pending: decided
// already, used, or expired. The approval as it stands is returned with it.
var ErrNotPending = errors.New("the approval is not pending")

// PendingLimits bound the approvals pending at once (0: no bound): in all, and for one caller in one
// engagement, so that one agent cannot fill the store for everyone.
type PendingLimits struct {
	Total, PerCaller int
}

// ErrTooManyPending is returned by Hold when the PendingLimits are reached.
var ErrTooManyPending = errors.New("too many approvals pending")

// ApprovalStore keeps approvals (SPEC §10.1, §11.1). Every method is atomic, across replicas for a
// shared store: an approval is decided once and used once.
type ApprovalStore interface {
	// Hold looks up the approval bound to a's binding (Approval.Binding):
	//   - approved and not expired: it is marked used and returned, HoldApproved;
	//   - pending and not expired: it is returned, HoldPending;
	//   - denied: it is returned, HoldDenied, and the binding is dropped;
	//   - otherwise (none, used, expired): a is stored as a new pending approval (its ID, Created
	//     and Expires as given, Status set to pending) and returned, HoldCreated, unless limits.Total
	//     approvals are pending and not expired already, or limits.PerCaller of a's Caller and
	//     Tenant: ErrTooManyPending.
	Hold(ctx context.Context, a Approval, limits PendingLimits) (Approval, HoldOutcome, error)
	// Approval returns the approval id. A pending or approved approval past its Expires reads as
	// expired. ErrNoApproval if unknown.
	Approval(ctx context.Context, id string) (Approval, error)
	// Approvals lists the approvals kept (every status, until ApprovalRetention after they
	// expire), oldest first.
	Approvals(ctx context.Context) ([]Approval, error)
	// DecideApproval approves or denies the pending approval id, recording approver, note and the
	// time. ErrNoApproval if unknown; ErrNotPending (with the approval) if it is not pending or has
	// expired.
	DecideApproval(ctx context.Context, id string, approve bool, approver, note string) (Approval, error)
	// ConsumeApproval marks the approved approval id used and reports true; it reports false,
	// changing nothing, when the approval is not approved (pending, denied, used already, expired).
	// ErrNoApproval if unknown.
	ConsumeApproval(ctx context.Context, id string) (Approval, bool, error)
}

package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The Redis store keeps approvals in these keys, each named from the store's prefix:
//
//	<prefix>ap:<id>              a hash: the approval's fields (approvalFields), its times in
//	                             microseconds since 1970 UTC, "decided" only once decided
//	<prefix>ab:<binding>         a hash: "id" -> the id of the approval bound to the binding
//	                             (Approval.Binding)
//	<prefix>approvals            a sorted set: every approval's id, scored by when it is dropped
//	                             (its expires + ApprovalRetention, µs), for Approvals
//	<prefix>approvals:pending    a sorted set: the ids of pending approvals, scored by their
//	                             expires (µs), counted for Hold's maxPending
//
// An approval's hash and binding expire in Redis a minute after the approval is dropped (the
// SLACK of lua/common.lua); the sorted sets drop their entries once past their score, on every
// Hold (and Approvals for the index of approvals), and expire with their last entry. Whether an
// approval is expired or dropped is decided from the times in it and the gateway's clock, never
// Redis's. Every operation that reads and then writes is one script (lua/approval_*.lua), and the
// scripts use only the commands of the least-privileged ACL in docs/operations.md (hashes, not
// strings).

var _ ApprovalStore = (*Redis)(nil)

var (
	approvalHoldScript    = script("approval_hold")
	approvalDecideScript  = script("approval_decide")
	approvalConsumeScript = script("approval_consume")
	approvalListScript    = script("approval_list")
)

// The names of the approvals' keys. Lua builds an approval's key from its id as approvalKey does.
func (r *Redis) approvalKey(id string) string     { return r.prefix + "ap:" + id }
func (r *Redis) bindingKey(binding string) string { return r.prefix + "ab:" + binding }
func (r *Redis) approvalsKey() string             { return r.prefix + "approvals" }
func (r *Redis) pendingKey() string               { return r.prefix + "approvals:pending" }

// callerPendingKey indexes the approvals a's caller opened in a's engagement, scored by when they
// expire; entries no longer pending are dropped when it is counted.
func (r *Redis) callerPendingKey(a *Approval) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(len(a.Caller)) + ":" + a.Caller + a.Tenant))
	return r.prefix + "approvals:caller:" + hex.EncodeToString(sum[:])
}

// approvalFields names the fields of an approval's hash: its strings and its times.
func approvalFields(a *Approval) (map[string]*string, map[string]*time.Time) {
	return map[string]*string{
			"id": &a.ID, "call_digest": &a.Digest, "caller": &a.Caller, "tenant": &a.Tenant,
			"upstream": &a.Upstream, "method": &a.Method, "tool": &a.Tool, "rule_id": &a.RuleID,
			"reason": &a.Reason, "policy_revision": &a.Revision, "arguments_preview": &a.Arguments, "params": &a.Params,
			"decision_id": &a.DecisionID, "status": &a.Status, "approver": &a.Approver, "note": &a.Note,
		}, map[string]*time.Time{
			"created": &a.Created, "expires": &a.Expires, "decided": &a.Decided,
		}
}

// encodeApproval is a's hash as HSET's arguments: field, value, .... A zero time is left out.
func encodeApproval(a Approval) []any {
	strs, times := approvalFields(&a)
	out := make([]any, 0, 2*(len(strs)+len(times)))
	for f, p := range strs {
		out = append(out, f, *p)
	}
	for f, p := range times {
		if !p.IsZero() {
			out = append(out, f, p.UnixMicro())
		}
	}
	return out
}

// decodeApproval reads an approval's hash given as field, value, ....
func decodeApproval(kv []string) (Approval, error) {
	var a Approval
	strs, times := approvalFields(&a)
	if len(kv)%2 != 0 {
		return Approval{}, fmt.Errorf("redis state: an approval of %d fields and values", len(kv))
	}
	for i := 0; i < len(kv); i += 2 {
		f, v := kv[i], kv[i+1]
		if p, ok := strs[f]; ok {
			*p = v
			continue
		}
		if p, ok := times[f]; ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Approval{}, fmt.Errorf("redis state: approval %q: its %s %q is not a time in microseconds", a.ID, f, v)
			}
			*p = time.UnixMicro(us).UTC()
		}
	}
	if a.ID == "" || a.Status == "" || a.Expires.IsZero() {
		return Approval{}, fmt.Errorf("redis state: an approval that gatehouse did not write (id %q)", a.ID)
	}
	return a, nil
}

// answer splits a script's reply {verdict, field, value, ...} into the verdict and the approval;
// only {'none'} comes without one.
func answer(reply []string) (string, Approval, error) {
	switch {
	case len(reply) == 1 && reply[0] == "none":
		return reply[0], Approval{}, nil
	case len(reply) < 2:
		return "", Approval{}, fmt.Errorf("redis state: unexpected answer %q", reply)
	}
	a, err := decodeApproval(reply[1:])
	return reply[0], a, err
}

// Hold implements ApprovalStore.
func (r *Redis) Hold(ctx context.Context, a Approval, limits PendingLimits) (Approval, HoldOutcome, error) {
	a, err := newApproval(a)
	if err != nil {
		return Approval{}, 0, err
	}
	now := approvalTime(r.now())
	keys := []string{r.bindingKey(a.Binding()), r.approvalKey(a.ID), r.approvalsKey(), r.pendingKey(), r.callerPendingKey(&a)}
	args := append([]any{ApprovalRetention.Microseconds(), max(limits.Total, 0), a.ID, a.Expires.UnixMicro(), max(limits.PerCaller, 0)}, encodeApproval(a)...)
	reply, err := r.runAt(ctx, now, approvalHoldScript, keys, args...).StringSlice()
	if err != nil {
		return Approval{}, 0, fmt.Errorf("redis state: %w", err)
	}
	switch {
	case len(reply) == 1 && reply[0] == "taken":
		return Approval{}, 0, errIDTaken(a.ID)
	case len(reply) == 2 && reply[0] == "too_many":
		n, err := strconv.Atoi(reply[1])
		if err != nil {
			return Approval{}, 0, fmt.Errorf("redis state: a count of pending approvals %q: %w", reply[1], err)
		}
		return Approval{}, 0, errTooManyPending(n, limits.Total)
	case len(reply) == 2 && reply[0] == "too_many_caller":
		n, err := strconv.Atoi(reply[1])
		if err != nil {
			return Approval{}, 0, fmt.Errorf("redis state: a count of pending approvals %q: %w", reply[1], err)
		}
		return Approval{}, 0, errCallerPending(n, limits.PerCaller)
	}
	verdict, got, err := answer(reply)
	if err != nil {
		return Approval{}, 0, err
	}
	outcome, ok := map[string]HoldOutcome{"approved": HoldApproved, "pending": HoldPending,
		"denied": HoldDenied, "created": HoldCreated}[verdict]
	if !ok {
		return Approval{}, 0, fmt.Errorf("redis state: unexpected answer %q to a hold", verdict)
	}
	return got, outcome, nil
}

// Approval implements ApprovalStore.
func (r *Redis) Approval(ctx context.Context, id string) (Approval, error) {
	now := approvalTime(r.now())
	h, err := r.rdb.HGetAll(ctx, r.approvalKey(id)).Result()
	if err != nil {
		return Approval{}, fmt.Errorf("redis state: %w", err)
	}
	if len(h) == 0 {
		return Approval{}, errNoApproval(id)
	}
	kv := make([]string, 0, 2*len(h))
	for f, v := range h {
		kv = append(kv, f, v)
	}
	a, err := decodeApproval(kv)
	if err != nil {
		return Approval{}, err
	}
	if now.After(dropAt(&a)) { // dropped, Redis has yet to expire it
		return Approval{}, errNoApproval(id)
	}
	return asOf(a, now), nil
}

// Approvals implements ApprovalStore.
func (r *Redis) Approvals(ctx context.Context) ([]Approval, error) {
	now := approvalTime(r.now())
	reply, err := r.runAt(ctx, now, approvalListScript, []string{r.approvalsKey()}).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis state: %w", err)
	}
	out := make([]Approval, 0, len(reply))
	for _, v := range reply {
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("redis state: an approval listed as %T", v)
		}
		kv := make([]string, len(items))
		for i, item := range items {
			if kv[i], ok = item.(string); !ok {
				return nil, fmt.Errorf("redis state: an approval's field listed as %T", item)
			}
		}
		a, err := decodeApproval(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, asOf(a, now))
	}
	slices.SortFunc(out, byCreated)
	return out, nil
}

// DecideApproval implements ApprovalStore.
func (r *Redis) DecideApproval(ctx context.Context, id string, approve bool, approver, note string) (Approval, error) {
	now := approvalTime(r.now())
	status := ApprovalDenied
	if approve {
		status = ApprovalApproved
	}
	reply, err := r.runAt(ctx, now, approvalDecideScript, []string{r.approvalKey(id), r.pendingKey()},
		ApprovalRetention.Microseconds(), id, status, approver, note).StringSlice()
	if err != nil {
		return Approval{}, fmt.Errorf("redis state: %w", err)
	}
	verdict, a, err := answer(reply)
	if err != nil {
		return Approval{}, err
	}
	switch verdict {
	case "decided":
		return a, nil
	case "not_pending":
		a = asOf(a, now)
		return a, errNotPending(a)
	case "none":
		return Approval{}, errNoApproval(id)
	}
	return Approval{}, fmt.Errorf("redis state: unexpected answer %q to a decision", verdict)
}

// ConsumeApproval implements ApprovalStore.
func (r *Redis) ConsumeApproval(ctx context.Context, id string) (Approval, bool, error) {
	now := approvalTime(r.now())
	reply, err := r.runAt(ctx, now, approvalConsumeScript, []string{r.approvalKey(id)},
		ApprovalRetention.Microseconds()).StringSlice()
	if err != nil {
		return Approval{}, false, fmt.Errorf("redis state: %w", err)
	}
	verdict, a, err := answer(reply)
	if err != nil {
		return Approval{}, false, err
	}
	switch verdict {
	case "used":
		return a, true, nil
	case "no":
		return asOf(a, now), false, nil
	case "none":
		return Approval{}, false, errNoApproval(id)
	}
	return Approval{}, false, fmt.Errorf("redis state: unexpected answer %q to a consume", verdict)
}

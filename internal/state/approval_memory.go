package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Both stores keep an approval's times as UTC at microsecond precision (what Redis keeps), and
// compare them with their clock's time cut the same way, so that the two agree to the microsecond
// on when an approval expires and is dropped. An approval is expired once the clock is past its
// Expires (at Expires it is still live) and dropped once the clock is past Expires +
// ApprovalRetention. The helpers below are shared by Memory and Redis.

var _ ApprovalStore = (*Memory)(nil)

// approvalTime is t as the stores keep it: UTC, cut to the microsecond, without a monotonic reading.
func approvalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// newApproval checks a for Hold and returns it as it is stored: pending, undecided, its times as the
// stores keep them.
func newApproval(a Approval) (Approval, error) {
	if a.ID == "" {
		return Approval{}, errors.New("an approval to hold has no id")
	}
	if a.Expires.IsZero() {
		return Approval{}, fmt.Errorf("approval %q has no expiry", a.ID)
	}
	a.Created, a.Expires = approvalTime(a.Created), approvalTime(a.Expires)
	a.Status = ApprovalPending
	a.Approver, a.Note, a.Decided = "", "", time.Time{}
	return a, nil
}

// expired reports whether a is past its Expires at now (whatever its status).
func expired(a *Approval, now time.Time) bool { return now.After(a.Expires) }

// live reports whether a is in status and not expired at now.
func live(a *Approval, status string, now time.Time) bool {
	return a.Status == status && !expired(a, now)
}

// dropAt is when a is dropped: ApprovalRetention after it expires.
func dropAt(a *Approval) time.Time { return a.Expires.Add(ApprovalRetention) }

// asOf is a as it reads at now: pending or approved past its Expires reads as expired.
func asOf(a Approval, now time.Time) Approval {
	if (a.Status == ApprovalPending || a.Status == ApprovalApproved) && expired(&a, now) {
		a.Status = ApprovalExpired
	}
	return a
}

// byCreated orders approvals oldest first, then by id.
func byCreated(a, b Approval) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// errNoApproval is ErrNoApproval for id, the same from both stores.
func errNoApproval(id string) error { return fmt.Errorf("%w: %q", ErrNoApproval, id) }

// errNotPending is ErrNotPending for a, saying what it is instead.
func errNotPending(a Approval) error {
	return fmt.Errorf("%w: approval %q is %s", ErrNotPending, a.ID, a.Status)
}

// errTooManyPending is ErrTooManyPending with the count that refused a hold.
func errTooManyPending(n, limit int) error {
	return fmt.Errorf("%w: %d pending, at most %d", ErrTooManyPending, n, limit)
}

// errCallerPending is ErrTooManyPending for one caller's share.
func errCallerPending(n, limit int) error {
	return fmt.Errorf("%w: this caller has %d pending, at most %d", ErrTooManyPending, n, limit)
}

// errIDTaken refuses a hold whose id names an approval kept already: the gateway makes a new id
// for every hold, so this is a fault, and storing it would overwrite the other approval.
func errIDTaken(id string) error {
	return fmt.Errorf("approval id %q is taken by another approval", id)
}

// Hold implements ApprovalStore.
func (m *Memory) Hold(_ context.Context, a Approval, limits PendingLimits) (Approval, HoldOutcome, error) {
	a, err := newApproval(a)
	if err != nil {
		return Approval{}, 0, err
	}
	now := approvalTime(m.now())
	binding := a.Binding()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropApprovals(now)
	if b := m.bound(binding); b != nil {
		switch {
		case live(b, ApprovalApproved, now):
			b.Status = ApprovalUsed
			return *b, HoldApproved, nil
		case live(b, ApprovalPending, now):
			return *b, HoldPending, nil
		case b.Status == ApprovalDenied:
			delete(m.bindings, binding)
			return *b, HoldDenied, nil
		}
	}
	if _, ok := m.approvals[a.ID]; ok {
		return Approval{}, 0, errIDTaken(a.ID)
	}
	if limits.Total > 0 || limits.PerCaller > 0 {
		n, mine := 0, 0
		for _, b := range m.approvals {
			if live(b, ApprovalPending, now) {
				n++
				if b.Caller == a.Caller && b.Tenant == a.Tenant {
					mine++
				}
			}
		}
		if limits.Total > 0 && n >= limits.Total {
			return Approval{}, 0, errTooManyPending(n, limits.Total)
		}
		if limits.PerCaller > 0 && mine >= limits.PerCaller {
			return Approval{}, 0, errCallerPending(mine, limits.PerCaller)
		}
	}
	m.approvals[a.ID] = &a
	m.bindings[binding] = a.ID
	if drop := dropAt(&a); m.nextDrop.IsZero() || drop.Before(m.nextDrop) {
		m.nextDrop = drop
	}
	return a, HoldCreated, nil
}

// bound is the approval bound to binding, or nil. The caller holds m.mu.
func (m *Memory) bound(binding string) *Approval {
	id, ok := m.bindings[binding]
	if !ok {
		return nil
	}
	return m.approvals[id]
}

// lookup locks m, drops what is due, and returns the approval id, or ErrNoApproval, with the time
// it was read at. The caller unlocks m.mu.
func (m *Memory) lookup(id string) (*Approval, time.Time, error) {
	now := approvalTime(m.now())
	m.mu.Lock()
	m.dropApprovals(now)
	a := m.approvals[id]
	if a == nil {
		return nil, now, errNoApproval(id)
	}
	return a, now, nil
}

// Approval implements ApprovalStore.
func (m *Memory) Approval(_ context.Context, id string) (Approval, error) {
	a, now, err := m.lookup(id)
	defer m.mu.Unlock()
	if err != nil {
		return Approval{}, err
	}
	return asOf(*a, now), nil
}

// Approvals implements ApprovalStore.
func (m *Memory) Approvals(context.Context) ([]Approval, error) {
	now := approvalTime(m.now())
	m.mu.Lock()
	m.dropApprovals(now)
	out := make([]Approval, 0, len(m.approvals))
	for _, a := range m.approvals {
		out = append(out, asOf(*a, now))
	}
	m.mu.Unlock()
	slices.SortFunc(out, byCreated)
	return out, nil
}

// DecideApproval implements ApprovalStore.
func (m *Memory) DecideApproval(_ context.Context, id string, approve bool, approver, note string) (Approval, error) {
	a, now, err := m.lookup(id)
	defer m.mu.Unlock()
	if err != nil {
		return Approval{}, err
	}
	if !live(a, ApprovalPending, now) {
		got := asOf(*a, now)
		return got, errNotPending(got)
	}
	a.Status = ApprovalDenied
	if approve {
		a.Status = ApprovalApproved
	}
	a.Approver, a.Note, a.Decided = approver, note, now
	return *a, nil
}

// ConsumeApproval implements ApprovalStore.
func (m *Memory) ConsumeApproval(_ context.Context, id string) (Approval, bool, error) {
	a, now, err := m.lookup(id)
	defer m.mu.Unlock()
	if err != nil {
		return Approval{}, false, err
	}
	if !live(a, ApprovalApproved, now) {
		return asOf(*a, now), false, nil
	}
	a.Status = ApprovalUsed
	return *a, true, nil
}

// dropApprovals drops the approvals kept past ApprovalRetention after they expired, and their
// bindings, once the first of them is due, so that memory stays bounded by the approvals made in
// the last retention period and a call that drops nothing costs one comparison. The caller holds
// m.mu.
func (m *Memory) dropApprovals(now time.Time) {
	if m.nextDrop.IsZero() || !now.After(m.nextDrop) {
		return
	}
	m.nextDrop = time.Time{}
	for id, a := range m.approvals {
		drop := dropAt(a)
		if now.After(drop) {
			delete(m.approvals, id)
			if b := a.Binding(); m.bindings[b] == id {
				delete(m.bindings, b)
			}
			continue
		}
		if m.nextDrop.IsZero() || drop.Before(m.nextDrop) {
			m.nextDrop = drop
		}
	}
}

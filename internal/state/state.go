// Package state holds what gatehouse must remember between calls: budget counters, rate limits and
// kill switches (SPEC §11.1). The Store interface is the seam for sharing that state across replicas;
// this package provides the in-memory implementation used by a single process.
//
// Every limit is checked and counted in one atomic step, so two concurrent calls can never both slip
// under a limit that only one of them fits in. A reservation can be given back, because budgets count
// only calls that were actually forwarded.
package state

import (
	"context"
	"errors"
	"time"
)

// Key names a counter or a rate limit's cell: Name is what it counts (its kind, rule and scope) and
// Holder whom it is counted for ("session:<id>", "agent:<id>", "tenant:<id>", "run:<tenant>/<id>",
// or another "<kind>:<value>"), so that Forget can drop everything kept for a holder that is gone.
type Key struct {
	Holder, Name string
	// Owner is the caller whose call made the key (a principal id), for the bound on the keys one
	// caller may make. It does not name the key: calls of several callers share a key they all hold.
	Owner string
	// Idle drops a counter unused this long (0: kept until its window ends or Forget).
	Idle time.Duration
}

// ErrFull is returned by Reserve and Admit when a new counter or cell would take the store past its
// bound. What a refused call gets then is the fail posture's choice.
var ErrFull = errors.New("state store full")

// ErrCallerFull is returned by Reserve and Admit when a new counter or cell would take the keys its
// caller's calls made past their bound. The caller did it (by naming new runs, say), so it is
// refused whatever the fail posture: failing open would let it escape its limits at will.
var ErrCallerFull = errors.New("this caller's share of the state store is full")

// Store is the state behind budgets, rate limits, kills and approvals. Implementations must make Reserve and
// Admit atomic check-and-add operations.
type Store interface {
	// Reserve adds amount to the counter k if the total stays within limit, and reports whether it
	// did. With window > 0 the counter restarts at every window boundary (fixed windows counted from
	// the zero time.Time, 0001-01-01 UTC, as time.Truncate counts them). The returned Release takes the amount back; it is nil when nothing was reserved.
	Reserve(ctx context.Context, k Key, amount, limit float64, window time.Duration) (total float64, ok bool, release Release, err error)
	// Admit takes one slot of a rate limit of limit calls per per (a generic cell rate algorithm, so a
	// burst of up to limit is allowed and slots refill smoothly). When refused, retryAfter says when
	// the next slot frees up.
	Admit(ctx context.Context, k Key, limit int, per time.Duration) (ok bool, retryAfter time.Duration, release Release, err error)
	// Forget drops every counter and cell held by holder and lifts a kill of it: what was kept for a
	// session that has ended.
	Forget(ctx context.Context, holder string) error
	// Kill disables a scope ("session:<id>", "agent:<id>", "tenant:<id>", "run:<id>", "all") until Lift.
	Kill(ctx context.Context, scope, reason string) error
	// Lift re-enables a scope, and reports whether it was killed.
	Lift(ctx context.Context, scope string) (bool, error)
	// Killed returns the first of scopes that is killed, with the reason it was killed for.
	Killed(ctx context.Context, scopes ...string) (scope, reason string, err error)
	// Kills lists the killed scopes, in the order they were killed.
	Kills(ctx context.Context) ([]Kill, error)
	// ApprovalStore keeps the approvals of held calls (SPEC §10.1).
	ApprovalStore
}

// Kill is a killed scope.
type Kill struct {
	Scope  string    `json:"scope"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Release gives back a reservation. It is safe to call more than once; only the first call counts.
type Release func()

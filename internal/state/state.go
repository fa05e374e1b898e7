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
	"time"
)

// Store is the state behind budgets, rate limits and kills. Implementations must make Reserve and
// Admit atomic check-and-add operations.
type Store interface {
	// Reserve adds amount to the counter key if the total stays within limit, and reports whether it
	// did. With window > 0 the counter restarts at every window boundary (fixed windows aligned to the
	// Unix epoch). The returned Release takes the amount back; it is nil when nothing was reserved.
	Reserve(ctx context.Context, key string, amount, limit float64, window time.Duration) (total float64, ok bool, release Release, err error)
	// Admit takes one slot of a rate limit of limit calls per per (a generic cell rate algorithm, so a
	// burst of up to limit is allowed and slots refill smoothly). When refused, retryAfter says when
	// the next slot frees up.
	Admit(ctx context.Context, key string, limit int, per time.Duration) (ok bool, retryAfter time.Duration, release Release, err error)
	// Kill disables a scope ("session:<id>", "agent:<id>", "tenant:<id>", "run:<id>", "all") until Lift.
	Kill(ctx context.Context, scope, reason string) error
	// Lift re-enables a scope.
	Lift(ctx context.Context, scope string) error
	// Killed returns the first of scopes that is killed, with the reason it was killed for.
	Killed(ctx context.Context, scopes ...string) (scope, reason string, err error)
}

// Release gives back a reservation. It is safe to call more than once; only the first call counts.
type Release func()

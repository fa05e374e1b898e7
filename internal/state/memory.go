package state

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store for one process. The zero value is not usable; call NewMemory.
type Memory struct {
	now func() time.Time

	mu       sync.Mutex
	counters map[string]*counter
	cells    map[string]*cell
	kills    map[string]string
	ops      int
}

type counter struct {
	total   float64
	expires time.Time // zero: never (no window)
}

type cell struct {
	tat     time.Time // theoretical arrival time of the next call
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, counters: map[string]*counter{}, cells: map[string]*cell{}, kills: map[string]string{}}
}

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, key string, amount, limit float64, window time.Duration) (float64, bool, Release, error) {
	now := m.now()
	var expires time.Time
	if window > 0 {
		start := now.Truncate(window)
		key += "@" + start.UTC().Format(time.RFC3339Nano)
		expires = start.Add(window)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	c := m.counters[key]
	if c == nil {
		c = &counter{expires: expires}
		m.counters[key] = c
	}
	if c.total+amount > limit {
		return c.total, false, nil, nil
	}
	c.total += amount
	total := c.total
	var once sync.Once
	return total, true, func() {
		once.Do(func() {
			m.mu.Lock()
			c.total -= amount
			m.mu.Unlock()
		})
	}, nil
}

// Admit implements Store.
func (m *Memory) Admit(_ context.Context, key string, limit int, per time.Duration) (bool, time.Duration, Release, error) {
	now := m.now()
	interval := per / time.Duration(limit)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	c := m.cells[key]
	if c == nil {
		c = &cell{tat: now}
		m.cells[key] = c
	}
	tat := c.tat
	if tat.Before(now) {
		tat = now
	}
	// Admit while the backlog (tat - now) leaves room for one more interval within per.
	if tat.Sub(now) > per-interval {
		return false, tat.Sub(now) - (per - interval), nil, nil
	}
	c.tat = tat.Add(interval)
	c.expires = c.tat.Add(per)
	var once sync.Once
	return true, 0, func() {
		once.Do(func() {
			m.mu.Lock()
			c.tat = c.tat.Add(-interval)
			m.mu.Unlock()
		})
	}, nil
}

// Kill implements Store.
func (m *Memory) Kill(_ context.Context, scope, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kills[scope] = reason
	return nil
}

// Lift implements Store.
func (m *Memory) Lift(_ context.Context, scope string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.kills, scope)
	return nil
}

// Killed implements Store.
func (m *Memory) Killed(_ context.Context, scopes ...string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range scopes {
		if reason, ok := m.kills[s]; ok {
			return s, reason, nil
		}
	}
	return "", "", nil
}

// sweep drops expired windows and idle rate cells every few thousand operations, so memory stays
// bounded by the number of live keys. The caller holds m.mu.
func (m *Memory) sweep(now time.Time) {
	m.ops++
	if m.ops%4096 != 0 {
		return
	}
	for k, c := range m.counters {
		if !c.expires.IsZero() && now.After(c.expires) {
			delete(m.counters, k)
		}
	}
	for k, c := range m.cells {
		if now.After(c.expires) {
			delete(m.cells, k)
		}
	}
}

package state

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Default bounds of a Memory store: the counters and cells kept at once (about 200 bytes each), and
// the share of them one caller's calls may make.
const (
	DefaultMaxKeys          = 100_000
	DefaultMaxKeysPerCaller = 10_000
)

// Memory is a Store for one process. The zero value is not usable; call NewMemory.
type Memory struct {
	now       func() time.Time
	maxKeys   int
	maxPerOwn int

	mu       sync.Mutex
	counters map[string]map[string]*counter // holder → name → counter
	cells    map[string]map[string]*cell
	keys     int            // counters and cells
	owned    map[string]int // keys per owner
	kills    map[string]Kill
	ops      int
	swept    time.Time // the last sweep forced by a full store

	approvals map[string]*Approval // id → approval, until ApprovalRetention after it expires
	bindings  map[string]string    // binding (Approval.Binding) → id of the approval bound to it
	nextDrop  time.Time            // when the first of approvals is dropped (zero: none kept)
}

type counter struct {
	total   float64
	owner   string
	expires time.Time     // zero: never (no window)
	idle    time.Duration // with used: dropped once unused this long
	used    time.Time
}

// gone reports whether the counter may be dropped at now.
func (c *counter) gone(now time.Time) bool {
	return (!c.expires.IsZero() && now.After(c.expires)) || (c.idle > 0 && now.Sub(c.used) > c.idle)
}

type cell struct {
	tat   time.Time // theoretical arrival time of the next call; the cell is fresh again once it passes
	owner string
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store with the default bounds. now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	return NewMemoryBounded(now, DefaultMaxKeys, DefaultMaxKeysPerCaller)
}

// NewMemoryBounded is NewMemory keeping at most maxKeys counters and cells at once, and at most
// perCaller made by the calls of one caller (Key.Owner): past either, a call that needs a new one
// gets ErrFull (ones that exist go on counting).
func NewMemoryBounded(now func() time.Time, maxKeys, perCaller int) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, maxKeys: maxKeys, maxPerOwn: perCaller, counters: map[string]map[string]*counter{},
		cells: map[string]map[string]*cell{}, owned: map[string]int{}, kills: map[string]Kill{},
		approvals: map[string]*Approval{}, bindings: map[string]string{}}
}

// Keys returns the number of counters and cells kept.
func (m *Memory) Keys(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys, nil
}

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, k Key, amount, limit float64, window time.Duration) (float64, bool, Release, error) {
	now := m.now()
	var expires time.Time
	if window > 0 {
		start := now.Truncate(window)
		k.Name += "@" + start.UTC().Format(time.RFC3339Nano)
		expires = start.Add(window)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now, false)
	c := m.counters[k.Holder][k.Name]
	if c == nil {
		if err := m.room(now, k.Owner); err != nil {
			return 0, false, nil, err
		}
		c = &counter{expires: expires, owner: k.Owner, idle: k.Idle}
		add(m.counters, k, c)
		m.own(k.Owner, 1)
	} else if c.gone(now) {
		c.total = 0 // gone but not yet swept: it starts again
	}
	c.used = now
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
func (m *Memory) Admit(_ context.Context, k Key, limit int, per time.Duration) (bool, time.Duration, Release, error) {
	now := m.now()
	interval := per / time.Duration(limit)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now, false)
	c := m.cells[k.Holder][k.Name]
	if c == nil {
		if err := m.room(now, k.Owner); err != nil {
			return false, 0, nil, err
		}
		c = &cell{tat: now, owner: k.Owner}
		add(m.cells, k, c)
		m.own(k.Owner, 1)
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
	var once sync.Once
	return true, 0, func() {
		once.Do(func() {
			m.mu.Lock()
			c.tat = c.tat.Add(-interval)
			m.mu.Unlock()
		})
	}, nil
}

func add[T any](m map[string]map[string]*T, k Key, v *T) {
	names := m[k.Holder]
	if names == nil {
		names = map[string]*T{}
		m[k.Holder] = names
	}
	names[k.Name] = v
}

// own counts n more keys (or fewer) made by owner. The caller holds m.mu.
func (m *Memory) own(owner string, n int) {
	m.keys += n
	if m.owned[owner]+n <= 0 {
		delete(m.owned, owner)
		return
	}
	m.owned[owner] += n
}

// room makes sure one more key made by owner fits, sweeping at once if the store or the owner's
// share is full (at most once a second, so that a store kept full does not make every call pay
// for a sweep). The caller holds m.mu.
func (m *Memory) room(now time.Time, owner string) error {
	full := func() bool { return m.keys >= m.maxKeys || m.owned[owner] >= m.maxPerOwn }
	if !full() {
		return nil
	}
	if now.Sub(m.swept) >= time.Second {
		m.swept = now
		m.sweep(now, true)
		if !full() {
			return nil
		}
	}
	if m.keys >= m.maxKeys {
		return fmt.Errorf("%w: %d counters and rate cells live (state.max_keys)", ErrFull, m.keys)
	}
	return fmt.Errorf("%w: its calls made %d counters and rate cells (state.max_keys_per_caller)", ErrCallerFull, m.owned[owner])
}

// Forget implements Store.
func (m *Memory) Forget(_ context.Context, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.counters[holder] {
		m.own(c.owner, -1)
	}
	for _, c := range m.cells[holder] {
		m.own(c.owner, -1)
	}
	delete(m.counters, holder)
	delete(m.cells, holder)
	delete(m.kills, holder)
	return nil
}

// Kill implements Store.
func (m *Memory) Kill(_ context.Context, scope, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.kills[scope]; ok {
		k.Reason = reason
		m.kills[scope] = k
		return nil
	}
	m.kills[scope] = Kill{Scope: scope, Reason: reason, Since: m.now()}
	return nil
}

// Lift implements Store.
func (m *Memory) Lift(_ context.Context, scope string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.kills[scope]
	delete(m.kills, scope)
	return ok, nil
}

// Killed implements Store.
func (m *Memory) Killed(_ context.Context, scopes ...string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.kills) == 0 {
		return "", "", nil
	}
	for _, s := range scopes {
		if k, ok := m.kills[s]; ok {
			return s, k.Reason, nil
		}
	}
	return "", "", nil
}

// Kills implements Store.
func (m *Memory) Kills(context.Context) ([]Kill, error) {
	m.mu.Lock()
	out := make([]Kill, 0, len(m.kills))
	for _, k := range m.kills {
		out = append(out, k)
	}
	m.mu.Unlock()
	slices.SortFunc(out, byTime)
	return out, nil
}

// byTime orders kills by the time they were made, then by scope.
func byTime(a, b Kill) int {
	if c := a.Since.Compare(b.Since); c != 0 {
		return c
	}
	return cmp.Compare(a.Scope, b.Scope)
}

// sweep drops counters whose window has ended or that went unused past their idle time, and rate
// cells that have refilled (a cell whose next arrival time has passed is the same as no cell),
// every few thousand operations or now when force is set, so memory stays bounded by the number of
// live keys. The caller holds m.mu.
func (m *Memory) sweep(now time.Time, force bool) {
	m.ops++
	if !force && m.ops%4096 != 0 {
		return
	}
	for h, names := range m.counters {
		for k, c := range names {
			if c.gone(now) {
				delete(names, k)
				m.own(c.owner, -1)
			}
		}
		if len(names) == 0 {
			delete(m.counters, h)
		}
	}
	for h, names := range m.cells {
		for k, c := range names {
			if !now.Before(c.tat) {
				delete(names, k)
				m.own(c.owner, -1)
			}
		}
		if len(names) == 0 {
			delete(m.cells, h)
		}
	}
}

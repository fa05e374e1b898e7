package pin

import (
	"context"
	"sync"
)

// Record is what is pinned for one tool of one upstream.
type Record struct {
	// Approved is the digest of the definition that was approved (on first sight, or by an
	// operator); empty when no definition of the tool was ever approved.
	Approved string `json:"approved"`
	// Seen is the digest of the definition seen last.
	Seen string `json:"seen"`
	// Reason says why Seen is not approved: ReasonChanged or ReasonPoisoned; empty when it is.
	Reason string `json:"reason,omitempty"`
}

// Quarantined reports whether the definition seen last is not the approved one.
func (r Record) Quarantined() bool { return r.Seen != r.Approved }

// Why a definition is quarantined.
const (
	ReasonChanged  = "changed"
	ReasonPoisoned = "poisoned"
)

// Store keeps pins. Implementations must make CompareAndSwap atomic, so that two replicas seeing
// the same tools/list cannot both believe they pinned first; the in-memory MemoryStore serves one
// process, and a shared store (internal/state, Redis) serves several.
type Store interface {
	// Load returns the record of tool on upstream, and whether there is one.
	Load(ctx context.Context, upstream, tool string) (Record, bool, error)
	// CompareAndSwap stores next if the current record equals *old, or if there is none and old is
	// nil, and reports whether it did.
	CompareAndSwap(ctx context.Context, upstream, tool string, old *Record, next Record) (bool, error)
}

// Swap is one compare-and-swap of BatchStore.CompareAndSwapMany: next replaces the record of tool
// if it equals *Old, or if there is none and Old is nil.
type Swap struct {
	Tool string
	Old  *Record
	Next Record
}

// BatchStore is a Store that stores many swaps at once, as ObserveList wants for a whole tools/list.
type BatchStore interface {
	Store
	// CompareAndSwapMany applies swaps to upstream's tools in order, each as CompareAndSwap does,
	// and reports which it made. What it made is stored before it returns; on an error, none was.
	CompareAndSwapMany(ctx context.Context, upstream string, swaps []Swap) ([]bool, error)
}

// MemoryStore is a Store in process memory.
type MemoryStore struct {
	mu sync.Mutex
	m  map[[2]string]Record
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[[2]string]Record{}} }

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, upstream, tool string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[[2]string{upstream, tool}]
	return r, ok, nil
}

// CompareAndSwap implements Store.
func (s *MemoryStore) CompareAndSwap(_ context.Context, upstream, tool string, old *Record, next Record) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{upstream, tool}
	cur, ok := s.m[k]
	if old == nil && ok || old != nil && (!ok || cur != *old) {
		return false, nil
	}
	s.m[k] = next
	return true, nil
}

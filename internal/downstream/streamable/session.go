package streamable

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Session is a legacy-era client session. The transport mints its id; the backend keeps its own
// state in State.
type Session struct {
	ID              string
	ProtocolVersion string
	// Principal is who opened the session; every later request must come from the same caller.
	Principal *policy.Principal
	// Tenant is the engagement the session was opened for; every later request must be for it.
	Tenant string
	// State belongs to the backend.
	State any

	lastUsed atomic.Int64 // unix nanoseconds
	// events are the session's resumable streams and their replay buffer (replay.go).
	events eventLog
}

func (s *Session) touch(now time.Time) { s.lastUsed.Store(now.UnixNano()) }

// Sessions is the registry of live legacy sessions.
type Sessions struct {
	mu   sync.RWMutex
	byID map[string]*Session
	max  int
}

func newSessions(max int) *Sessions { return &Sessions{byID: map[string]*Session{}, max: max} }

// newID mints a session id: 128 random bits, visible ASCII as the transport requires.
func newID() string { return rand.Text() }

func (s *Sessions) add(sess *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && len(s.byID) >= s.max {
		return false
	}
	s.byID[sess.ID] = sess
	return true
}

func (s *Sessions) get(id string) *Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id]
}

func (s *Sessions) remove(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[id]
	delete(s.byID, id)
	return sess
}

// Len is the number of live sessions.
func (s *Sessions) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// expired removes and returns the sessions idle since before cutoff.
func (s *Sessions) expired(cutoff time.Time) []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Session
	for id, sess := range s.byID {
		if sess.lastUsed.Load() < cutoff.UnixNano() {
			out = append(out, sess)
			delete(s.byID, id)
		}
	}
	return out
}

// each calls f for every live session.
func (s *Sessions) each(f func(*Session)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sess := range s.byID {
		f(sess)
	}
}

// all removes and returns every session (shutdown).
func (s *Sessions) all() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.byID))
	for id, sess := range s.byID {
		out = append(out, sess)
		delete(s.byID, id)
	}
	return out
}

package streamable

import (
	"crypto/rand"
	"errors"
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
	mu       sync.RWMutex
	byID     map[string]*Session
	byCaller map[string]int // live sessions per principal id
	max      int
	perCall  int // most sessions one principal may hold
}

func newSessions(max, perCaller int) *Sessions {
	return &Sessions{byID: map[string]*Session{}, byCaller: map[string]int{}, max: max, perCall: perCaller}
}

// Why add refuses a session.
var (
	errSessionsFull   = errors.New("the session limit is reached; try again later")
	errCallerSessions = errors.New("this caller holds as many sessions as it may; end one (DELETE) or try again later")
)

// newID mints a session id: 128 random bits, visible ASCII as the transport requires.
func newID() string { return rand.Text() }

// newSessionID mints the id of a session this replica opens: one that names it when replicas are
// configured.
func (h *Handler) newSessionID() string {
	if h.cfg.Replicas != nil {
		return h.cfg.Replicas.newSessionID()
	}
	return newID()
}

func (s *Sessions) add(sess *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && len(s.byID) >= s.max {
		return errSessionsFull
	}
	caller := sess.caller()
	if s.perCall > 0 && s.byCaller[caller] >= s.perCall {
		return errCallerSessions
	}
	s.byID[sess.ID] = sess
	s.byCaller[caller]++
	return nil
}

func (sess *Session) caller() string {
	if sess.Principal == nil {
		return ""
	}
	return sess.Principal.ID
}

// dropLocked forgets a session that was in byID. The caller holds s.mu.
func (s *Sessions) dropLocked(sess *Session) {
	delete(s.byID, sess.ID)
	caller := sess.caller()
	if s.byCaller[caller] <= 1 {
		delete(s.byCaller, caller)
	} else {
		s.byCaller[caller]--
	}
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
	if sess != nil {
		s.dropLocked(sess)
	}
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
	for _, sess := range s.byID {
		if sess.lastUsed.Load() < cutoff.UnixNano() {
			out = append(out, sess)
			s.dropLocked(sess)
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
	for _, sess := range s.byID {
		out = append(out, sess)
		s.dropLocked(sess)
	}
	return out
}

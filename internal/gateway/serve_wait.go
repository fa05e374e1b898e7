package gateway

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
)

// httpWaits are the held requests of gatehouse serve waiting for a human, so that a client's
// notifications/cancelled, or the gateway's shutdown, can end their waits.
type httpWaits struct {
	mu       sync.Mutex
	byKey    map[string]context.CancelFunc
	stopping bool
}

// waitKey names a request for its client's cancellations: by its session (legacy era), or by its
// client (principal, engagement, address) in the 2026-07-28 era.
func waitKey(ex *streamable.Exchange, idKey string) string {
	if ex.Session != nil {
		return "s " + ex.Session.ID + " " + idKey
	}
	return "c " + clientKey(ex) + " " + idKey
}

// wait runs a held request's wait in the handler's goroutine, with progress on the answer's stream.
func (s *Server) wait(ctx context.Context, ex *streamable.Exchange, c *pipeline.Call, ans streamable.Answer) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	key := waitKey(ex, c.Msg.ID.Key())
	w := &s.waits
	w.mu.Lock()
	_, dup := w.byKey[key]
	if w.stopping {
		cancel()
	} else if !dup { // two waiting requests with one id: a cancellation could not tell them apart
		if w.byKey == nil {
			w.byKey = map[string]context.CancelFunc{}
		}
		w.byKey[key] = cancel
	}
	w.mu.Unlock()
	defer func() {
		if !dup {
			w.mu.Lock()
			delete(w.byKey, key)
			w.mu.Unlock()
		}
	}()
	s.g.awaitHold(ctx, c, func(frame []byte) { ans.Send(frame) })
}

// cancelWait ends the wait of the held request a client's notifications/cancelled names, and reports
// whether it named one (the upstream never saw that request, so the notification is not relayed).
func (s *Server) cancelWait(ex *streamable.Exchange) bool {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(ex.Msg.Params, &p) != nil {
		return false
	}
	idKey := requestIDKey(p.RequestID)
	if idKey == "" {
		return false
	}
	key := waitKey(ex, idKey)
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	cancel, ok := s.waits.byKey[key]
	if ok {
		cancel()
	}
	return ok
}

// EndWaits ends every held request's wait, and any that starts later, at once: gatehouse serve
// calls it when it begins to shut down, so that a wait for a human does not hold the shutdown.
func (s *Server) EndWaits() {
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	s.waits.stopping = true
	for _, cancel := range s.waits.byKey {
		cancel()
	}
}

package streamable

import (
	"net/http"
	"sync"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// answer writes one request's answer: plain JSON until something must be sent before the final
// response, an SSE stream from then on. It is safe for concurrent use.
type answer struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	flusher   http.Flusher
	sessionID string // set on the response (a new legacy session)
	streaming bool
	finished  bool
	result    bool // the final response was a result (not an error)
	broken    bool
	// onResult runs before a successful initialize answer is written: the session must exist
	// before the client can read its id and use it.
	onResult func() bool
}

func newAnswer(w http.ResponseWriter, sessionID string) *answer {
	f, _ := w.(http.Flusher)
	return &answer{w: w, flusher: f, sessionID: sessionID}
}

// SetHeader implements Answer.
func (a *answer) SetHeader(key, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.streaming && !a.finished {
		a.w.Header().Set(key, value)
	}
}

// Stream implements Answer.
func (a *answer) Stream() { a.startStream() }

func (a *answer) startStream() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startStreamLocked()
}

func (a *answer) startStreamLocked() {
	if a.streaming {
		return
	}
	h := a.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if a.sessionID != "" {
		h.Set(upstream.HeaderSessionID, a.sessionID)
	}
	a.w.WriteHeader(http.StatusOK)
	a.streaming = true
	a.flush()
}

// Send implements Answer and Stream.
func (a *answer) Send(frame []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished || a.broken {
		return http.ErrHandlerTimeout
	}
	a.startStreamLocked()
	if err := upstream.WriteEvent(a.w, "", frame); err != nil {
		a.broken = true
		return err
	}
	a.flush()
	return nil
}

// Finish implements Answer.
func (a *answer) Finish(frame []byte, status int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished {
		return nil
	}
	a.finished = true
	if a.sessionID != "" { // an initialize: the session exists only if it succeeded
		m, err := jsonrpc.Parse(frame, jsonrpc.Limits{})
		a.result = err == nil && m.Result != nil
		if a.result && a.onResult != nil && !a.onResult() {
			a.result = false
			frame = jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInternalError, "the session limit is reached; try again later", nil)
			status = http.StatusServiceUnavailable
		}
	}
	if a.streaming {
		err := upstream.WriteEvent(a.w, "", frame)
		a.flush()
		return err
	}
	h := a.w.Header()
	h.Set("Content-Type", "application/json")
	if a.sessionID != "" && a.result {
		h.Set(upstream.HeaderSessionID, a.sessionID)
	}
	a.w.WriteHeader(status)
	_, err := a.w.Write(frame)
	return err
}

// comment writes an SSE comment line, a keep-alive for idle streams.
func (a *answer) comment() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken {
		return http.ErrHandlerTimeout
	}
	if _, err := a.w.Write([]byte(":\n\n")); err != nil {
		a.broken = true
		return err
	}
	a.flush()
	return nil
}

// ensureFinished ends a stream that the backend left open (a listen stream whose context ended) and
// answers a request the backend never answered, which is a bug, with an internal error.
func (a *answer) ensureFinished() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished || a.streaming {
		return
	}
	a.finished = true
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(http.StatusInternalServerError)
	a.w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error: no answer"}}`))
}

func (a *answer) flush() {
	if a.flusher != nil {
		a.flusher.Flush()
	}
}

package streamable

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// streamHeaderDelay is how long an answer that will be a stream may keep its headers back. Most
// streamed answers are a single event that follows within milliseconds: sent together with the
// headers, it costs one write instead of three. A slow one gets its headers after this delay, so
// that no client gives up waiting for them.
const streamHeaderDelay = 500 * time.Millisecond

// answer writes one request's answer: plain JSON until something must be sent before the final
// response, an SSE stream from then on. It is safe for concurrent use.
type answer struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
	// writeTimeout bounds each write (Config.WriteTimeout): a client that stops reading fails the
	// write, instead of holding its request, and whoever writes to it, forever.
	writeTimeout time.Duration
	sessionID    string // set on the response (a new legacy session)
	streaming    bool   // the response is an SSE stream whose headers are written
	wantSSE      bool   // the response will be an SSE stream (Stream was called)
	headers      *time.Timer
	finished     bool
	result       bool // the final response was a result (not an error)
	broken       bool
	// onResult runs before a successful initialize answer is written: the session must exist
	// before the client can read its id and use it.
	onResult func() error

	// Resumption (legacy sessions, replay.go). With log nil, events carry no id.
	log    *eventLog
	bounds replayBounds
	prime  bool    // the stream starts with a priming event (2025-11-25)
	st     *stream // the stream written, once there is one
	gen    uint64  // this answer's generation on st
	sent   bool    // an event with an id was written: the client can resume the stream
}

// errTakenOver is what a GET stream's Send returns once a resumption of the stream took it over.
var errTakenOver = errors.New("the stream was resumed by another request")

func newAnswer(w http.ResponseWriter, sessionID string, writeTimeout time.Duration) *answer {
	return &answer{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout, sessionID: sessionID}
}

// deadlineLocked gives what is written next, up to the next flush, and net/http's own writes once
// the handler returns, writeTimeout to reach the client. A writer that cannot set one (a test's
// recorder) writes without.
func (a *answer) deadlineLocked() {
	if a.writeTimeout > 0 {
		a.rc.SetWriteDeadline(time.Now().Add(a.writeTimeout))
	}
}

// SetHeader implements Answer.
func (a *answer) SetHeader(key, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.streaming && !a.finished {
		a.w.Header().Set(key, value)
	}
}

// Stream implements Answer. The headers wait for the first event, or streamHeaderDelay at most.
func (a *answer) Stream() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wantSSE || a.streaming || a.finished {
		return
	}
	a.wantSSE = true
	a.headers = time.AfterFunc(streamHeaderDelay, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.finished && !a.broken && !a.streaming {
			a.startStreamLocked()
			a.flush()
		}
	})
}

func (a *answer) startStream() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startStreamLocked()
	a.flush()
}

// startStreamLocked sets the stream's headers; they go out with the first flush.
func (a *answer) startStreamLocked() {
	if a.streaming {
		return
	}
	a.deadlineLocked()
	h := a.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if a.sessionID != "" {
		h.Set(upstream.HeaderSessionID, a.sessionID)
	}
	a.w.WriteHeader(http.StatusOK)
	a.streaming = true
	if a.log == nil {
		return
	}
	if a.st == nil {
		a.st, a.gen = a.log.open(false, nil)
	}
	if a.prime {
		// An id before anything else: a client cut off before the first message can resume.
		if _, err := io.WriteString(a.w, "id: "+a.log.primeID(a.st)+"\ndata: \n\n"); err != nil {
			a.broken = true
			return
		}
		a.sent = true
	}
}

// eventLocked writes frame as the stream's next event. On a resumable stream it is recorded for
// replay first, with its id; a POST answer whose delivery a resumption took over only records it.
func (a *answer) eventLocked(frame []byte, final bool) error {
	id := ""
	if a.st != nil {
		var recorded, deliver bool
		id, recorded, deliver = a.log.record(a.st, a.gen, frame, final, a.bounds)
		if !deliver {
			if recorded {
				return nil // the resumption delivers it
			}
			return errTakenOver
		}
	}
	if a.broken {
		if id != "" {
			return nil // kept for the client to resume
		}
		return http.ErrHandlerTimeout
	}
	a.deadlineLocked()
	if err := upstream.WriteEvent(a.w, id, frame); err != nil {
		a.broken = true
		return err
	}
	if id != "" {
		a.sent = true
	}
	return nil
}

// replay writes events a resumption retrieved, with the ids they were first written with.
func (a *answer) replay(evs []event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken {
		return http.ErrHandlerTimeout
	}
	a.deadlineLocked()
	for _, e := range evs {
		if err := upstream.WriteEvent(a.w, a.log.id(a.st, e.seq), e.frame); err != nil {
			a.broken = true
			return err
		}
	}
	a.flush()
	return nil
}

// orphaned is called when the client goes away. It reports whether the client holds an id to
// resume the answer's stream with; if so, the session's end will call cancel, else the caller does.
func (a *answer) orphaned(cancel context.CancelFunc) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent {
		a.log.orphan(a.st, cancel)
	}
	return a.sent
}

// Send implements Answer and Stream.
func (a *answer) Send(frame []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished || a.broken && a.st == nil {
		return http.ErrHandlerTimeout
	}
	a.startStreamLocked()
	err := a.eventLocked(frame, false)
	a.flush()
	return err
}

// Finish implements Answer.
func (a *answer) Finish(frame []byte, status int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished {
		return nil
	}
	a.finished = true
	if a.headers != nil {
		a.headers.Stop()
	}
	a.deadlineLocked()
	if a.sessionID != "" { // an initialize: the session exists only if it succeeded
		m, err := jsonrpc.Parse(frame, jsonrpc.Reread)
		a.result = err == nil && m.Result != nil
		if a.result && a.onResult != nil {
			if err := a.onResult(); err != nil {
				a.result = false
				frame = jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInternalError, err.Error(), nil)
				status = http.StatusServiceUnavailable
				if errors.Is(err, errCallerSessions) {
					status = http.StatusTooManyRequests
				}
			}
		}
	}
	if a.streaming {
		err := a.eventLocked(frame, true)
		a.flush()
		return err
	}
	if a.wantSSE && status == http.StatusOK {
		// Headers and the only event in one write, when the handler returns. (A refusal with
		// another status is answered as JSON below: its headers were not sent yet.)
		if !a.result {
			a.sessionID = "" // a failed initialize opens no session
		}
		a.startStreamLocked()
		return a.eventLocked(frame, true)
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
	a.deadlineLocked()
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
	defer func() {
		if a.st != nil && !a.st.get {
			a.log.finish(a.st, a.gen) // the request ended: a resumption waits for nothing more
		}
	}()
	if a.headers != nil {
		a.headers.Stop() // nothing may write once the handler has returned
	}
	a.deadlineLocked() // net/http flushes what is left after the handler returns
	if a.finished {
		return
	}
	a.finished = true
	if a.streaming || a.wantSSE {
		a.startStreamLocked() // a stream that ends, possibly with no event
		return
	}
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(http.StatusInternalServerError)
	a.w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error: no answer"}}`))
}

// flush sends what is buffered, then lifts the write deadline: under HTTP/2 a write deadline is a
// timer that resets the stream when it fires, written to or not, and a stream may rightly be quiet
// for longer than writeTimeout between two events. A failed flush breaks the answer, as a failed
// write does.
func (a *answer) flush() {
	if err := a.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		a.broken = true
	}
	if a.writeTimeout > 0 {
		a.rc.SetWriteDeadline(time.Time{})
	}
}

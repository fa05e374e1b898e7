package streamable

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// HeaderLastEventID is the header of a GET that resumes a stream.
const HeaderLastEventID = "Last-Event-ID"

// primes reports whether streams of a protocol version start with a priming event (an id and empty
// data). 2025-11-25 asks for one; earlier clients may not expect an event without a message.
func primes(version string) bool {
	return version >= "2025-11-25" && slices.Contains(LegacyVersions, version)
}

// resumableAnswer is an answer on one of sess's streams: its events carry ids and are kept for
// replay.
func (h *Handler) resumableAnswer(w http.ResponseWriter, sess *Session) *answer {
	ans := newAnswer(w, "", h.cfg.WriteTimeout)
	ans.log, ans.bounds = &sess.events, h.bounds
	return ans
}

// request answers a legacy session's request. Once its answer is a stream whose id the client
// holds, the client going away no longer cancels the request — "disconnection SHOULD NOT be
// interpreted as the client cancelling its request" — it runs to its end, its events kept for a GET
// with Last-Event-ID, unless the session ends first. Before that, a client that goes away cancels it
// as it always did: there would be no way to get its answer.
func (h *Handler) request(w http.ResponseWriter, r *http.Request, ex *Exchange) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	ans := h.resumableAnswer(w, ex.Session)
	ans.prime = primes(ex.ProtocolVersion)
	stop := context.AfterFunc(r.Context(), func() {
		if !ans.orphaned(cancel) {
			cancel()
		}
	})
	defer stop()
	defer ans.ensureFinished() // deferred: even a panicking backend must stop the header timer
	h.backend.Request(ctx, ex, ans)
}

// listen serves a GET stream of server-initiated messages: a new one, or st resumed after the
// event seq after — its retained events replayed, then live.
func (h *Handler) listen(w http.ResponseWriter, r *http.Request, sess *Session, st *stream, after uint32) {
	version := strings.TrimSpace(r.Header.Get(upstream.HeaderProtocolVersion))
	if version == "" {
		version = sess.ProtocolVersion
	}
	ctx, cancel := h.listenContext(r.Context())
	ans := h.resumableAnswer(w, sess)
	var replay []event
	if st == nil {
		ans.st, ans.gen = sess.events.open(true, cancel)
		ans.prime = primes(version)
	} else {
		var lost bool
		var previous context.CancelFunc
		ans.st = st
		ans.gen, replay, lost, previous = sess.events.attach(st, after, cancel)
		if previous != nil {
			previous() // a stream is served by one GET: the one it was cut from ends
		}
		if lost {
			h.cfg.Logger.Warn("resumed GET stream: events evicted from the replay buffer are lost", "session", sess.ID, "stream", st.n)
		}
	}
	defer sess.events.detach(ans.st, ans.gen)
	sess.events.endOtherGets(ans.st)
	ans.startStream()
	stop := h.keepAlive(ctx, cancel, ans)
	defer stop()
	if ans.replay(replay) != nil {
		return
	}
	h.backend.Listen(ctx, sess, ans)
}

// resumeAnswer serves a GET that resumes a POST answer's stream: the events retained after the
// Last-Event-ID, then the rest as the request produces them, until its final response. The answer's
// first response delivers nothing more once this takes over, and neither does an earlier
// resumption.
func (h *Handler) resumeAnswer(w http.ResponseWriter, r *http.Request, sess *Session, st *stream, after uint32) {
	ctx, cancel := context.WithCancel(r.Context())
	ans := h.resumableAnswer(w, sess)
	gen, evs, lost, _ := sess.events.attach(st, after, nil)
	ans.st, ans.gen = st, gen
	defer sess.events.detach(st, gen)
	if lost {
		h.cfg.Logger.Warn("resumed answer: events evicted from the replay buffer are lost", "session", sess.ID, "stream", st.n)
	}
	ans.startStream()
	stop := h.keepAlive(ctx, cancel, ans)
	defer stop()
	seq := after
	for {
		if ans.replay(evs) != nil {
			return
		}
		if len(evs) > 0 {
			seq = evs[len(evs)-1].seq
		}
		more, done, wake, ok := sess.events.since(st, gen, seq)
		switch {
		case !ok: // resumed again elsewhere, or the session ended
			return
		case len(more) > 0:
			evs = more
			continue
		case done:
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		evs = nil
	}
}

// keepAlive writes an SSE comment on ans every KeepAlive until ctx ends, and calls cancel when one
// cannot be written. stop ends it and waits: nothing may write once the handler has returned.
func (h *Handler) keepAlive(ctx context.Context, cancel func(), ans *answer) (stop func()) {
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		t := time.NewTicker(h.cfg.KeepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := ans.comment(); err != nil {
					cancel()
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		<-kept
	}
}

package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

// unusableFor is how long an HTTP upstream that kept failing counts as unusable after its last
// failure. Gatehouse does not probe HTTP upstreams, it learns of them from the requests it forwards:
// past this window the upstream counts as usable again, so that a replica taken out of rotation by
// /readyz gets requests again and finds out whether the upstream is back.
const unusableFor = 30 * time.Second

// failuresToFail is how many faults in a row, with no answer in between, make an HTTP upstream
// unusable. One is not enough: a request cannot be allowed to take every replica out of rotation.
const failuresToFail = 3

// upstreamFault marks the failure of a request that says the upstream itself is unwell: it could
// not be reached, it broke the connection or ended its answer before answering, or something in
// front of it answered with a 5xx status. Only these count against its health; a request that ran
// out of time, was refused with a 4xx status or failed in gatehouse says nothing of the upstream,
// and a caller could repeat it at will.
type upstreamFault struct{ err error }

func (e *upstreamFault) Error() string { return e.err.Error() }
func (e *upstreamFault) Unwrap() error { return e.err }

// fault marks err as an upstream fault when it is one; status is the HTTP status of the answer the
// request got (0 when none came).
func fault(err error, status int) error {
	if err == nil || !isFault(err, status) {
		return err
	}
	return &upstreamFault{err}
}

func isFault(err error, status int) bool {
	switch {
	case status >= 500:
		return true
	case status >= 400:
		return false // this request was refused: the upstream is there
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false // this request's time ran out, or its client went away
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns)
}

// upstreamHealth is what the forwarded requests taught gatehouse about each upstream.
type upstreamHealth struct {
	mu   sync.Mutex
	seen map[string]*exchanges
}

// exchanges is the outcome of the last exchanges with one upstream.
type exchanges struct {
	lastOK, lastError time.Time
	err               string
	// faults counts the faults since the last answer.
	faults int
}

func (h *upstreamHealth) get(name string) *exchanges {
	if h.seen == nil {
		h.seen = map[string]*exchanges{}
	}
	e := h.seen[name]
	if e == nil {
		e = &exchanges{}
		h.seen[name] = e
	}
	return e
}

// ok notes that upstream name answered (a result or a JSON-RPC error: it is reachable).
func (h *upstreamHealth) ok(name string) {
	if name == "" {
		return
	}
	h.mu.Lock()
	e := h.get(name)
	e.lastOK, e.faults = time.Now(), 0
	h.mu.Unlock()
}

// failed notes that a request to upstream name failed. Only an upstream fault (fault) counts.
func (h *upstreamHealth) failed(name string, err error) {
	var f *upstreamFault
	if name == "" || !errors.As(err, &f) {
		return
	}
	h.mu.Lock()
	e := h.get(name)
	e.lastError, e.err = time.Now(), redact.Text(err.Error())
	e.faults++
	h.mu.Unlock()
}

// describe adds what is known of upstream name to st and says how its last exchanges went: unknown
// (none yet), ok (the last one was answered), degraded (fewer than failuresToFail faults in a row),
// failing (that many or more, the last less than unusableFor ago) or failed (longer ago).
func (h *upstreamHealth) describe(name string, st map[string]any, now time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.seen[name]
	if e == nil {
		return "unknown"
	}
	if !e.lastOK.IsZero() {
		st["last_ok"] = e.lastOK.UTC().Format(time.RFC3339)
	}
	if !e.lastError.IsZero() {
		st["last_error"], st["last_error_at"] = e.err, e.lastError.UTC().Format(time.RFC3339)
	}
	if e.faults > 0 {
		st["consecutive_failures"] = e.faults
	}
	switch {
	case e.faults == 0:
		return "ok"
	case e.faults < failuresToFail:
		return "degraded"
	case now.Sub(e.lastError) < unusableFor:
		return "failing"
	}
	return "failed"
}

// UpstreamStates describes every upstream for /readyz: its name, kind, state and whether it is
// usable now. A stdio server is usable while its process runs (state running, with the generation
// of the process, which counts restarts), not while it restarts. An HTTP upstream's state is how
// its last exchanges went — unknown, ok, degraded, failing, failed — and it is usable unless
// failing (failuresToFail faults in a row, the last less than unusableFor ago); its era, once
// learned, and its last fault are shown.
// The built-in tools are always usable.
func (s *Server) UpstreamStates() []map[string]any {
	now := time.Now()
	out := make([]map[string]any, 0, len(s.opts.Upstreams))
	for _, u := range s.opts.Upstreams {
		st := map[string]any{"name": u.Name(), "prefix": u.Prefix()}
		usable := true
		switch u := u.(type) {
		case *HTTPUpstream:
			st["kind"] = "http"
			st["era"] = map[int]string{eraUnknown: "unknown", eraModern: "2026-07-28", eraLegacy: "legacy"}[u.getEra()]
			st["state"] = s.health.describe(u.Name(), st, now)
			usable = st["state"] != "failing"
		case *StdioUpstream:
			st["kind"] = "stdio"
			u.mu.Lock()
			ready, gen := u.ready, u.gen
			u.mu.Unlock()
			st["ready"], st["generation"], st["state"] = ready, gen, "running"
			if !ready {
				st["state"], usable = "restarting", false
			}
			s.health.describe(u.Name(), st, now)
		case *LocalUpstream:
			st["kind"], st["state"] = "builtin", "running"
		}
		st["usable"] = usable
		out = append(out, st)
	}
	return out
}

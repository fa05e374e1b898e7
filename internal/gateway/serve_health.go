package gateway

import (
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

// unusableFor is how long an HTTP upstream whose last exchange failed counts as unusable. Gatehouse
// does not probe HTTP upstreams, it learns of them from the requests it forwards: past this window
// the upstream counts as usable again, so that a replica taken out of rotation by /readyz gets
// requests again and finds out whether the upstream is back.
const unusableFor = 30 * time.Second

// upstreamHealth is what the forwarded requests taught gatehouse about each upstream.
type upstreamHealth struct {
	mu   sync.Mutex
	seen map[string]*exchanges
}

// exchanges is the outcome of the last exchanges with one upstream.
type exchanges struct {
	lastOK, lastError time.Time
	err               string
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
	h.get(name).lastOK = time.Now()
	h.mu.Unlock()
}

// failed notes that upstream name could not be reached or did not answer.
func (h *upstreamHealth) failed(name string, err error) {
	if name == "" || err == nil {
		return
	}
	h.mu.Lock()
	e := h.get(name)
	e.lastError, e.err = time.Now(), redact.Text(err.Error())
	h.mu.Unlock()
}

// describe adds what is known of upstream name to st and says how its last exchange went: unknown
// (none yet), ok, failing (it failed less than unusableFor ago) or failed (longer ago).
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
	switch {
	case !e.lastError.After(e.lastOK):
		return "ok"
	case now.Sub(e.lastError) < unusableFor:
		return "failing"
	}
	return "failed"
}

// UpstreamStates describes every upstream for /readyz: its name, kind, state and whether it is
// usable now. A stdio server is usable while its process runs (state running, with the generation
// of the process, which counts restarts), not while it restarts. An HTTP upstream's state is how
// its last exchange went — unknown, ok, failing, failed — and it is usable unless failing (its last
// exchange failed less than unusableFor ago); its era, once learned, and its last error are shown.
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

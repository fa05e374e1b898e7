package streamable

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// MCP specification error codes of the 2026-07-28 transport.
const (
	CodeHeaderMismatch             = -32020
	CodeUnsupportedProtocolVersion = -32022
)

// Protocol versions gatehouse serves.
var (
	// ModernVersions are the stateless revisions.
	ModernVersions = []string{"2026-07-28"}
	// LegacyVersions are the initialize-handshake revisions.
	LegacyVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26"}
)

// Authenticator establishes who is calling and, when their credential names one, their tenant.
// Challenge answers a failed authentication (401 with WWW-Authenticate, or 403).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (p *policy.Principal, tenant string, err error)
	Challenge(w http.ResponseWriter, err error)
}

// TenantResolver finds the engagement of a request (SPEC §8.1) from the tenant of its credential and
// the {engagement} of its path. A non-empty problem refuses the request as cross_tenant.
type TenantResolver interface {
	Resolve(r *http.Request, token, path string) (engagement, problem string)
}

// caller is who sent a request and for which engagement.
type caller struct {
	principal *policy.Principal
	tenant    string
	// problem says why the request has no engagement, when tenancy is on and it has none.
	problem string
}

// Config configures the handler.
type Config struct {
	// AllowedOrigins are the Origin values accepted, exactly (scheme://host[:port]). An Origin header
	// that is present and not listed is refused with 403 (DNS rebinding). Empty: only loopback
	// origins.
	AllowedOrigins []string
	// AllowedHosts are the Host header values accepted (host or host:port). Empty: only loopback hosts
	// when Loopback is set, any host otherwise.
	AllowedHosts []string
	// Loopback says the listener is bound to a loopback address.
	Loopback bool
	// Limits bound every message; Limits.MaxBytes is enforced while the body is read.
	Limits jsonrpc.Limits
	// SessionIdle ends a legacy session unused for this long. Default 30m.
	SessionIdle time.Duration
	// MaxSessions bounds live legacy sessions (0: unbounded).
	MaxSessions int
	// MaxSessionsPerCaller bounds the live legacy sessions of one principal (0: unbounded).
	MaxSessionsPerCaller int
	// KeepAlive is the interval of SSE comment lines on GET streams. Default 25s.
	KeepAlive time.Duration
	// ReadTimeout bounds the reading of a request's body. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of an answer or stream: a client that stops reading for this
	// long loses the request or stream. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxInFlight bounds the POST requests handled at once, from authentication to answer; one more
	// is refused with 503 and Retry-After before its body is read. Default DefaultMaxInFlight.
	MaxInFlight int
	// MaxListens bounds the subscriptions/listen streams open at once; they do not count in
	// MaxInFlight once read. One more is refused with 503. Default DefaultMaxInFlight.
	MaxListens int
	// ReplayEvents, ReplayBytes and ReplayAge bound a legacy session's replay buffer: the events
	// kept for clients that resume a stream with Last-Event-ID (replay.go). Defaults
	// DefaultReplayEvents, DefaultReplayBytes and DefaultReplayAge.
	ReplayEvents int
	ReplayBytes  int
	ReplayAge    time.Duration
	// ReplayTotalBytes bounds the replay buffers of all sessions together, so that many sessions
	// cannot each hold ReplayBytes: beyond it, a session's oldest events go first. Default
	// DefaultReplayTotalBytes.
	ReplayTotalBytes int64
	Auth             Authenticator
	// Tenancy, when set, resolves every request's engagement; a request mounted at a path with an
	// {engagement} wildcard names one there. Nil: the credential's tenant, if any, is the engagement.
	Tenancy TenantResolver
	// Replicas, when set, routes legacy sessions between replicas (replicas.go): the ids of the
	// sessions this replica opens name it, and a request for another replica's session is forwarded
	// there.
	Replicas *Replicas
	Logger   *slog.Logger
}

// Handler is the MCP endpoint.
type Handler struct {
	cfg      Config
	bounds   replayBounds
	backend  Backend
	sessions *Sessions
	stop     chan struct{}
	once     sync.Once
	// ending is closed when shutdown begins: every listen stream ends (EndStreams).
	ending     chan struct{}
	endingOnce sync.Once
	// inFlight holds a token per POST request being handled (Config.MaxInFlight); shed counts the
	// requests refused because it was full.
	inFlight chan struct{}
	listens  chan struct{} // a token per open subscriptions/listen stream (Config.MaxListens)
	shed     atomic.Uint64
	// badForwards counts the requests refused because their Gatehouse-Forwarded header did not
	// verify (replicas.go).
	badForwards atomic.Uint64
}

// take takes a place in pool for a request, or refuses the request with 503 and Retry-After.
func (h *Handler) take(w http.ResponseWriter, pool chan struct{}, what string, limit int) bool {
	select {
	case pool <- struct{}{}:
		return true
	default:
	}
	if n := h.shed.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th, ... refusal
		h.cfg.Logger.Warn(what+" at the limit; refusing more", "limit", limit, "refused", n)
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInternalError,
		"the gateway is handling as many "+what+" as it may; try again later", nil))
	return false
}

// Shed returns how many requests were refused because MaxInFlight requests or MaxListens listen
// streams were being handled.
func (h *Handler) Shed() uint64 { return h.shed.Load() }

// The defaults of Config's timeouts and of MaxInFlight.
const (
	DefaultReadTimeout  = time.Minute
	DefaultWriteTimeout = time.Minute
	DefaultMaxInFlight  = 1024
)

// ErrStreamsEnded is the cause of the context of a listen stream that EndStreams ended.
var ErrStreamsEnded = errors.New("the gateway is shutting down")

// orDefault sets *v to d when it is not positive (unset).
func orDefault[T ~int | ~int64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// New returns a handler that hands accepted messages to b.
func New(cfg Config, b Backend) *Handler {
	orDefault(&cfg.SessionIdle, 30*time.Minute)
	orDefault(&cfg.KeepAlive, 25*time.Second)
	orDefault(&cfg.ReadTimeout, DefaultReadTimeout)
	orDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	orDefault(&cfg.MaxInFlight, DefaultMaxInFlight)
	orDefault(&cfg.MaxListens, DefaultMaxInFlight)
	orDefault(&cfg.Limits.MaxBytes, jsonrpc.DefaultMaxBytes)
	orDefault(&cfg.ReplayEvents, DefaultReplayEvents)
	orDefault(&cfg.ReplayBytes, DefaultReplayBytes)
	orDefault(&cfg.ReplayAge, DefaultReplayAge)
	orDefault(&cfg.ReplayTotalBytes, DefaultReplayTotalBytes)
	h := &Handler{cfg: cfg, bounds: replayBounds{events: cfg.ReplayEvents, bytes: cfg.ReplayBytes, age: cfg.ReplayAge, total: new(atomic.Int64), totalBytes: cfg.ReplayTotalBytes}, backend: b, sessions: newSessions(cfg.MaxSessions, cfg.MaxSessionsPerCaller), stop: make(chan struct{}), ending: make(chan struct{}),
		inFlight: make(chan struct{}, cfg.MaxInFlight), listens: make(chan struct{}, cfg.MaxListens)}
	if cfg.Replicas != nil {
		cfg.Replicas.init(h)
	}
	go h.janitor()
	return h
}

// Sessions returns the live legacy sessions.
func (h *Handler) Sessions() *Sessions { return h.sessions }

// EndStreams ends every listen stream — legacy GET streams and 2026-07-28 subscriptions/listen
// requests — cleanly, and makes any that arrive later end at once. Sessions and other requests in
// flight are untouched. A listen stream lasts as long as its client wants it, so a graceful shutdown
// calls this first: it then waits only for requests that finish on their own. Clients reopen their
// stream, on this replica or another.
func (h *Handler) EndStreams() {
	h.endingOnce.Do(func() { close(h.ending) })
}

// listenContext is the context of a listen stream: parent, ended with cause ErrStreamsEnded when
// EndStreams is called.
func (h *Handler) listenContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-h.ending:
			cancel(ErrStreamsEnded)
		case <-h.stop:
			cancel(ErrStreamsEnded)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Close ends every stream and session and stops the janitor.
func (h *Handler) Close() {
	h.EndStreams()
	h.once.Do(func() { close(h.stop) })
	for _, s := range h.sessions.all() {
		h.ended(s)
	}
}

// ended tells the backend a session ended, and drops what the session kept for resumption.
func (h *Handler) ended(s *Session) {
	s.events.end()
	h.backend.Closed(s)
}

func (h *Handler) janitor() {
	t := time.NewTicker(min(h.cfg.SessionIdle/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			for _, s := range h.sessions.expired(now.Add(-h.cfg.SessionIdle)) {
				h.cfg.Logger.Info("session expired", "session", s.ID)
				// Ending a session may wait on upstreams (a DELETE each); the janitor does not, so
				// that one upstream that does not answer holds up no other session's expiry.
				go h.ended(s)
			}
			h.sessions.each(func(s *Session) { s.events.prune(now, h.bounds) })
		}
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, from := h.origin(r)
	if from == fromNowhere {
		writeError(w, http.StatusForbidden, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			"Forbidden: the "+HeaderForwarded+" header does not verify", nil))
		return
	}
	// A peer forwards what it accepted: the Origin and Host it checked are its own.
	if from != fromPeer && !OriginAllowed(r, h.cfg.AllowedOrigins, h.cfg.AllowedHosts, h.cfg.Loopback) {
		writeError(w, http.StatusForbidden, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Forbidden: Origin or Host not allowed", nil))
		return
	}
	principal, tenant, err := h.cfg.Auth.Authenticate(r.Context(), r)
	if err != nil {
		h.cfg.Auth.Challenge(w, err)
		return
	}
	c := &caller{principal: principal, tenant: tenant}
	if h.cfg.Tenancy != nil {
		c.tenant, c.problem = h.cfg.Tenancy.Resolve(r, tenant, r.PathValue("engagement"))
	}
	if owner, peer := h.route(r, from == fromPeer); peer != nil {
		// Authenticated here first, so that no unauthenticated request reaches another replica;
		// the replica holding the session authenticates it again and decides it.
		h.forward(w, r, owner, peer)
		return
	}
	switch r.Method {
	case http.MethodPost:
		if !h.take(w, h.inFlight, "requests in flight", h.cfg.MaxInFlight) {
			return
		}
		var once sync.Once
		release := func() { once.Do(func() { <-h.inFlight }) }
		defer release()
		h.post(w, r, c, release)
	case http.MethodGet:
		h.get(w, r, c)
	case http.MethodDelete:
		h.delete(w, r, c)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Method not allowed", nil))
	}
}

// OriginAllowed protects a listener against DNS rebinding: a browser on a hostile page can reach a
// loopback listener, but it cannot forge the Origin header, and a rebound name arrives as a foreign
// Host. A request is refused when it carries an Origin not in allowedOrigins (empty: not a loopback
// origin), or a Host not in allowedHosts (empty: not a loopback name, when the listener is loopback).
// The MCP endpoint and the admin listener share it.
func OriginAllowed(r *http.Request, allowedOrigins, allowedHosts []string, loopback bool) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		if len(allowedOrigins) > 0 {
			if !slices.Contains(allowedOrigins, origin) {
				return false
			}
		} else if u, err := url.Parse(origin); err != nil || !isLoopbackName(u.Hostname()) {
			return false
		}
	}
	host := r.Host
	if len(allowedHosts) > 0 {
		name, _, err := net.SplitHostPort(host)
		if err != nil {
			name = host
		}
		return slices.Contains(allowedHosts, host) || slices.Contains(allowedHosts, name)
	}
	if loopback {
		name, _, err := net.SplitHostPort(host)
		if err != nil {
			name = host
		}
		return isLoopbackName(strings.Trim(name, "[]"))
	}
	return true
}

func isLoopbackName(name string) bool {
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// post handles a POST holding a place among MaxInFlight; release gives the place up.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, c *caller, release func()) {
	ctx := r.Context()
	ex := &Exchange{Principal: c.principal, Tenant: c.tenant, TenantProblem: c.problem, ClientIP: clientIP(r), Header: r.Header}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			"Content-Type must be application/json", &jsonrpc.ErrorData{Reason: policy.CodeMalformed}))
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(h.cfg.ReadTimeout)) // not supported by a test's recorder: no bound
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.cfg.Limits.MaxBytes)))
	if err == nil {
		rc.SetReadDeadline(time.Time{}) // the connection stays open for the answer; a deadline would end it
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		fe := &jsonrpc.FrameError{Code: jsonrpc.CodeFor(policy.CodePayloadTooLarge), Reason: policy.CodePayloadTooLarge,
			Detail: "request body exceeds the limit of " + itoa(h.cfg.Limits.MaxBytes) + " bytes", ID: jsonrpc.SalvageID(body)}
		writeError(w, http.StatusRequestEntityTooLarge, h.backend.Refused(ctx, ex, fe, body))
		return
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// The rest of the body is not waited for: net/http would read it before the answer, and the
		// deadline, left in place, ends that read at once.
		if r.ProtoMajor == 1 { // under HTTP/2 the header would close every stream of the connection
			w.Header().Set("Connection", "close")
		}
		writeError(w, http.StatusRequestTimeout, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeParseError,
			"the request body was not received within "+h.cfg.ReadTimeout.String(), nil))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeParseError, "could not read the request body", nil))
		return
	}
	msg, err := jsonrpc.Parse(body, h.cfg.Limits)
	if err != nil {
		var fe *jsonrpc.FrameError
		if !errors.As(err, &fe) {
			fe = &jsonrpc.FrameError{Code: jsonrpc.CodeParseError, Reason: policy.CodeMalformed, Detail: err.Error()}
		}
		status := http.StatusBadRequest
		if fe.Reason == policy.CodePayloadTooLarge { // over limits.max_tokens
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, h.backend.Refused(ctx, ex, fe, body))
		return
	}
	ex.Msg = msg
	if status, frame := h.era(ex, r); frame != nil {
		writeError(w, status, frame)
		return
	}
	if msg.Method == mcp.MethodSubscriptionsListen {
		// A listen stream lasts as long as its client wants: it takes a place among MaxListens
		// instead, so that open streams cannot keep calls out.
		if !h.take(w, h.listens, "listen streams", h.cfg.MaxListens) {
			return
		}
		defer func() { <-h.listens }()
		release()
	}
	if ex.Modern {
		h.modern(w, r, ex)
		return
	}
	h.legacy(w, r, ex)
}

// era decides which era a message belongs to and applies the 2026-07-28 header checks. It returns a
// status and error frame when the request must be refused.
func (h *Handler) era(ex *Exchange, r *http.Request) (int, []byte) {
	msg := ex.Msg
	header := strings.TrimSpace(r.Header.Get(upstream.HeaderProtocolVersion))
	var bodyVersion string
	if msg.Kind() != jsonrpc.KindResponse {
		if req, err := mcp.Decode(msg); err == nil && req.Modern {
			bodyVersion = req.ProtocolVersion
		}
	}
	switch {
	case header == "" && bodyVersion != "":
		ex.Modern = true
		return http.StatusBadRequest, mismatch(msg.ID, "the MCP-Protocol-Version header is required")
	case bodyVersion != "" && header != bodyVersion:
		// Whatever era the header names, a body that declares another version disagrees with it.
		ex.Modern = true
		return http.StatusBadRequest, mismatch(msg.ID, "MCP-Protocol-Version header "+header+" does not match _meta protocolVersion "+bodyVersion)
	case slices.Contains(ModernVersions, header):
		ex.Modern, ex.ProtocolVersion = true, header
	case header == "" || slices.Contains(LegacyVersions, header):
		ex.ProtocolVersion = header
		return 0, nil
	default:
		data, _ := json.Marshal(map[string]any{"supported": append(slices.Clone(ModernVersions), LegacyVersions...), "requested": header})
		return http.StatusBadRequest, errorFrame(msg.ID, CodeUnsupportedProtocolVersion, "Unsupported protocol version: "+header, data)
	}
	if msg.Kind() != jsonrpc.KindRequest {
		return 0, nil
	}
	if got := strings.TrimSpace(r.Header.Get(upstream.HeaderMethod)); got != msg.Method {
		if got == "" {
			return http.StatusBadRequest, mismatch(msg.ID, "the Mcp-Method header is required")
		}
		return http.StatusBadRequest, mismatch(msg.ID, "Mcp-Method header value '"+got+"' does not match body method '"+msg.Method+"'")
	}
	if msg.Method == mcp.MethodToolsCall || msg.Method == mcp.MethodPromptsGet || msg.Method == mcp.MethodResourcesRead {
		req, err := mcp.Decode(msg)
		if err != nil {
			return 0, nil // the backend refuses malformed params
		}
		want := req.Name
		if msg.Method == mcp.MethodResourcesRead {
			want = req.URI
		}
		raw := r.Header.Get(upstream.HeaderName)
		if raw == "" {
			if want != "" {
				return http.StatusBadRequest, mismatch(msg.ID, "the Mcp-Name header is required")
			}
			return 0, nil
		}
		got, err := upstream.DecodeHeaderValue(raw)
		if err != nil {
			return http.StatusBadRequest, mismatch(msg.ID, "Mcp-Name header: "+err.Error())
		}
		if got != want {
			return http.StatusBadRequest, mismatch(msg.ID, "Mcp-Name header value '"+got+"' does not match body value '"+want+"'")
		}
	}
	ex.Params = paramHeaders(r.Header)
	return 0, nil
}

func (h *Handler) modern(w http.ResponseWriter, r *http.Request, ex *Exchange) {
	switch ex.Msg.Kind() {
	case jsonrpc.KindRequest:
		ctx := r.Context()
		if ex.Msg.Method == mcp.MethodSubscriptionsListen {
			var cancel context.CancelFunc
			ctx, cancel = h.listenContext(ctx)
			defer cancel()
		}
		ans := newAnswer(w, "", h.cfg.WriteTimeout)
		defer ans.ensureFinished() // deferred: even a panicking backend must stop the header timer
		h.backend.Request(ctx, ex, ans)
	case jsonrpc.KindNotification:
		if err := h.backend.Notify(r.Context(), ex); err != nil {
			writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, err.Error(), nil))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			"clients do not send responses in protocol version "+ex.ProtocolVersion, nil))
	}
}

func (h *Handler) legacy(w http.ResponseWriter, r *http.Request, ex *Exchange) {
	ctx := r.Context()
	if ex.Msg.Method == mcp.MethodInitialize && ex.Msg.Kind() == jsonrpc.KindRequest {
		sess := &Session{ID: h.newSessionID(), Principal: ex.Principal, Tenant: ex.Tenant}
		sess.touch(time.Now())
		ex.Session = sess
		ans := newAnswer(w, sess.ID, h.cfg.WriteTimeout)
		ans.onResult = func() error {
			err := h.sessions.add(sess)
			if err != nil {
				h.cfg.Logger.Warn("refusing a new session", "caller", redact.Clip(sess.caller(), 200), "max", h.cfg.MaxSessions,
					"max_per_caller", h.cfg.MaxSessionsPerCaller, "error", err)
			}
			return err
		}
		defer func() {
			ans.ensureFinished()
			if !ans.result {
				h.backend.Closed(sess)
			}
		}()
		h.backend.Request(ctx, ex, ans)
		return
	}
	sess, status, frame := h.session(r, ex.Principal)
	if sess == nil {
		writeError(w, status, frame)
		return
	}
	ex.Session = sess
	if ex.ProtocolVersion == "" {
		ex.ProtocolVersion = sess.ProtocolVersion
	}
	if ex.TenantProblem == "" && ex.Tenant != sess.Tenant {
		// The engagement is never revealed to a caller outside it; the audit record has both.
		ex.TenantProblem = "the session was opened for another engagement"
	}
	if ex.TenantProblem != "" && ex.Msg.Kind() != jsonrpc.KindRequest {
		// Requests are refused, and audited, by the backend's tenancy stage; notifications and
		// replies are not decided, so they are dropped here.
		h.cfg.Logger.Warn("cross-tenant message dropped", "session", sess.ID, "tenant", redact.Clip(ex.Tenant, 200), "problem", ex.TenantProblem)
		writeError(w, http.StatusForbidden, crossTenant(ex.TenantProblem))
		return
	}
	switch ex.Msg.Kind() {
	case jsonrpc.KindRequest:
		h.request(w, r, ex)
	case jsonrpc.KindNotification:
		if err := h.backend.Notify(ctx, ex); err != nil {
			writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, err.Error(), nil))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case jsonrpc.KindResponse:
		if err := h.backend.Reply(ctx, ex); err != nil {
			writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, err.Error(), nil))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// session finds the legacy session a request names. A session belongs to the caller that opened
// it: another caller presenting its id is told it does not exist, as if it had never been.
func (h *Handler) session(r *http.Request, p *policy.Principal) (*Session, int, []byte) {
	id := r.Header.Get(upstream.HeaderSessionID)
	if id == "" {
		return nil, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Bad Request: missing Mcp-Session-Id; send initialize first", nil)
	}
	sess := h.sessions.get(id)
	if sess == nil || sess.Principal.ID != p.ID {
		return nil, http.StatusNotFound, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Session not found", nil)
	}
	sess.touch(time.Now())
	return sess, 0, nil
}

// sessionOf is session for a GET or DELETE, which are refused outright when they cross engagements.
func (h *Handler) sessionOf(r *http.Request, c *caller) (*Session, int, []byte) {
	sess, status, frame := h.session(r, c.principal)
	if sess == nil {
		return nil, status, frame
	}
	if c.problem == "" && c.tenant != sess.Tenant {
		c.problem = "the session was opened for another engagement"
	}
	if c.problem != "" {
		h.cfg.Logger.Warn("cross-tenant request refused", "method", r.Method, "session", sess.ID, "tenant", redact.Clip(c.tenant, 200), "problem", c.problem)
		return nil, http.StatusForbidden, crossTenant(c.problem)
	}
	return sess, 0, nil
}

func crossTenant(problem string) []byte {
	return jsonrpc.Refusal(jsonrpc.ID{}, jsonrpc.ErrorData{Reason: policy.CodeCrossTenant, Detail: problem})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, c *caller) {
	if slices.Contains(ModernVersions, strings.TrimSpace(r.Header.Get(upstream.HeaderProtocolVersion))) {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "GET is not part of protocol version 2026-07-28; use subscriptions/listen", nil))
		return
	}
	sess, status, frame := h.sessionOf(r, c)
	if sess == nil {
		writeError(w, status, frame)
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		writeError(w, http.StatusNotAcceptable, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Accept must include text/event-stream", nil))
		return
	}
	var st *stream
	var after uint32
	if id := r.Header.Get(HeaderLastEventID); id != "" {
		var err error
		if st, after, err = sess.events.lookup(id); err != nil {
			writeError(w, http.StatusBadRequest, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				"Bad Request: malformed Last-Event-ID (gatehouse writes <tag>-<stream>-<seq>)", nil))
			return
		}
		if st == nil {
			h.cfg.Logger.Info("Last-Event-ID names no stream of this session; opening a new stream", "session", sess.ID, "last_event_id", id)
		}
	}
	if st != nil && !st.get {
		h.resumeAnswer(w, r, sess, st, after)
		return
	}
	h.listen(w, r, sess, st, after)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, c *caller) {
	if slices.Contains(ModernVersions, strings.TrimSpace(r.Header.Get(upstream.HeaderProtocolVersion))) {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "DELETE is not part of protocol version 2026-07-28", nil))
		return
	}
	sess, status, frame := h.sessionOf(r, c)
	if sess == nil {
		writeError(w, status, frame)
		return
	}
	h.sessions.remove(sess.ID)
	h.ended(sess)
	w.WriteHeader(http.StatusOK)
}

func paramHeaders(h http.Header) http.Header {
	var out http.Header
	for k, vs := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), upstream.HeaderParamPrefix) {
			if out == nil {
				out = http.Header{}
			}
			out[http.CanonicalHeaderKey(k)] = vs
		}
	}
	return out
}

func mismatch(id jsonrpc.ID, msg string) []byte {
	return errorFrame(id, CodeHeaderMismatch, "Header mismatch: "+msg, nil)
}

// errorFrame builds an error response with raw data (the MCP-defined errors carry their own data
// shapes, not gatehouse's ErrorData).
func errorFrame(id jsonrpc.ID, code int, message string, data []byte) []byte {
	e := map[string]any{"code": code, "message": message}
	if data != nil {
		e["data"] = json.RawMessage(data)
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(id.Raw()), "error": e})
	return b
}

func writeError(w http.ResponseWriter, status int, frame []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(frame)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

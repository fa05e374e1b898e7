package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
)

// ServeOptions configure the HTTP gateway (SPEC §1.2).
type ServeOptions struct {
	// Upstreams in configuration order; list results are merged in this order.
	Upstreams []Upstream
	// Separator joins an upstream's prefix and a tool or prompt name. Default ".".
	Separator string
	// DenyAsToolError answers a refused tools/call with a tool result (isError: true) carrying the
	// reason, so the model reads it, instead of a JSON-RPC error (SPEC §3.3).
	DenyAsToolError bool
	// RefusalStatusOK answers refusals with HTTP 200 instead of 403/422/429/... (for clients that
	// treat non-2xx statuses as transport failures).
	RefusalStatusOK bool
}

// Server is the backend of `gatehouse serve`: it routes, decides and answers what the Streamable
// HTTP transport accepts, federating several upstreams into one server (SPEC §2.5).
type Server struct {
	g    *Gateway
	opts ServeOptions

	unprefixed Upstream
	stateMu    sync.Mutex // guards the creation of sessions' serveState
	// owners remembers which upstream listed which resource URIs and templates.
	owners *resourceOwners
	// health is how the last exchanges with each upstream went, for /readyz.
	health upstreamHealth
	// waits are the held requests waiting for a human.
	waits httpWaits
}

var _ streamable.Backend = (*Server)(nil)

// NewServer returns the backend for g. At most one upstream may be unprefixed.
func (g *Gateway) NewServer(o ServeOptions) (*Server, error) {
	if o.Separator == "" {
		o.Separator = "."
	}
	s := &Server{g: g, opts: o, owners: newResourceOwners(maxOwnedURIs, maxOwnedTemplates)}
	names := map[string]bool{}
	for _, u := range o.Upstreams {
		if names[u.Name()] {
			return nil, fmt.Errorf("upstream %q is configured twice", u.Name())
		}
		names[u.Name()] = true
		if u.Prefix() == "" {
			if s.unprefixed != nil {
				return nil, fmt.Errorf("upstreams %q and %q are both unprefixed; at most one may be", s.unprefixed.Name(), u.Name())
			}
			s.unprefixed = u
		}
	}
	if len(o.Upstreams) == 0 {
		return nil, errors.New("no upstreams")
	}
	return s, nil
}

// serveState is a legacy session's backend state: the upstream half of the session, per upstream,
// and where to send the client's answers to server-to-client requests.
type serveState struct {
	mu         sync.Mutex
	links      map[string]*Link
	serverReqs map[string]serverRequest
}

type serverRequest struct {
	upstream Upstream
	id       jsonrpc.ID // the id the upstream used
}

func (s *Server) state(sess *streamable.Session) *serveState {
	if sess == nil {
		return nil
	}
	// A session's first request may fan out to several upstreams at once, all making its state.
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if st, ok := sess.State.(*serveState); ok {
		return st
	}
	st := &serveState{links: map[string]*Link{}, serverReqs: map[string]serverRequest{}}
	sess.State = st
	return st
}

// link returns the upstream half of the exchange's session for u: a session's own link (legacy),
// or a fresh one for a stateless request.
func (s *Server) link(ex *streamable.Exchange, u Upstream) *Link {
	st := s.state(ex.Session)
	if st == nil {
		return &Link{ProtocolVersion: ex.ProtocolVersion}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.links[u.Name()]
	if l == nil {
		l = &Link{ProtocolVersion: ex.ProtocolVersion}
		st.links[u.Name()] = l
	}
	return l
}

// sessionInfo is what the decision pipeline knows of the caller.
func (s *Server) sessionInfo(ex *streamable.Exchange, upstream string) *Session {
	si := &Session{ClientIP: ex.ClientIP, Upstream: upstream, Principal: ex.Principal, Tenant: ex.Tenant, TenantProblem: ex.TenantProblem, Headers: maskHeaders(ex.Header)}
	if s.g.opts.Tracer != nil {
		si.TraceParent, si.TraceState = ex.Header.Get("Traceparent"), ex.Header.Get("Tracestate")
	}
	if ex.Session != nil {
		si.ID = ex.Session.ID
	}
	return si
}

// target is one upstream a message goes to, with the frame as that upstream must see it.
type target struct {
	up    Upstream
	frame []byte
	// name is the tool/prompt name or URI as the upstream knows it (for Mcp-Name).
	name string
}

// errNoRoute is a message gatehouse cannot route as it stands: it names no upstream, or its params
// say nothing routable (an invalid cursor, too many subscriptions). It is answered -32602.
type errNoRoute struct{ msg string }

func (e *errNoRoute) Error() string { return e.msg }

// Request implements streamable.Backend.
func (s *Server) Request(ctx context.Context, ex *streamable.Exchange, ans streamable.Answer) {
	msg := ex.Msg
	if msg.Method == mcp.MethodPing && !ex.Modern && len(s.opts.Upstreams) > 1 {
		ans.Finish(jsonrpc.Result(msg.ID, []byte("{}")), http.StatusOK)
		return
	}
	targets, err := s.route(msg)
	upstreamName := ""
	if len(targets) == 1 {
		upstreamName = targets[0].up.Name()
	}
	c := s.g.decide(ctx, s.sessionInfo(ex, upstreamName), msg)
	if c.Wait != nil {
		s.wait(ctx, ex, c, ans)
	}
	if !c.Decision.Forwards() {
		s.refuse(ctx, c, ans, msg)
		return
	}
	var nr *errNoRoute
	if errors.As(err, &nr) {
		// The policy allowed it, but there is nowhere to send it: answer as a server would.
		c.Decision.Abandon()
		frame := jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeInvalidParams, nr.msg, nil)
		status := http.StatusOK
		if !mcp.Decided(msg.Method) && ex.Modern {
			frame, status = jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeMethodNotFound, nr.msg, nil), http.StatusNotFound
		}
		s.finish(c, ans, frame, status, audit.Outcome{Status: audit.StatusRefused, Args: previewArgs(c), Result: frame})
		return
	}
	frame, args, err := s.g.outbound(c)
	if err != nil {
		c.Decision.Abandon()
		c.Refuse("gateway", policy.CodePolicyError, "the policy's rewrite of the arguments could not be applied")
		s.refuse(ctx, c, ans, msg)
		return
	}
	if len(targets) == 1 && !s.federated(msg.Method) {
		t := targets[0]
		if string(frame) != string(msg.Raw) || t.frame == nil {
			// A policy rewrite: route the rewritten frame.
			if t.frame, err = s.rewriteName(frame, msg.Method, t); err != nil {
				c.Decision.Abandon()
				s.unavailable(ctx, c, ans, err)
				return
			}
		}
		s.forward(ctx, ex, c, t, args, ans)
		return
	}
	if msg.Method == mcp.MethodSubscriptionsListen {
		s.listenAll(ctx, ex, c, targets, frame, args, ans)
		return
	}
	if string(frame) != string(msg.Raw) {
		// A policy rewrite: route the rewritten request, so every upstream gets it as rewritten. One
		// that cannot be routed is refused, never sent as it was before the rewrite.
		if targets, err = s.reroute(frame); err != nil {
			s.g.logger.Warn("the policy's rewrite of a fanned-out request cannot be routed", "method", logText(msg.Method), "decision_id", c.DecisionID, "error", err)
			c.Decision.Abandon()
			c.Refuse("gateway", policy.CodePolicyError, "the policy's rewrite of the request could not be applied")
			s.refuse(ctx, c, ans, msg)
			return
		}
	}
	s.fanOut(ctx, ex, c, targets, args, ans)
}

// reroute routes a policy's rewrite of a fanned-out request.
func (s *Server) reroute(frame []byte) ([]target, error) {
	m, err := jsonrpc.Parse(frame, s.g.outboundLimits())
	if err != nil {
		return nil, err
	}
	return s.route(m)
}

// clientKey identifies a downstream client where no session does (2026-07-28): its principal, its
// engagement and its address.
func clientKey(ex *streamable.Exchange) string {
	id := ""
	if ex.Principal != nil {
		id = ex.Principal.ID
	}
	return strconv.Quote(id) + " " + strconv.Quote(ex.Tenant) + " " + strconv.Quote(ex.ClientIP)
}

// bounded limits how long a request may wait for an upstream; a subscriptions/listen stream lives
// as long as its client wants it.
func bounded(ctx context.Context, up Upstream, method string) (context.Context, context.CancelFunc) {
	if method == mcp.MethodSubscriptionsListen {
		return context.WithCancel(ctx)
	}
	d := defaultRequestTimeout
	if t, ok := up.(interface{ RequestTimeout() time.Duration }); ok {
		d = t.RequestTimeout()
	}
	return context.WithTimeout(ctx, d)
}

// forward sends a request to one upstream and relays its answer.
func (s *Server) forward(ctx context.Context, ex *streamable.Exchange, c *pipeline.Call, t target, args []byte, ans streamable.Answer) {
	start := time.Now()
	clientCtx := ctx
	ctx, cancel := bounded(ctx, t.up, ex.Msg.Method)
	defer cancel()
	l := s.link(ex, t.up)
	st, err := t.up.Send(ctx, l, &Outbound{Frame: t.frame, Msg: ex.Msg, Modern: ex.Modern, ProtocolVersion: ex.ProtocolVersion, Name: t.name, Params: ex.Params, Tenant: ex.Tenant, Client: clientKey(ex), Input: &c.Input})
	if err != nil {
		s.unavailable(ctx, c, ans, fault(err, 0)) // forwarded or not, the budget stays counted if the frame went out
		return
	}
	defer st.Close()
	if st.Streaming() {
		ans.Stream() // mirror the upstream: a client sees the same shape of answer as it would directly
	}
	for {
		m, err := st.Next()
		if err != nil {
			// A listen stream ends when the upstream, the client or a shutdown (streamable's
			// EndStreams) ends it: it was answered all along.
			if ex.Msg.Method == mcp.MethodSubscriptionsListen && (err == io.EOF || clientCtx.Err() != nil) {
				s.g.durable(s.g.record(c, audit.Outcome{Status: audit.StatusAnswered, Args: args, Upstream: time.Since(start)}))
				return
			}
			if clientCtx.Err() != nil { // the client went away: there is no one to answer
				s.g.durable(s.g.record(c, audit.Outcome{Status: audit.StatusUnavailable, Args: args, Upstream: time.Since(start)}))
				return
			}
			if ctx.Err() != nil {
				err = fmt.Errorf("no answer within the upstream's request timeout") // this request's: no fault
			} else {
				err = fault(err, st.Status())
			}
			s.unavailable(ctx, c, ans, fmt.Errorf("upstream %s: %w", t.up.Name(), err))
			return
		}
		switch m.Kind() {
		case jsonrpc.KindResponse:
			if m.ID.Key() != ex.Msg.ID.Key() {
				continue
			}
			if ex.Session != nil && ex.Msg.Method == mcp.MethodInitialize {
				s.initialized(ex, l, m, true)
			}
			s.answer(ctx, ex, c, t.up, m, st.Status(), args, time.Since(start), ans)
			return
		case jsonrpc.KindRequest:
			ans.Send(s.fromServer(ex, t.up, m))
		case jsonrpc.KindNotification:
			ans.Send(s.prefixNotification(t.up, m))
		}
	}
}

// answer runs a response through the response path and federation renaming, audits it and releases
// it to the client.
func (s *Server) answer(ctx context.Context, ex *streamable.Exchange, c *pipeline.Call, up Upstream, m *jsonrpc.Message, status int, args []byte, took time.Duration, ans streamable.Answer) {
	if up != nil {
		s.health.ok(up.Name())
	}
	if up != nil && up.Prefix() != "" && !m.IsError() {
		if renamed, err := s.prefixList(c.Input.Kind, up, m); err == nil {
			m = renamed
		}
	}
	if _, ok := mcp.ListingFor(c.Input.Kind); ok && up != nil && !m.IsError() {
		s.learnOwners(c.Input.Kind, up, m)
	}
	var owner func(string) string
	if up == nil { // a merged answer of several upstreams
		owner = s.ownerName
	}
	frame, o := s.g.respond(ctx, c, m, owner)
	o.Args, o.Upstream = args, took
	if string(frame) != string(m.Raw) {
		status = http.StatusOK
		if o.Status == audit.StatusResultRefused {
			status = s.status(o.Response.Code)
		}
	}
	s.finish(c, ans, frame, status, o)
}

// finish audits an exchange and releases its answer once the record is durable.
func (s *Server) finish(c *pipeline.Call, ans streamable.Answer, frame []byte, status int, o audit.Outcome) {
	if o.Result == nil {
		o.Result = frame
	}
	if err := s.g.durable(s.g.record(c, o)); err != nil {
		s.g.logger.Error("audit record not written; withholding the answer", "decision_id", c.DecisionID, "error", err)
		ans.Finish(auditFailed(c.Msg.ID, c.DecisionID), http.StatusServiceUnavailable)
		return
	}
	ans.Finish(frame, status)
}

// refuse answers a call the pipeline refused.
func (s *Server) refuse(ctx context.Context, c *pipeline.Call, ans streamable.Answer, msg *jsonrpc.Message) {
	frame := refusal(c)
	status := s.status(c.Decision.Code)
	if c.Decision.Ask {
		status = http.StatusOK // an input_required result, not an error
	}
	if ra := c.Decision.RetryAfter; ra > 0 {
		ans.SetHeader("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
	}
	if s.opts.DenyAsToolError && msg.Method == mcp.MethodToolsCall &&
		(c.Decision.Code == policy.CodePolicyDeny || c.Decision.Code == policy.CodeValidationFailed) {
		frame, status = toolError(msg.ID, c), http.StatusOK
	}
	s.finish(c, ans, frame, status, audit.Outcome{Status: audit.StatusRefused, Args: previewArgs(c), Result: frame})
}

// unavailable answers a call whose upstream could not be reached or did not answer. An answer
// refused for its size (a *jsonrpc.FrameError with reason payload_too_large, from an in-process
// upstream) is refused with that reason instead; either way none of the answer reaches the client.
// Only an error marked as the upstream's fault (fault) counts against its health.
func (s *Server) unavailable(ctx context.Context, c *pipeline.Call, ans streamable.Answer, err error) {
	var fe *jsonrpc.FrameError
	if errors.As(err, &fe) && fe.Reason == policy.CodePayloadTooLarge {
		s.g.logger.Warn("upstream answer over the message limit", "upstream", c.Upstream, "decision_id", c.DecisionID, "error", err)
		c.Refuse("upstream", policy.CodePayloadTooLarge, "the answer of upstream "+c.Upstream+" exceeds the message limit: "+fe.Detail)
		frame := refusal(c)
		s.finish(c, ans, frame, s.status(policy.CodePayloadTooLarge), audit.Outcome{Status: audit.StatusUpstreamError, Args: previewArgs(c), Result: frame})
		return
	}
	s.g.logger.Warn("upstream unavailable", "upstream", c.Upstream, "decision_id", c.DecisionID, "error", err)
	s.health.failed(c.Upstream, err)
	c.Refuse("upstream", policy.CodeUpstreamUnavailable, "upstream "+c.Upstream+" is unavailable")
	frame := refusal(c)
	s.finish(c, ans, frame, s.status(policy.CodeUpstreamUnavailable), audit.Outcome{Status: audit.StatusUnavailable, Args: previewArgs(c), Result: frame})
}

// status maps a refusal reason to an HTTP status (SPEC §3.3).
func (s *Server) status(code policy.Code) int {
	if s.opts.RefusalStatusOK {
		return http.StatusOK
	}
	switch code {
	case policy.CodePolicyDeny, policy.CodeCrossTenant, policy.CodeSessionKilled, policy.CodeApprovalRequired,
		policy.CodeApprovalDenied, policy.CodeBudgetExceeded, policy.CodeThreatDetected:
		return http.StatusForbidden
	case policy.CodeValidationFailed:
		return http.StatusUnprocessableEntity
	case policy.CodeRateLimited:
		return http.StatusTooManyRequests
	case policy.CodeUnauthenticated:
		return http.StatusUnauthorized
	case policy.CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case policy.CodeMalformed:
		return http.StatusBadRequest
	case policy.CodeUpstreamUnavailable:
		return http.StatusBadGateway
	case policy.CodeApprovalTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// toolError is a refusal as a tool result, so the model reads why (deny_as: tool_error).
func toolError(id jsonrpc.ID, c *pipeline.Call) []byte {
	text := jsonrpc.MessageFor(c.Decision.Code)
	if c.Decision.Reason != "" {
		text += ": " + c.Decision.Reason
	}
	text += " (decision " + c.DecisionID + ")"
	b, _ := encode(map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}, "isError": true})
	return jsonrpc.Result(id, b)
}

// maskHeaders turns request headers into the policy input's header map, credentials masked.
func maskHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		switch lk {
		case "authorization", "proxy-authorization", "cookie", "x-api-key":
			out[lk] = policy.RedactedValue
		default:
			out[lk] = strings.Join(vs, ", ")
		}
	}
	return out
}

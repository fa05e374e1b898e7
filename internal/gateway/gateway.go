package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/pin"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/ratelimit"
	stagethreat "github.com/gatehouse-mcp/gatehouse/internal/stage/threat"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// Options are what a Gateway is built from.
type Options struct {
	// Limits bound every frame read from either side.
	Limits jsonrpc.Limits
	// Identity is the stage that establishes the caller.
	Identity pipeline.Stage
	// Engines are the policy engines in the order they are consulted (and their rewrites applied).
	Engines []*engine.Stage
	// Allowlists, when set, scope every call to an engagement (SPEC §8.1, §8.2): a call without one
	// is refused, and tools outside the engagement's allowlist are refused and hidden.
	Allowlists *tenancy.Allowlists
	// Threat, when set, scans arguments and results (SPEC §9) and fills input.threat for the engines.
	Threat *stagethreat.Stage
	// Pins, when set, pins tool definitions as they are listed and quarantines tools whose definition
	// changes or reads as poisoned (SPEC §9.3).
	Pins *pin.Pinner
	// Approvals configure how holds become approvals (SPEC §10); its Store, Logger and Metrics are
	// the gateway's. The zero value: approvals kept in Store, held calls answered at once.
	Approvals approval.Options
	// RateLimits are the gateway's own limits per identity, tenant or tool (SPEC §8.7).
	RateLimits []ratelimit.Limit
	// Fail is the posture when state or an engine fails.
	Fail     pipeline.Fail
	Store    state.Store
	Recorder *audit.Recorder
	Logger   *slog.Logger
	// RequestTimeout bounds how long a forwarded request may wait for its answer.
	RequestTimeout time.Duration
	// HangAfter is how long an upstream with requests in flight may stay silent before it is pinged;
	// PingTimeout is how long the ping may go unanswered before the upstream is declared hung.
	HangAfter   time.Duration
	PingTimeout time.Duration
	// DrainTimeout bounds how long in-flight requests may finish after the client hangs up.
	DrainTimeout time.Duration
	// EventLoop makes the stdio Relay read its client and upstream on one lineloop.Loop.
	EventLoop bool
	// Metrics may be nil.
	Metrics *Metrics
	// Tracer, when set, exports a span per decided request (SPEC §13.2).
	Tracer *tracing.Tracer
	// Local, when set, is a toolset the stdio Relay answers itself in front of its upstream (the
	// pack's agent tools, SPEC §6.4). Its tools are named LocalPrefix + "." + their name; they are
	// added to the first page of the upstream's tools/list, and a decided call of one is answered
	// by the toolset, never forwarded. (gatehouse serve serves a toolset as a LocalUpstream.)
	Local       Toolset
	LocalPrefix string
}

// Gateway decides and records exchanges. It is safe for concurrent use by many sessions.
type Gateway struct {
	opts     Options
	request  *pipeline.Chain
	response *pipeline.Chain
	vis      []pipeline.Visibility
	logger   *slog.Logger
}

// New builds a gateway; the stage order is fixed by chain.go.
func New(o Options) *Gateway {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Minute
	}
	if o.HangAfter <= 0 {
		o.HangAfter = 30 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	o.Approvals.Store, o.Approvals.Logger, o.Approvals.Metrics = o.Store, o.Logger, o.Metrics.approvalMetrics()
	g := &Gateway{
		opts:     o,
		request:  pipeline.NewChain(requestStages(&o)...),
		response: pipeline.NewChain(responseStages(&o)...),
		logger:   o.Logger,
	}
	for _, e := range o.Engines {
		o.Metrics.killMetrics().Engines(e.Name())
	}
	for _, s := range g.request.Stages() {
		if v, ok := s.(pipeline.Visibility); ok {
			g.vis = append(g.vis, v)
		}
	}
	return g
}

// RequestPath lists the request stages in order, for the start-up log.
func (g *Gateway) RequestPath() []string { return g.request.Names() }

// newID returns an unguessable identifier with a readable prefix.
func newID(prefix string) string { return prefix + "_" + rand.Text() }

// Session is what a gateway knows of the conversation a message belongs to.
type Session struct {
	ID       string
	ClientIP string
	Upstream string
	Headers  map[string]string
	// Principal is the caller the transport authenticated (nil for the stdio wrapper, whose
	// identity stage supplies it).
	Principal *policy.Principal
	// Tenant is the engagement the transport resolved, if any.
	Tenant string
	// TenantProblem says why the transport could not resolve one, when it could not.
	TenantProblem string
	// TraceParent and TraceState are the trace context of the HTTP request (serve), a parent for
	// a call whose _meta has none.
	TraceParent, TraceState string
}

// decide runs a request through the request path and returns the call with its decision. It never
// fails: an internal fault becomes an internal_error refusal whose id is logged.
func (g *Gateway) decide(ctx context.Context, sess *Session, msg *jsonrpc.Message) *pipeline.Call {
	c := &pipeline.Call{DecisionID: newID("dec"), Received: time.Now(), Msg: msg, Upstream: sess.Upstream, Principal: sess.Principal, TenantProblem: sess.TenantProblem}
	if mcp.MultiRoundTrip(msg.Method) {
		retried, r, err := g.unwrapHold(msg)
		if err != nil {
			c.Request = &mcp.Request{}
			c.Input = baseInput(sess, msg.Method, c.Request)
			c.Refuse("codec", policy.CodeMalformed, err.Error())
			return c
		}
		c.Msg, c.HoldAnswer, c.HoldApproval = retried, r.Action, r.ApprovalID
	}
	req, err := mcp.Decode(c.Msg)
	if err != nil {
		c.Request = &mcp.Request{}
		c.Input = baseInput(sess, msg.Method, c.Request)
		c.Refuse("codec", policy.CodeMalformed, err.Error())
		return c
	}
	c.Request = req
	c.Input = baseInput(sess, msg.Method, req)
	if _, local := g.localName(req.Name); local && msg.Method == mcp.MethodToolsCall {
		c.Upstream, c.Input.Tool.Server = g.opts.LocalPrefix, g.opts.LocalPrefix // gatehouse answers it (relay_local.go)
	}
	c.Trace = g.startTrace(ctx, sess, c)
	if err := g.request.Run(c.Trace.Context(ctx), c); err != nil {
		g.logger.Error("request path failed", "decision_id", c.DecisionID, "method", logText(msg.Method), "error", err)
		if c.Decision.Effect == "" || c.Decision.Forwards() {
			c.Refuse("gateway", policy.CodeInternal, "internal error; see decision "+c.DecisionID)
		}
	}
	if c.Decision.Would != "" {
		g.logger.Warn("would_deny", "effect", c.Decision.Would, "code", c.Decision.WouldCode, "rule_id", c.Decision.WouldRule,
			"reason", c.Decision.WouldReason, "method", logText(msg.Method), "target", logText(c.Input.Target()), "decision_id", c.DecisionID)
	}
	return c
}

// startTrace begins the spans of a decoded request, when tracing is on and the trace is sampled.
func (g *Gateway) startTrace(ctx context.Context, sess *Session, c *pipeline.Call) *tracing.Call {
	if g.opts.Tracer == nil || c.Msg.Method == mcp.MethodPing {
		return nil
	}
	s := tracing.Start{Received: c.Received, Method: c.Msg.Method, RequestID: c.Msg.ID.String(), ProtocolVersion: c.Request.ProtocolVersion,
		DecisionID: c.DecisionID, Upstream: c.Upstream, HeaderParent: sess.TraceParent, HeaderState: sess.TraceState}
	if tc := c.Request.Trace; tc != nil {
		s.MetaParent, s.MetaState = tc.Parent, tc.State
	}
	switch c.Msg.Method {
	case mcp.MethodToolsCall:
		s.Tool = c.Request.Name
	case mcp.MethodPromptsGet:
		s.Prompt = c.Request.Name
	}
	return g.opts.Tracer.Start(ctx, s)
}

func baseInput(sess *Session, method string, req *mcp.Request) policy.Input {
	in := policy.Input{
		Kind:       method,
		Phase:      policy.PhaseRequest,
		RequestIP:  sess.ClientIP,
		Headers:    sess.Headers,
		Tenant:     sess.Tenant,
		Session:    policy.Session{ID: sess.ID, RunID: req.RunID, WorkflowID: req.WorkflowID},
		Attributes: req.Attributes,
		Tool:       policy.Tool{Server: sess.Upstream},
		User:       policy.Principal{Roles: []string{}, Claims: map[string]any{}},
		Agent:      policy.Principal{Roles: []string{}, Claims: map[string]any{}},
		Threat:     policy.Threat{Findings: []policy.Finding{}},
	}
	if in.Headers == nil {
		in.Headers = map[string]string{}
	}
	switch method {
	case mcp.MethodToolsCall:
		in.Tool.Name, in.Tool.Args = req.Name, req.Arguments
	case mcp.MethodPromptsGet:
		in.Prompt.Name, in.Prompt.Args = req.Name, req.Arguments
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		in.Resource.URI = req.URI
	}
	if in.Tool.Args == nil {
		in.Tool.Args = map[string]any{}
	}
	if in.Prompt.Args == nil {
		in.Prompt.Args = map[string]any{}
	}
	return in
}

// outbound returns the frame to forward for an allowed call and the arguments as forwarded: the
// original bytes, or a rewritten copy when the decision carries rewrites.
// When the call is traced, the upstream is given the trace context of the call's client span in
// params._meta (which makes the frame a copy too).
func (g *Gateway) outbound(c *pipeline.Call) (frame, args []byte, err error) {
	args = previewArgs(c)
	traceparent, tracestate := c.Trace.Forward(c.Upstream)
	if len(c.Decision.Ops) == 0 && traceparent == "" {
		return c.Msg.Raw, args, nil
	}
	params := c.Msg.Params
	if len(c.Decision.Ops) > 0 {
		rewritten, err := policy.ApplyFinding(c.Input.Args(), c.Decision.Ops, findSecrets)
		if err != nil {
			return nil, nil, err
		}
		if args, err = encode(rewritten); err != nil {
			return nil, nil, err
		}
		if params, err = mcp.ReplaceMember(params, "arguments", args); err != nil {
			return nil, nil, err
		}
	}
	if traceparent != "" {
		params = withTraceContext(params, traceparent, tracestate, c.Request.Trace)
	}
	return c.Msg.WithParams(params), args, nil
}

// findSecrets expands a policy's redact_secrets: the rewrites that redact every secret in doc.
func findSecrets(doc any) []policy.Op { return redact.Ops(doc, nil) }

// previewArgs is what the audit record shows of a request: its arguments when it has them, otherwise
// its params.
func previewArgs(c *pipeline.Call) []byte {
	if c.Request != nil && c.Request.RawArguments != nil {
		return c.Request.RawArguments
	}
	return c.Msg.Params
}

// unwrapHold returns msg as the call it retries when it is the retry of gatehouse's input_required
// answer to a hold (mcp.UnwrapHold): gatehouse's requestState taken off, the held call's own put
// back, and the frame read again under the limits, with what the retry says of the hold. Any other
// message is returned as it is.
func (g *Gateway) unwrapHold(msg *jsonrpc.Message) (*jsonrpc.Message, mcp.HoldRetry, error) {
	r, ok, err := mcp.UnwrapHold(msg.Params)
	if !ok || err != nil {
		return msg, mcp.HoldRetry{}, err
	}
	m, err := jsonrpc.Parse(msg.WithParams(r.Params), g.opts.Limits)
	if err != nil {
		return msg, mcp.HoldRetry{}, fmt.Errorf("the call its requestState restores cannot be read: %w", err)
	}
	return m, r, nil
}

// refusal builds the frame for a call that is not forwarded: an error, or for a hold whose client
// may be asked (Decision.Ask), the input_required result that asks it to retry once approved.
func refusal(c *pipeline.Call) []byte {
	d := &c.Decision
	if d.Ask {
		result, err := mcp.HoldResult(c.Msg.Params, askMessage(c), d.ApprovalID)
		if err == nil {
			return jsonrpc.Result(c.Msg.ID, result)
		}
		d.Ask = false // the params passed the codec, so this cannot happen; refuse as to any client
	}
	return jsonrpc.Refusal(c.Msg.ID, jsonrpc.ErrorData{
		Reason:       d.Code,
		Detail:       redact.Text(d.Reason), // a policy's reason may quote the arguments it refused
		RuleID:       d.RuleID,
		DecisionID:   c.DecisionID,
		ApprovalID:   d.ApprovalID,
		RetryAfterMS: d.RetryAfter.Milliseconds(),
	})
}

// askMessage is what the human behind a held call is told when asked to retry it (Decision.Ask).
func askMessage(c *pipeline.Call) string {
	what := c.Input.Kind
	if t := c.Input.Target(); t != "" {
		what += " " + redact.Clip(t, 256)
	}
	return fmt.Sprintf("gatehouse holds %s for a human's approval: %s. Accept to try it again: it goes through once approved. Decline to withdraw it. (decision %s)",
		what, redact.Text(c.Decision.Reason), c.DecisionID)
}

// unavailable turns a call into an upstream_unavailable refusal.
func unavailable(c *pipeline.Call, why string) []byte {
	c.Decision.Abandon()
	c.Refuse("upstream", policy.CodeUpstreamUnavailable, why)
	return refusal(c)
}

// respond runs a response through the response path and list filtering. It returns the frame to send
// the client and how the exchange ended.
// owner, when set, names the upstream each item of a merged list result comes from.
func (g *Gateway) respond(ctx context.Context, c *pipeline.Call, resp *jsonrpc.Message, owner func(item string) string) ([]byte, audit.Outcome) {
	// A server's tools are pinned as it lists them, before gatehouse adds its own (withLocalTools
	// pins those under their own server).
	if c.Upstream != "" && c.Input.Kind == mcp.MethodToolsList && !resp.IsError() {
		if err := g.observeTools(c.DecisionID, c.Upstream, resp.Result); err != nil {
			return g.pinsUnchecked(c, resp)
		}
	}
	if g.opts.Local != nil {
		withLocal, err := g.withLocalTools(c, resp)
		if err != nil {
			return g.pinsUnchecked(c, resp)
		}
		resp = withLocal
	}
	out := audit.Outcome{Status: audit.StatusAnswered, Result: resp.Result, Done: time.Now()}
	if resp.IsError() {
		out.Status, out.Result = audit.StatusUpstreamError, resp.Error
		return resp.Raw, out
	}
	if l, ok := mcp.ListingFor(c.Input.Kind); ok {
		return g.filterList(ctx, c, resp, l, out, owner)
	}
	if !mcp.HasResponseHook(c.Input.Kind) || !g.needsResults() {
		return resp.Raw, out
	}
	// The result is decoded for the policies that read it; the threat scan reads its JSON in place
	// (and refuses it if it is not JSON).
	var result any
	if g.enginesReadResults() {
		var err error
		if result, err = mcp.DecodeValue(resp.Result); err != nil {
			return g.refuseResult(c, &out, &pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodeMalformed, Reason: "upstream result is not valid JSON", Engine: "codec"})
		}
	}
	rc := &pipeline.Call{DecisionID: c.DecisionID, Received: c.Received, Msg: resp, Request: c.Request, Upstream: c.Upstream, Input: c.Input, Trace: c.Trace}
	rc.Input.Phase, rc.Input.Response = policy.PhaseResponse, result
	if err := g.response.Run(c.Trace.Context(ctx), rc); err != nil {
		g.logger.Error("response path failed", "decision_id", c.DecisionID, "error", err)
		rc.Refuse("gateway", policy.CodeInternal, "internal error; see decision "+c.DecisionID)
	}
	c.Threats.Merge(rc.Threats) // the call's record names what was found in its result too
	d := rc.Decision
	out.Response = &d
	if !d.Forwards() {
		return g.refuseResult(c, &out, &d)
	}
	if len(d.Ops) == 0 {
		return resp.Raw, out
	}
	// Only engines with response-phase rules rewrite results, and for them result is decoded.
	rewritten, err := policy.ApplyFinding(result, d.Ops, findSecrets)
	if err == nil {
		var b []byte
		if b, err = encode(rewritten); err == nil {
			out.Result = b
			return resp.WithResult(b), out
		}
	}
	g.logger.Error("response rewrite failed", "decision_id", c.DecisionID, "error", err)
	return g.refuseResult(c, &out, &pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyError, Reason: "the policy's rewrite of the result could not be applied", Engine: d.Engine, RuleID: d.RuleID})
}

// pinsUnchecked withholds a tools/list result whose tool definitions could not be checked against
// their pins.
func (g *Gateway) pinsUnchecked(c *pipeline.Call, resp *jsonrpc.Message) ([]byte, audit.Outcome) {
	out := audit.Outcome{Status: audit.StatusAnswered, Result: resp.Result, Done: time.Now()}
	return g.refuseResult(c, &out, &pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyError, Reason: "tool definitions could not be checked against their pins", Engine: "pin"})
}

// refuseResult withholds a result the response path refused; the client gets an error instead.
func (g *Gateway) refuseResult(c *pipeline.Call, out *audit.Outcome, d *pipeline.Decision) ([]byte, audit.Outcome) {
	out.Status, out.Response = audit.StatusResultRefused, d
	frame := jsonrpc.Refusal(c.Msg.ID, jsonrpc.ErrorData{Reason: d.Code, Detail: redact.Text(d.Reason), RuleID: d.RuleID, DecisionID: c.DecisionID})
	out.Result = frame
	return frame, *out
}

// needsResults reports whether any engine decides results, or the threat stage scans them; when none
// does, results are returned without being read.
func (g *Gateway) needsResults() bool {
	return g.opts.Threat != nil && g.opts.Threat.ScansResults() || g.enginesReadResults()
}

// enginesReadResults reports whether any engine decides results, and so needs them decoded.
func (g *Gateway) enginesReadResults() bool {
	for _, e := range g.opts.Engines {
		if e.HasResponsePhase() {
			return true
		}
	}
	return false
}

// filterList removes from a list result every item the caller may not use (SPEC §3.4). owner, when
// set, names the upstream an item comes from (a merged federation list); otherwise it is the call's.
func (g *Gateway) filterList(ctx context.Context, c *pipeline.Call, resp *jsonrpc.Message, l mcp.Listing, out audit.Outcome, owner func(item string) string) ([]byte, audit.Outcome) {
	if len(g.vis) == 0 {
		return resp.Raw, out
	}
	probe := &pipeline.Call{DecisionID: c.DecisionID, Upstream: c.Upstream, Input: c.Input}
	probe.Input.Kind = l.Use
	filtered, removed, err := mcp.FilterList(resp.Result, l, func(name string) bool {
		probe.Input.Tool.Name, probe.Input.Prompt.Name, probe.Input.Resource.URI = name, name, name
		if owner != nil {
			probe.Upstream = owner(name)
			probe.Input.Tool.Server = probe.Upstream
		} else if _, local := g.localName(name); local && l.Use == mcp.MethodToolsCall {
			probe.Upstream, probe.Input.Tool.Server = g.opts.LocalPrefix, g.opts.LocalPrefix
		} else {
			probe.Upstream, probe.Input.Tool.Server = c.Upstream, c.Input.Tool.Server
		}
		for _, v := range g.vis {
			if !v.Visible(ctx, probe) {
				return false
			}
		}
		return true
	})
	if err != nil {
		// A list gatehouse cannot read cannot be filtered, and an unfiltered list could show a
		// caller tools it may not call: withhold it.
		g.logger.Error("list result could not be filtered", "decision_id", c.DecisionID, "method", c.Input.Kind, "error", err)
		return g.refuseResult(c, &out, &pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodeMalformed, Reason: "upstream list result could not be read: " + err.Error(), Engine: "codec"})
	}
	if removed == 0 {
		return resp.Raw, out
	}
	out.Result = filtered
	g.logger.Debug("list filtered", "method", c.Input.Kind, "removed", removed, "decision_id", c.DecisionID)
	return resp.WithResult(filtered), out
}

// record submits the audit record of a finished exchange, and counts it.
func (g *Gateway) record(c *pipeline.Call, o audit.Outcome) *auditlog.Pending {
	if o.Done.IsZero() {
		o.Done = time.Now()
	}
	m := g.opts.Metrics
	m.request(c.Input.Kind, string(c.Decision.Effect), string(c.Decision.Code))
	m.upstreamTime(c.Upstream, o.Upstream)
	p := g.opts.Recorder.RecordThen(c, o, g.traceRecorded(c, o))
	if fs := c.Decision.TakeDurable(); len(fs) > 0 {
		go func() {
			<-p.Done()
			if p.Err() == nil {
				for _, f := range fs {
					f()
				}
			}
		}()
	}
	return p
}

// durable waits for an audit record to be on disk, timing the wait: how long an answer was held
// for its record (gatehouse_audit_write_seconds).
func (g *Gateway) durable(p *auditlog.Pending) error {
	if g.opts.Metrics == nil {
		return p.Wait()
	}
	start := time.Now()
	err := p.Wait()
	if err == nil {
		g.opts.Metrics.auditTime(time.Since(start))
	}
	return err
}

// recordFrameError audits a frame the codec refused and returns the answer for the sender.
func (g *Gateway) recordFrameError(sess *Session, fe *jsonrpc.FrameError, raw []byte) ([]byte, *auditlog.Pending) {
	c := &pipeline.Call{DecisionID: newID("dec"), Received: time.Now(), Upstream: sess.Upstream,
		Msg: &jsonrpc.Message{ID: fe.ID}, Request: &mcp.Request{}}
	c.Input = baseInput(sess, "", c.Request)
	c.Refuse("codec", fe.Reason, fe.Detail)
	safe := *fe
	safe.Detail = redact.Text(fe.Detail)
	frame := jsonrpc.FrameRefusal(&safe, c.DecisionID)
	preview := raw
	if len(preview) > 256 {
		preview = preview[:256]
	}
	return frame, g.record(c, audit.Outcome{Status: audit.StatusMalformed, Args: preview, Result: frame})
}

// encode marshals a rewritten value without HTML escaping, so that what is forwarded differs from
// what was received only where the policy said.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode rewritten value: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// observeTools checks every tool definition of an upstream's tools/list result against its pin
// (SPEC §9.3) and audits what changed: a new tool, a changed or poisoned definition (now
// quarantined), a definition restored. Names are as the client sees them. An error means the result
// could not be read or the pins could not be consulted; the caller withholds the list.
func (g *Gateway) observeTools(decisionID, upstream string, result []byte) error {
	if g.opts.Pins == nil {
		return nil
	}
	v, err := mcp.DecodeValue(result)
	if err != nil {
		return err
	}
	obs, err := g.opts.Pins.ObserveList(context.Background(), upstream, v)
	for _, o := range obs {
		if !o.Status.Report() && o.Threat.Score < threatThreshold {
			continue
		}
		e := audit.Event{Method: "tools/pin." + string(o.Status), Engine: "pin", Effect: string(policy.EffectAllow), Status: "observed",
			Upstream: o.Upstream, Tool: o.Tool,
			Detail: fmt.Sprintf("digest %s, approved %s, threat score %.2f %s", o.Digest, orNone(o.Approved), o.Threat.Score, findings(o.Threat.Findings))}
		if o.Quarantined() {
			e.Effect, e.Code = string(policy.EffectRequireApproval), string(policy.CodeApprovalRequired)
			g.logger.Warn("tool quarantined: its definition is not the approved one", "upstream", o.Upstream, "tool", logText(o.Tool), "status", o.Status, "decision_id", decisionID)
		}
		// Not waited for: the list is not released on the strength of this record, and a record
		// that cannot be written stops every later answer anyway.
		g.opts.Recorder.Event(newID("pin"), e).Detach()
	}
	if err != nil {
		g.logger.Error("tool pins could not be checked", "upstream", upstream, "decision_id", decisionID, "error", err)
	}
	return err
}

// threatThreshold is the score from which a tool definition's reading is audited.
const threatThreshold = 0.5

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// findings lists rule@where of threat findings, never the matched text.
func findings(fs []policy.Finding) string {
	if len(fs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, f.Rule+"@"+f.Where)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

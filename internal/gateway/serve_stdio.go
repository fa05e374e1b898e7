package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// StdioUpstream shares one supervised stdio MCP server among every client of `gatehouse serve`.
// gatehouse is that process's only client: it performs the legacy handshake itself (again after
// every restart), rewrites request ids and progress tokens so that many clients can share one id
// space, and routes each answer, progress notification and server-to-client request back to the
// request it belongs to. Notifications that belong to no request (list changes, resource updates)
// go to every legacy session's GET stream.
//
// A server-to-client request (sampling, elicitation, roots) can be routed only while exactly one
// client request is in flight: stdio carries no other clue to whom it is addressed. Otherwise the
// server is answered with an error, and a warning is logged.
type StdioUpstream struct {
	name, prefix string
	proc         *upstream.Stdio
	limits       jsonrpc.Limits
	logger       *slog.Logger
	timeout      time.Duration

	mu         sync.Mutex
	gen        int
	ready      bool
	readyOnce  chan struct{}
	init       json.RawMessage // the server's initialize result
	pending    map[string]*stdioCall
	tokens     map[string]*stdioCall
	serverReqs map[string]jsonrpc.ID // the id given to the client → the server's own id
	listeners  map[int]func([]byte)  // each returns at once: none may wait for its client
	nextSink   int
	seq        uint64
}

type stdioCall struct {
	link      *Link
	origID    jsonrpc.ID
	origToken json.RawMessage
	token     string
	ch        chan *jsonrpc.Message
	gen       int
	// serverReqs are the keys in StdioUpstream.serverReqs of the server's requests passed to this
	// call's client; they are forgotten when the call ends. Guarded by the upstream's mu.
	serverReqs []string
	// err is why ch was closed without an answer, when the server answered something gatehouse
	// could not take (an oversize or invalid message); nil when the process exited.
	err error
}

var _ Upstream = (*StdioUpstream)(nil)

// offer passes a progress notification or a server-to-client request to the call's stream without
// waiting, and reports whether it did. It keeps the channel's last slot for the answer, so that the
// answer never waits either: only the goroutine reading the server sends on ch, and a client that
// does not read loses what is offered, not its answer.
func (c *stdioCall) offer(m *jsonrpc.Message) bool {
	if len(c.ch) >= cap(c.ch)-1 {
		return false
	}
	c.ch <- m
	return true
}

// NewStdioUpstream starts proc and performs the handshake; it returns once the server is ready, or
// with an error if it cannot be started.
func NewStdioUpstream(ctx context.Context, name, prefix string, proc *upstream.Stdio, limits jsonrpc.Limits, logger *slog.Logger) (*StdioUpstream, error) {
	u := &StdioUpstream{name: name, prefix: prefix, proc: proc, limits: limits, logger: logger, timeout: defaultRequestTimeout,
		readyOnce: make(chan struct{}), pending: map[string]*stdioCall{}, tokens: map[string]*stdioCall{},
		serverReqs: map[string]jsonrpc.ID{}, listeners: map[int]func([]byte){}}
	runErr := make(chan error, 1)
	go func() { runErr <- proc.Run(ctx) }()
	go u.consume()
	select {
	case <-u.readyOnce:
		return u, nil
	case err := <-runErr:
		if err == nil {
			err = errors.New("stopped")
		}
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("upstream %s did not complete the MCP handshake within 30s", name)
	}
}

// Name implements Upstream.
func (u *StdioUpstream) Name() string { return u.name }

// RequestTimeout bounds one request to this upstream.
func (u *StdioUpstream) RequestTimeout() time.Duration { return u.timeout }

// SetRequestTimeout changes the bound of one request (default 5 minutes).
func (u *StdioUpstream) SetRequestTimeout(d time.Duration) {
	if d > 0 {
		u.timeout = d
	}
}

// Prefix implements Upstream.
func (u *StdioUpstream) Prefix() string { return u.prefix }

func (u *StdioUpstream) consume() {
	for ev := range u.proc.Events() {
		switch ev.Kind {
		case upstream.Started:
			u.mu.Lock()
			u.gen, u.ready = ev.Gen, false
			u.mu.Unlock()
			go u.handshake(ev.Gen)
		case upstream.Frame:
			u.frame(ev.Frame)
		case upstream.TooLong:
			u.logger.Error("upstream sent an oversize message", "upstream", u.name, "error", ev.Err)
			if id := jsonrpc.SalvageID(ev.Frame); !id.IsZero() {
				// The call it answers fails now, not when its timeout runs out.
				u.fail(id, &jsonrpc.FrameError{Code: jsonrpc.CodeFor(policy.CodePayloadTooLarge), Reason: policy.CodePayloadTooLarge, Detail: ev.Err.Error(), ID: id})
			}
		case upstream.Exited:
			u.mu.Lock()
			u.ready = false
			var lost []*stdioCall
			for k, c := range u.pending {
				if c.gen <= ev.Gen {
					lost = append(lost, u.takeLocked(k))
				}
			}
			u.mu.Unlock()
			for _, c := range lost {
				close(c.ch) // the stream reports the upstream unavailable
			}
		}
	}
}

// handshake initializes a freshly started process as gatehouse's own client session.
func (u *StdioUpstream) handshake(gen int) {
	params := []byte(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"gatehouse","version":"1"}}`)
	call, id := u.register(nil, jsonrpc.ID{}, nil, gen)
	if err := u.proc.Send(gen, jsonrpc.Request(id, mcp.MethodInitialize, params)); err != nil {
		u.logger.Error("handshake with upstream failed", "upstream", u.name, "error", err)
		return
	}
	select {
	case m, ok := <-call.ch:
		if !ok || m == nil || m.IsError() {
			u.logger.Error("upstream refused gatehouse's initialize", "upstream", u.name)
			u.proc.Kill("handshake refused")
			return
		}
		u.proc.Send(gen, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		u.mu.Lock()
		u.init, u.ready = append(json.RawMessage(nil), m.Result...), u.gen == gen
		u.mu.Unlock()
		u.logger.Info("upstream initialized", "upstream", u.name, "gen", gen)
		select {
		case <-u.readyOnce:
		default:
			close(u.readyOnce)
		}
	case <-time.After(30 * time.Second):
		u.logger.Error("upstream did not answer initialize", "upstream", u.name)
		u.proc.Kill("handshake timeout")
	}
}

// register allocates a gatehouse id for a request and the call that waits for its answer.
func (u *StdioUpstream) register(l *Link, origID jsonrpc.ID, origToken json.RawMessage, gen int) (*stdioCall, jsonrpc.ID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	id := jsonrpc.StringID(fmt.Sprintf("gh-%d", u.seq))
	c := &stdioCall{link: l, origID: origID, origToken: origToken, ch: make(chan *jsonrpc.Message, 64), gen: gen}
	if origToken != nil {
		c.token = fmt.Sprintf("gh-p-%d", u.seq)
		u.tokens[c.token] = c
	}
	u.pending[id.Key()] = c
	return c, id
}

// fail ends the pending call the server's message with upstream id id was meant to answer, with
// err. It reports whether there was such a call.
func (u *StdioUpstream) fail(id jsonrpc.ID, err error) bool {
	u.mu.Lock()
	c := u.takeLocked(id.Key())
	u.mu.Unlock()
	if c == nil {
		return false
	}
	c.err = err
	close(c.ch)
	return true
}

func (u *StdioUpstream) frame(raw []byte) {
	m, err := jsonrpc.Parse(raw, u.limits)
	if err != nil {
		var fe *jsonrpc.FrameError
		if errors.As(err, &fe) && !fe.ID.IsZero() {
			failure := fmt.Errorf("upstream %s sent an invalid answer: %s", u.name, fe.Detail)
			if fe.Reason == policy.CodePayloadTooLarge { // over limits.max_tokens: refused as an oversize answer is
				u.logger.Error("upstream sent an oversize message", "upstream", u.name, "error", fe.Detail)
				failure = fe
			}
			if u.fail(fe.ID, failure) {
				return
			}
		}
		u.logger.Warn("skipping non-MCP output from upstream", "upstream", u.name, "line", clip(raw, 200))
		return
	}
	switch m.Kind() {
	case jsonrpc.KindResponse:
		u.mu.Lock()
		c := u.takeLocked(m.ID.Key())
		u.mu.Unlock()
		if c == nil {
			return
		}
		if c.origID.IsZero() { // gatehouse's own request
			c.ch <- m
			return
		}
		if back, err := jsonrpc.Parse(retagResponse(m, c.origID), u.limits); err == nil {
			c.ch <- back
		}
	case jsonrpc.KindNotification:
		if c, back := u.progress(m); c != nil {
			if !c.offer(back) {
				u.logger.Debug("progress dropped: the client is not reading its answer", "upstream", u.name)
			}
			return
		}
		u.mu.Lock()
		sinks := make([]func([]byte), 0, len(u.listeners))
		for _, s := range u.listeners {
			sinks = append(sinks, s)
		}
		u.mu.Unlock()
		for _, s := range sinks {
			s(m.Raw)
		}
	case jsonrpc.KindRequest:
		u.serverRequest(m)
	}
}

// progress maps a progress notification back to the client call whose token it carries.
func (u *StdioUpstream) progress(m *jsonrpc.Message) (*stdioCall, *jsonrpc.Message) {
	if m.Method != "notifications/progress" {
		return nil, nil
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(m.Params, &p) != nil {
		return nil, nil
	}
	var token string
	if json.Unmarshal(p["progressToken"], &token) != nil {
		return nil, nil
	}
	u.mu.Lock()
	c := u.tokens[token]
	u.mu.Unlock()
	if c == nil {
		return nil, nil
	}
	params, err := mcp.ReplaceMember(m.Params, "progressToken", c.origToken)
	if err != nil {
		return nil, nil
	}
	back, err := jsonrpc.Parse(m.WithParams(params), u.limits)
	if err != nil {
		return nil, nil
	}
	return c, back
}

// serverRequest routes a server-to-client request to the one client request in flight.
func (u *StdioUpstream) serverRequest(m *jsonrpc.Message) {
	u.mu.Lock()
	var only *stdioCall
	n := 0
	for _, c := range u.pending {
		if !c.origID.IsZero() {
			only = c
			n++
		}
	}
	var id jsonrpc.ID
	why := ""
	switch {
	case n != 1:
		why = "gatehouse cannot tell which client this request is for"
	case len(u.serverReqs) >= maxServerRequests:
		why = "too many requests are waiting for the client's answer"
	default:
		u.seq++
		id = jsonrpc.StringID(fmt.Sprintf("gh-s-%d", u.seq))
		u.serverReqs[id.Key()] = m.ID
		only.serverReqs = append(only.serverReqs, id.Key())
	}
	gen := u.gen
	u.mu.Unlock()
	if why == "" {
		back, err := jsonrpc.Parse(jsonrpc.Request(id, m.Method, m.Params), u.limits)
		if err == nil && only.offer(back) {
			return
		}
		u.mu.Lock()
		delete(u.serverReqs, id.Key())
		u.mu.Unlock()
		why = "the client is not reading its answer"
	}
	u.logger.Warn("server-to-client request refused", "upstream", u.name, "method", logText(m.Method), "in_flight", n, "why", why)
	u.proc.Send(gen, jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeInternalError, why, nil))
}

// Send implements Upstream.
func (u *StdioUpstream) Send(ctx context.Context, l *Link, out *Outbound) (Stream, error) {
	m, err := jsonrpc.Parse(out.Frame, jsonrpc.Reread) // routed: read again under outboundLimits already
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	ready, gen, init := u.ready, u.gen, u.init
	u.mu.Unlock()
	if !ready {
		return nil, fmt.Errorf("upstream %s is restarting", u.name)
	}
	switch m.Kind() {
	case jsonrpc.KindNotification:
		if m.Method == mcp.NotificationInitialized {
			return emptyStream{}, nil // gatehouse initialized the process itself
		}
		if m.Method == mcp.NotificationCancelled {
			return emptyStream{}, u.cancel(l, m, gen)
		}
		return emptyStream{}, u.proc.Send(gen, m.Raw)
	case jsonrpc.KindResponse:
		u.mu.Lock()
		orig, ok := u.serverReqs[m.ID.Key()]
		delete(u.serverReqs, m.ID.Key())
		u.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("no server request %s is waiting", m.ID.String())
		}
		return emptyStream{}, u.proc.Send(gen, retagResponse(m, orig))
	}
	switch m.Method {
	case mcp.MethodInitialize:
		return u.synthesized(m.ID, init)
	case mcp.MethodDiscover:
		return u.synthesized(m.ID, discoverFrom(init))
	case mcp.MethodSubscriptionsListen:
		return u.listen(ctx, m, init)
	}
	params, token := m.Params, mcp.ProgressToken(m.Params)
	call, id := u.register(l, m.ID, token, gen)
	if token != nil {
		quoted, _ := json.Marshal(call.token)
		meta := []byte("{}")
		var p map[string]json.RawMessage
		if json.Unmarshal(params, &p) == nil && p["_meta"] != nil {
			meta = p["_meta"]
		}
		if meta, err = mcp.ReplaceMember(meta, "progressToken", quoted); err == nil {
			params, _ = mcp.ReplaceMember(params, "_meta", meta)
		}
	}
	if err := u.proc.Send(gen, jsonrpc.Request(id, m.Method, params)); err != nil {
		u.drop(id)
		return nil, err
	}
	return &stdioStream{u: u, call: call, id: id, ctx: ctx}, nil
}

// synthesized answers a request from what gatehouse already knows of the server.
func (u *StdioUpstream) synthesized(id jsonrpc.ID, result []byte) (Stream, error) {
	m, err := jsonrpc.Parse(jsonrpc.Result(id, result), u.limits)
	if err != nil {
		return nil, err
	}
	return &memStream{msgs: []*jsonrpc.Message{m}}, nil
}

// discoverFrom bridges a legacy server to a 2026-07-28 client: its initialize result, as a
// DiscoverResult.
func discoverFrom(init json.RawMessage) []byte {
	var r map[string]any
	json.Unmarshal(init, &r)
	out := map[string]any{"resultType": "complete", "supportedVersions": []string{"2026-07-28"}, "capabilities": r["capabilities"]}
	if out["capabilities"] == nil {
		out["capabilities"] = map[string]any{}
	}
	if info, ok := r["serverInfo"]; ok {
		out["_meta"] = map[string]any{"io.modelcontextprotocol/serverInfo": info}
	}
	if in, ok := r["instructions"]; ok {
		out["instructions"] = in
	}
	b, _ := json.Marshal(out)
	return b
}

// cancel forwards a client's cancellation of its own request, with gatehouse's id for it.
func (u *StdioUpstream) cancel(l *Link, m *jsonrpc.Message, gen int) error {
	var p map[string]json.RawMessage
	if json.Unmarshal(m.Params, &p) != nil {
		return nil
	}
	u.mu.Lock()
	var target string
	for k, c := range u.pending {
		if c.link == l && string(c.origID.Raw()) == string(p["requestId"]) {
			target = k
		}
	}
	u.mu.Unlock()
	if target == "" {
		return nil
	}
	id := jsonrpc.StringID(target[1:])
	params, err := mcp.ReplaceMember(m.Params, "requestId", id.Raw())
	if err != nil {
		return nil
	}
	return u.proc.Send(gen, m.WithParams(params))
}

func (u *StdioUpstream) drop(id jsonrpc.ID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.takeLocked(id.Key())
}

// takeLocked removes the pending call with upstream id key, with its progress token and the
// server's requests that wait for its client, and returns it (nil if there is none). Once its call
// has ended, no client will answer them.
func (u *StdioUpstream) takeLocked(key string) *stdioCall {
	c := u.pending[key]
	if c == nil {
		return nil
	}
	delete(u.pending, key)
	if c.token != "" {
		delete(u.tokens, c.token)
	}
	for _, k := range c.serverReqs {
		delete(u.serverReqs, k)
	}
	return c
}

// Listen implements Upstream. The messages for the stream wait in a queue of their own, so that
// a client that does not read its stream holds up no one else: the shared server's messages are
// read by one goroutine, which never waits for a client. When the queue is full, the stream ends
// with ErrListenerBehind.
func (u *StdioUpstream) Listen(ctx context.Context, l *Link, sink func([]byte)) error {
	queue := make(chan []byte, listenerQueue)
	behind := make(chan struct{})
	var overflow sync.Once
	u.mu.Lock()
	u.nextSink++
	n := u.nextSink
	u.listeners[n] = func(raw []byte) {
		select {
		case queue <- raw:
		default:
			overflow.Do(func() {
				close(behind)
				u.logger.Warn("listen stream ended: its client is not reading", "upstream", u.name, "queued", listenerQueue)
			})
		}
	}
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.listeners, n)
		u.mu.Unlock()
	}()
	for {
		select {
		case raw := <-queue:
			sink(raw)
		case <-behind:
			return ErrListenerBehind
		case <-ctx.Done():
			return nil
		}
	}
}

// listenerQueue is how many messages may wait for one listen stream before the stream is ended.
const listenerQueue = 256

// ErrListenerBehind ends a listen stream whose client fell listenerQueue messages behind.
var ErrListenerBehind = errors.New("the client fell too far behind reading its stream")

// Close implements Upstream: the process is shared and outlives any session.
func (u *StdioUpstream) Close(*Link) {}

type stdioStream struct {
	u    *StdioUpstream
	call *stdioCall
	id   jsonrpc.ID
	ctx  context.Context
	done bool
}

func (s *stdioStream) Next() (*jsonrpc.Message, error) {
	if s.done {
		return nil, io.EOF
	}
	select {
	case m, ok := <-s.call.ch:
		if !ok {
			s.done = true
			if s.call.err != nil {
				return nil, s.call.err
			}
			return nil, fmt.Errorf("upstream %s exited", s.u.name)
		}
		if m.Kind() == jsonrpc.KindResponse {
			s.done = true
		}
		return m, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	case <-time.After(s.u.timeout):
		return nil, fmt.Errorf("upstream %s did not answer within %s", s.u.name, s.u.timeout)
	}
}

func (s *stdioStream) Status() int     { return 200 }
func (s *stdioStream) Streaming() bool { return false }

func (s *stdioStream) Close() {
	if !s.done {
		s.u.drop(s.id)
		s.u.mu.Lock()
		gen := s.u.gen
		s.u.mu.Unlock()
		s.u.proc.Send(gen, cancelled(s.id, "the client went away"))
	}
}

type memStream struct{ msgs []*jsonrpc.Message }

func (s *memStream) Next() (*jsonrpc.Message, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}
func (s *memStream) Status() int     { return 200 }
func (s *memStream) Streaming() bool { return false }
func (s *memStream) Close()          {}

type emptyStream struct{}

func (emptyStream) Next() (*jsonrpc.Message, error) { return nil, io.EOF }
func (emptyStream) Status() int                     { return 202 }
func (emptyStream) Streaming() bool                 { return false }
func (emptyStream) Close()                          {}

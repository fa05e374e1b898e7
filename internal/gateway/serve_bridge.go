package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// Era bridging (SPEC §2.1): a client of either era may reach an HTTP upstream of either era.
//
// A 2026-07-28 client in front of a legacy server: gatehouse holds one legacy session of its own
// with the server (its own initialize) and sends the client's stateless requests inside it; it
// answers server/discover from the server's initialize result. A legacy server's requests to the
// client (sampling, elicitation, roots) have no place in the 2026-07-28 era and are refused with an
// error to the server.
//
// A legacy client in front of a 2026-07-28 server: gatehouse answers the client's initialize from
// the server's server/discover, drops notifications/initialized, and adds the per-request _meta
// (protocol version, the capabilities the client declared at initialize) and headers to every
// request.

// answerTimeout bounds a message gatehouse sends a server on its own account (an answer to the
// server's request, a cancellation).
const answerTimeout = 10 * time.Second

const (
	eraUnknown = iota
	eraModern
	eraLegacy
)

// modernVersion is the stateless revision gatehouse bridges to and from.
const modernVersion = "2026-07-28"

// bridgeLegacy sends a modern client's request to a legacy server inside gatehouse's own session.
// That session is shared by every modern client, and stateless clients all number their requests
// alike (usually 1), so each request travels under an id of gatehouse's own, and its answer comes
// back under the client's. A session the server has forgotten (it restarted; TypeScript servers
// answer 400 "No valid session ID", others 404) is opened again once.
func (u *HTTPUpstream) bridgeLegacy(ctx context.Context, out *Outbound) (Stream, error) {
	msg := out.Msg
	if msg.Method == mcp.MethodSubscriptionsListen {
		return u.listenLegacy(ctx, out)
	}
	if msg.Kind() == jsonrpc.KindNotification {
		return u.bridgeNotification(ctx, out)
	}
	frame, id := stripModernMeta(out.Frame), msg.ID
	request := msg.Kind() == jsonrpc.KindRequest
	if request {
		id = jsonrpc.StringID(fmt.Sprintf("gatehouse-%d", u.bridgeSeq.Add(1)))
		if m, err := jsonrpc.Parse(frame, jsonrpc.Reread); err == nil {
			frame = jsonrpc.Request(id, m.Method, m.Params)
		}
	}
	for attempt := 0; ; attempt++ {
		sess, init, err := u.ownSession(ctx)
		if err != nil {
			return nil, err
		}
		if msg.Method == mcp.MethodDiscover {
			return synthesize(msg.ID, discoverFrom(init), u.Client.Limits)
		}
		if request {
			// In flight from the moment it is sent: the client may cancel it before any answer.
			u.track(id, bridgedCall{client: out.Client, clientID: msg.ID, id: id, session: sess})
		}
		resp, err := u.Client.Post(ctx, &streamable.Request{Frame: frame, Session: sess.Session, ProtocolVersion: sess.ProtocolVersion})
		if err != nil {
			if request {
				u.untrack(id)
			}
			return nil, fmt.Errorf("upstream %s: %w", u.UpstreamName, err)
		}
		if !sessionRefused(resp) {
			return &bridgedStream{httpStream: httpStream{resp: resp}, ctx: ctx, u: u, session: sess, id: id, clientID: msg.ID}, nil
		}
		resp.Close()
		if request {
			u.untrack(id)
		}
		u.mu.Lock()
		if u.own == sess {
			u.own = nil // the server forgot gatehouse's session: open a new one
		}
		u.mu.Unlock()
		if attempt > 0 {
			return nil, fmt.Errorf("upstream %s: a fresh session was refused too: %w", u.UpstreamName, ErrUpstreamSessionLost)
		}
	}
}

// bridgedCall is a 2026-07-28 client's request in flight in gatehouse's own legacy session.
type bridgedCall struct {
	client   string     // who sent it (Outbound.Client)
	clientID jsonrpc.ID // the client's id for it
	id       jsonrpc.ID // gatehouse's id for it in the session
	session  *Link      // the session it was sent in
}

func (u *HTTPUpstream) track(id jsonrpc.ID, c bridgedCall) {
	u.callsMu.Lock()
	if u.calls == nil {
		u.calls = map[string]bridgedCall{}
	}
	u.calls[id.Key()] = c
	u.callsMu.Unlock()
}

func (u *HTTPUpstream) untrack(id jsonrpc.ID) {
	u.callsMu.Lock()
	delete(u.calls, id.Key())
	u.callsMu.Unlock()
}

// ownCall finds the request client has in flight in gatehouse's session under its id requestID.
func (u *HTTPUpstream) ownCall(client string, requestID json.RawMessage) (bridgedCall, bool) {
	key := requestIDKey(requestID)
	if key == "" {
		return bridgedCall{}, false
	}
	u.callsMu.Lock()
	defer u.callsMu.Unlock()
	for _, c := range u.calls {
		if c.client == client && c.clientID.Key() == key {
			return c, true
		}
	}
	return bridgedCall{}, false
}

// requestIDKey reads a cancellation's requestId as a request id (its Key); "" when it is not one.
func requestIDKey(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	m, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":`+string(raw)+`,"result":{}}`), jsonrpc.Reread)
	if err != nil || m.ID.IsZero() || m.ID.IsNull() {
		return ""
	}
	return m.ID.Key()
}

// bridgeNotification relays a 2026-07-28 client's notification to a legacy server. gatehouse's own
// session is shared by every such client, so nothing one of them says may act for the others: the
// notifications that only a session's own client may send (initialized, roots changes and the
// like) are dropped, and a cancellation is relayed only for a request of the same client in flight
// there, under gatehouse's id for it. gatehouse's ids are sequential; naming one must not cancel
// another client's call.
func (u *HTTPUpstream) bridgeNotification(ctx context.Context, out *Outbound) (Stream, error) {
	msg := out.Msg
	if msg.Method != mcp.NotificationCancelled {
		u.debug("notification of a 2026-07-28 client not relayed into the shared legacy session", "method", logText(msg.Method))
		return emptyStream{}, nil
	}
	var p map[string]json.RawMessage
	json.Unmarshal(msg.Params, &p)
	call, ok := u.ownCall(out.Client, p["requestId"])
	if !ok {
		u.debug("cancellation of no request this client has in flight in the shared legacy session; not relayed",
			"request_id", clip(p["requestId"], 100))
		return emptyStream{}, nil
	}
	params, err := mcp.ReplaceMember(msg.Params, "requestId", call.id.Raw())
	if err != nil {
		return emptyStream{}, nil
	}
	frame := stripModernMeta(msg.WithParams(params))
	resp, err := u.Client.Post(ctx, &streamable.Request{Frame: frame, Session: call.session.Session, ProtocolVersion: call.session.ProtocolVersion})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.UpstreamName, err)
	}
	return &httpStream{resp: resp}, nil
}

// debug logs at DEBUG what the bridge chose not to do.
func (u *HTTPUpstream) debug(msg string, args ...any) {
	if u.Logger != nil {
		u.Logger.Debug(msg, append([]any{"upstream", u.UpstreamName}, args...)...)
	}
}

// sessionRefused reports an answer saying the session it was sent in is unknown: 404 (the
// specification's answer), or a 400 that speaks of the session.
func sessionRefused(resp *streamable.Response) bool {
	switch resp.Status {
	case http.StatusNotFound:
		return true
	case http.StatusBadRequest:
		return mentionsSession(string(resp.Body()))
	}
	return false
}

// modernMetaKeys are the per-request protocol fields of 2026-07-28; inside a legacy session they
// describe a version the session did not negotiate, and legacy servers may refuse them.
var modernMetaKeys = []string{mcp.MetaProtocolVersion, "io.modelcontextprotocol/clientCapabilities",
	"io.modelcontextprotocol/clientInfo", "io.modelcontextprotocol/logLevel"}

// stripModernMeta removes the 2026-07-28 per-request protocol fields from a request's _meta.
func stripModernMeta(frame []byte) []byte {
	m, err := jsonrpc.Parse(frame, jsonrpc.Reread)
	if err != nil || m.Params == nil {
		return frame
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(m.Params, &p) != nil || p["_meta"] == nil {
		return frame
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(p["_meta"], &meta) != nil {
		return frame
	}
	for _, k := range modernMetaKeys {
		delete(meta, k)
	}
	if len(meta) == 0 {
		delete(p, "_meta")
	} else {
		p["_meta"], _ = json.Marshal(meta)
	}
	params, _ := json.Marshal(p)
	return m.WithParams(params)
}

// ownSession returns gatehouse's own legacy session with the server, opening it on first use.
//
// The handshake (two requests) runs outside u.mu, which every request and /readyz take to read the
// era: a server that accepts connections and never answers must not stall them. One handshake runs
// at a time, bounded by handshakeTimeout; the requests that need the session wait for it, each as
// long as its own ctx allows, and all of them get its outcome.
func (u *HTTPUpstream) ownSession(ctx context.Context) (*Link, json.RawMessage, error) {
	u.mu.Lock()
	if u.own != nil {
		defer u.mu.Unlock()
		return u.own, u.ownInit, nil
	}
	o := u.opening
	if o == nil {
		o = &opening{done: make(chan struct{})}
		u.opening = o
		go u.open(context.WithoutCancel(ctx), o)
	}
	u.mu.Unlock()
	select {
	case <-o.done:
		return o.l, o.init, o.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("upstream %s: waiting for the bridging handshake: %w", u.UpstreamName, ctx.Err())
	}
}

// opening is a handshake of gatehouse's own session under way; done is closed when it is over.
type opening struct {
	done chan struct{}
	l    *Link
	init json.RawMessage
	err  error
}

// maxHandshake bounds gatehouse's own handshake with a legacy server, whatever the request timeout.
const maxHandshake = 30 * time.Second

// handshakeTimeout is how long gatehouse's own handshake may take: the request timeout, at most
// maxHandshake.
func (u *HTTPUpstream) handshakeTimeout() time.Duration {
	return min(u.RequestTimeout(), maxHandshake)
}

// open runs the handshake o waits for. ctx carries the values of the request that started it, not
// its cancellation: the session is for every request waiting.
func (u *HTTPUpstream) open(ctx context.Context, o *opening) {
	ctx, cancel := context.WithTimeout(ctx, u.handshakeTimeout())
	defer cancel()
	l, init, err := u.handshake(ctx)
	u.mu.Lock()
	if err == nil {
		u.own, u.ownInit = l, init
	}
	o.l, o.init, o.err = l, init, err
	u.opening = nil
	u.mu.Unlock()
	close(o.done)
}

// handshake opens a legacy session of gatehouse's own with the server and returns it with the
// server's initialize result.
func (u *HTTPUpstream) handshake(ctx context.Context) (*Link, json.RawMessage, error) {
	l := &Link{}
	frame := jsonrpc.Request(jsonrpc.StringID("gatehouse-bridge"), mcp.MethodInitialize,
		[]byte(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"gatehouse","version":"1"}}`))
	resp, err := u.Client.Post(ctx, &streamable.Request{Frame: frame})
	if err != nil {
		return nil, nil, fmt.Errorf("upstream %s: bridging handshake: %w", u.UpstreamName, err)
	}
	defer resp.Close()
	l.Session = resp.SessionID
	for {
		m, _, err := resp.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("upstream %s: bridging handshake: %w", u.UpstreamName, err)
		}
		if m.Kind() != jsonrpc.KindResponse {
			continue
		}
		if m.IsError() {
			return nil, nil, fmt.Errorf("upstream %s refused gatehouse's initialize: %s", u.UpstreamName, m.Error)
		}
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		json.Unmarshal(m.Result, &r)
		l.ProtocolVersion = r.ProtocolVersion
		if n, err := u.Client.Post(ctx, &streamable.Request{Frame: []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`),
			Session: l.Session, ProtocolVersion: l.ProtocolVersion}); err == nil {
			n.Close()
		}
		return l, append(json.RawMessage(nil), m.Result...), nil
	}
}

// bridgedStream relays a legacy server's answer to a modern client: the response under the
// client's own id, the server's requests to the client refused (that era has none). A client that
// goes away before the response cancels the request, as closing a 2026-07-28 stream does.
type bridgedStream struct {
	httpStream
	ctx      context.Context // the request's
	u        *HTTPUpstream
	session  *Link
	id       jsonrpc.ID // the id the server knows the request by
	clientID jsonrpc.ID
	answered bool
}

func (s *bridgedStream) Next() (*jsonrpc.Message, error) {
	for {
		m, err := s.httpStream.Next()
		if err != nil {
			return m, err
		}
		switch m.Kind() {
		case jsonrpc.KindRequest:
			s.u.refuseServerRequest(s.ctx, s.session, m)
			continue
		case jsonrpc.KindResponse:
			if m.ID.Key() != s.id.Key() {
				return m, nil
			}
			s.answered = true
			s.u.untrack(s.id)
			if s.id.Key() != s.clientID.Key() {
				return jsonrpc.Parse(retagResponse(m, s.clientID), s.u.Client.Limits)
			}
		}
		return m, nil
	}
}

func (s *bridgedStream) Close() {
	s.u.untrack(s.id)
	if !s.answered && s.id.Key() != s.clientID.Key() {
		params, _ := json.Marshal(map[string]any{"requestId": json.RawMessage(s.id.Raw()), "reason": "the client went away"})
		frame := []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":` + string(params) + `}`)
		req := &streamable.Request{Frame: frame, Session: s.session.Session, ProtocolVersion: s.session.ProtocolVersion}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
			defer cancel()
			if r, err := s.u.Client.Post(ctx, req); err == nil {
				r.Close()
			}
		}()
	}
	s.httpStream.Close()
}

// refuseServerRequest answers a legacy server's request to a 2026-07-28 client with an error, within
// ctx (the stream's) and at most answerTimeout: the stream waits for it.
func (u *HTTPUpstream) refuseServerRequest(ctx context.Context, l *Link, m *jsonrpc.Message) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	frame := jsonrpc.ErrorResponse(m.ID, jsonrpc.CodeMethodNotFound,
		"gatehouse cannot relay "+m.Method+" to a 2026-07-28 client (that era carries no server-to-client requests)", nil)
	if r, err := u.Client.Post(ctx, &streamable.Request{Frame: frame, Session: l.Session, ProtocolVersion: l.ProtocolVersion}); err == nil {
		r.Close()
	}
}

// bridgeModern sends a legacy client's message to a 2026-07-28 server.
func (u *HTTPUpstream) bridgeModern(ctx context.Context, l *Link, out *Outbound) (Stream, error) {
	msg := out.Msg
	switch {
	case msg.Kind() == jsonrpc.KindNotification:
		return emptyStream{}, nil // initialized, roots changes: nothing to tell a stateless server
	case msg.Kind() == jsonrpc.KindResponse:
		return nil, fmt.Errorf("upstream %s speaks 2026-07-28, which has no server-to-client requests to answer", u.UpstreamName)
	case msg.Method == mcp.MethodInitialize:
		var p struct {
			Capabilities json.RawMessage `json:"capabilities"`
			ClientInfo   json.RawMessage `json:"clientInfo"`
		}
		json.Unmarshal(msg.Params, &p)
		l.mu.Lock()
		l.Capabilities, l.ClientInfo = p.Capabilities, p.ClientInfo
		l.mu.Unlock()
		disc, err := u.discover(ctx)
		if err != nil {
			return nil, err
		}
		return synthesize(msg.ID, initializeFrom(disc, msg.Params), u.Client.Limits)
	}
	l.mu.Lock()
	caps, info := l.Capabilities, l.ClientInfo
	l.mu.Unlock()
	m, err := jsonrpc.Parse(out.Frame, jsonrpc.Reread) // the frame as routed: a federated name is stripped there
	if err != nil {
		return nil, err
	}
	params := m.Params
	if params == nil {
		params = []byte("{}")
	}
	meta := []byte("{}")
	var pm map[string]json.RawMessage
	if json.Unmarshal(params, &pm) == nil && pm["_meta"] != nil {
		meta = pm["_meta"]
	}
	if caps == nil {
		caps = []byte("{}")
	}
	meta, _ = mcp.ReplaceMember(meta, mcp.MetaProtocolVersion, []byte(`"`+modernVersion+`"`))
	meta, _ = mcp.ReplaceMember(meta, "io.modelcontextprotocol/clientCapabilities", caps)
	if info != nil {
		meta, _ = mcp.ReplaceMember(meta, "io.modelcontextprotocol/clientInfo", info)
	}
	params, err = mcp.ReplaceMember(params, "_meta", meta)
	if err != nil {
		return nil, err
	}
	resp, err := u.Client.Post(ctx, &streamable.Request{Frame: m.WithParams(params), ProtocolVersion: modernVersion,
		Method: msg.Method, Name: out.Name})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.UpstreamName, err)
	}
	return &httpStream{resp: resp}, nil
}

// discover returns the server's DiscoverResult, fetched once.
func (u *HTTPUpstream) discover(ctx context.Context) (json.RawMessage, error) {
	u.mu.Lock()
	if u.disc != nil {
		defer u.mu.Unlock()
		return u.disc, nil
	}
	u.mu.Unlock()
	frame := jsonrpc.Request(jsonrpc.StringID("gatehouse-discover"), mcp.MethodDiscover,
		[]byte(`{"_meta":{"io.modelcontextprotocol/protocolVersion":"`+modernVersion+`","io.modelcontextprotocol/clientCapabilities":{}}}`))
	resp, err := u.Client.Post(ctx, &streamable.Request{Frame: frame, ProtocolVersion: modernVersion, Method: mcp.MethodDiscover})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: server/discover: %w", u.UpstreamName, err)
	}
	defer resp.Close()
	for {
		m, _, err := resp.Next()
		if err != nil {
			return nil, fmt.Errorf("upstream %s: server/discover: %w", u.UpstreamName, err)
		}
		if m.Kind() == jsonrpc.KindResponse {
			if m.IsError() {
				return nil, fmt.Errorf("upstream %s: server/discover failed: %s", u.UpstreamName, m.Error)
			}
			u.mu.Lock()
			u.disc = append(json.RawMessage(nil), m.Result...)
			u.mu.Unlock()
			return m.Result, nil
		}
	}
}

// initializeFrom answers a legacy client's initialize from a 2026-07-28 DiscoverResult.
func initializeFrom(disc json.RawMessage, clientParams []byte) []byte {
	var d map[string]any
	json.Unmarshal(disc, &d)
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	json.Unmarshal(clientParams, &p)
	version := p.ProtocolVersion
	if version == "" {
		version = "2025-11-25"
	}
	out := map[string]any{"protocolVersion": version, "capabilities": d["capabilities"]}
	if out["capabilities"] == nil {
		out["capabilities"] = map[string]any{}
	}
	if meta, ok := d["_meta"].(map[string]any); ok {
		if info, ok := meta["io.modelcontextprotocol/serverInfo"]; ok {
			out["serverInfo"] = info
		}
	}
	if out["serverInfo"] == nil {
		out["serverInfo"] = map[string]any{"name": "gatehouse", "version": "1"}
	}
	if in, ok := d["instructions"]; ok {
		out["instructions"] = in
	}
	b, _ := json.Marshal(out)
	return b
}

// synthesize is an upstream's answer that gatehouse makes itself, bounded by the limits of that
// upstream's answers: a *jsonrpc.FrameError (payload_too_large) when it is over them.
func synthesize(id jsonrpc.ID, result []byte, limits jsonrpc.Limits) (Stream, error) {
	m, err := jsonrpc.Parse(jsonrpc.Result(id, result), limits)
	if err != nil {
		return nil, err
	}
	return &memStream{msgs: []*jsonrpc.Message{m}}, nil
}

// unsupportedVersion reports whether an error response says the server does not speak the
// requested protocol version (-32022), or — from a legacy server — that it does not know a modern
// method.
func unsupportedVersion(m *jsonrpc.Message) bool {
	code, _, _ := errorParts(m)
	return code == -32022
}

// methodNotFound reports a -32601 error: a 2026-07-28-only server refusing initialize.
func methodNotFound(m *jsonrpc.Message) bool {
	code, _, _ := errorParts(m)
	return code == jsonrpc.CodeMethodNotFound
}

// discoveredEra reads a DiscoverResult: a server that lists 2026-07-28 among its supported versions
// is modern, one that does not is legacy, whatever it answered discover with.
func discoveredEra(result []byte) int {
	var r struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	json.Unmarshal(result, &r)
	for _, v := range r.SupportedVersions {
		if v == modernVersion {
			return eraModern
		}
	}
	return eraLegacy
}

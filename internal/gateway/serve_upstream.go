package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// Upstream is one server behind `gatehouse serve`: its name and namespace prefix, and how to talk
// to it on behalf of one downstream session.
type Upstream interface {
	Name() string
	// Prefix is the namespace of its tools and prompts ("" mounts it unprefixed).
	Prefix() string
	// Send sends one client message for a downstream session and returns the upstream's messages
	// for it: for a request, related notifications and server-to-client requests, then the
	// response; nothing for a notification or a reply.
	Send(ctx context.Context, l *Link, out *Outbound) (Stream, error)
	// Listen relays the upstream's server-initiated messages for a legacy session until ctx ends.
	Listen(ctx context.Context, l *Link, sink func(frame []byte)) error
	// Close ends the upstream side of a downstream session.
	Close(l *Link)
}

// Link is the upstream side of one downstream session, for one upstream.
type Link struct {
	mu sync.Mutex
	// Session is the upstream's own session id (legacy Streamable HTTP), "" until initialized.
	Session string
	// ProtocolVersion the upstream agreed to (legacy) or the request uses (modern).
	ProtocolVersion string
	// Capabilities and ClientInfo are what a legacy client declared at initialize, sent as
	// per-request _meta to a 2026-07-28 upstream (era bridging).
	Capabilities, ClientInfo json.RawMessage
}

// Outbound is a client message on its way to an upstream.
type Outbound struct {
	Frame  []byte
	Msg    *jsonrpc.Message
	Modern bool
	// ProtocolVersion is the client's version for this message.
	ProtocolVersion string
	// Name is the name or URI mirrored into Mcp-Name (modern era), after namespace stripping.
	Name string
	// Params are the client's Mcp-Param-* headers.
	Params http.Header
	// Tenant is the engagement the message was resolved to (SPEC §8.1), for upstreams that serve
	// engagements separately (the built-in file tools).
	Tenant string
	// Client identifies the downstream client (principal, engagement and address) where no session
	// does: a 2026-07-28 client bridged into gatehouse's shared legacy session may cancel only its
	// own requests there.
	Client string
	// Input is the decision input of a decided request (nil for others), for upstreams gatehouse
	// answers itself: the pack's agent tools answer for the caller it names.
	Input *policy.Input
}

// Stream is an upstream's answer to one message.
type Stream interface {
	// Next returns the next message, io.EOF after the last.
	Next() (*jsonrpc.Message, error)
	// Status is the HTTP status the upstream answered with (200 for stdio).
	Status() int
	// Streaming reports an upstream that answered with an SSE stream.
	Streaming() bool
	Close()
}

// HTTPUpstream is a Streamable HTTP server, of either era. Its era is learned from its answers
// and clients of the other era are bridged (serve_bridge.go).
type HTTPUpstream struct {
	UpstreamName   string
	UpstreamPrefix string
	Client         *streamable.Client
	// Timeout bounds one request's answer (not long-lived streams); zero means 5 minutes.
	Timeout time.Duration
	// Logger is told what gatehouse learns of the upstream (its era); nil logs nothing.
	Logger *slog.Logger

	bridgeSeq atomic.Uint64 // numbers the requests bridged into gatehouse's own legacy session

	mu      sync.Mutex
	era     int
	own     *Link           // gatehouse's own legacy session, for modern clients of a legacy server
	ownInit json.RawMessage // that server's initialize result
	opening *opening        // the handshake of that session under way, if any
	disc    json.RawMessage // a modern server's DiscoverResult, for legacy clients

	callsMu sync.Mutex
	calls   map[string]bridgedCall // the requests in flight in gatehouse's own session, by its id (Key)
}

func (u *HTTPUpstream) getEra() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.era
}

func (u *HTTPUpstream) setEra(era int) {
	u.mu.Lock()
	u.era = era
	u.mu.Unlock()
}

// learned records the era an upstream's refusal revealed, and says so once per change.
func (u *HTTPUpstream) learned(era int, why string) {
	u.mu.Lock()
	changed := u.era != era
	u.era = era
	u.mu.Unlock()
	if changed && u.Logger != nil {
		name := map[int]string{eraModern: "2026-07-28", eraLegacy: "legacy (2025-11-25 and earlier)"}[era]
		u.Logger.Info("upstream era learned from a refusal; bridging clients of the other era", "upstream", u.UpstreamName, "era", name, "refusal", why)
	}
}

var _ Upstream = (*HTTPUpstream)(nil)

// Name implements Upstream.
func (u *HTTPUpstream) Name() string { return u.UpstreamName }

// RequestTimeout bounds one request to this upstream.
func (u *HTTPUpstream) RequestTimeout() time.Duration {
	if u.Timeout > 0 {
		return u.Timeout
	}
	return defaultRequestTimeout
}

// defaultRequestTimeout bounds a request to an upstream that configures no timeout.
const defaultRequestTimeout = 5 * time.Minute

// Prefix implements Upstream.
func (u *HTTPUpstream) Prefix() string { return u.UpstreamPrefix }

// Send implements Upstream.
func (u *HTTPUpstream) Send(ctx context.Context, l *Link, out *Outbound) (Stream, error) {
	era := u.getEra()
	switch {
	case out.Modern && era == eraLegacy:
		return u.bridgeLegacy(ctx, out)
	case !out.Modern && era == eraModern:
		return u.bridgeModern(ctx, l, out)
	}
	if !out.Modern && out.Msg.Method == mcp.MethodInitialize {
		rememberClient(l, out.Msg.Params)
	}
	req := &streamable.Request{Frame: out.Frame, ProtocolVersion: out.ProtocolVersion}
	if out.Modern {
		if out.Msg.Kind() == jsonrpc.KindRequest {
			req.Method, req.Name, req.Params = out.Msg.Method, out.Name, out.Params
		}
	} else {
		l.mu.Lock()
		req.Session = l.Session
		if l.ProtocolVersion != "" {
			req.ProtocolVersion = l.ProtocolVersion
		}
		l.mu.Unlock()
	}
	resp, err := u.Client.Post(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.UpstreamName, err)
	}
	if !out.Modern && resp.SessionID != "" {
		l.mu.Lock()
		l.Session = resp.SessionID
		l.mu.Unlock()
	}
	if resp.Status == http.StatusNotFound && req.Session != "" {
		// The upstream forgot the session (it restarted, or expired it). The client's session is
		// gatehouse's and stays; its upstream half must be opened again by a new initialize.
		resp.Close()
		return nil, fmt.Errorf("upstream %s: session %s is gone: %w", u.UpstreamName, req.Session, ErrUpstreamSessionLost)
	}
	if resp.Status == http.StatusAccepted || out.Msg.Kind() != jsonrpc.KindRequest {
		return &httpStream{resp: resp}, nil
	}
	// A request is watched even when the era seems known: some servers answer server/discover
	// yet refuse 2026-07-28 for everything else, and some 2026-07-28-only servers accept a legacy
	// initialize and refuse what follows.
	return &learningStream{httpStream: httpStream{resp: resp}, u: u, ctx: ctx, l: l, out: out}, nil
}

// rememberClient keeps what a legacy client declared at initialize, which a 2026-07-28 server
// needs with every request should the upstream turn out to be one (bridgeModern).
func rememberClient(l *Link, params []byte) {
	var p struct {
		Capabilities json.RawMessage `json:"capabilities"`
		ClientInfo   json.RawMessage `json:"clientInfo"`
	}
	json.Unmarshal(params, &p)
	l.mu.Lock()
	l.Capabilities, l.ClientInfo = p.Capabilities, p.ClientInfo
	l.mu.Unlock()
}

// learningStream reads an answer and learns the upstream's era from it: a result settles the era;
// the other era's refusal (refusedEra) switches it and replays the message through the bridge, so
// the client never sees the probe. The switch happens once per message: a bridged answer is relayed
// as it comes, and a bridge that fails too is reported, never retried in the other era.
type learningStream struct {
	httpStream
	u       *HTTPUpstream
	ctx     context.Context
	l       *Link
	out     *Outbound
	bridged Stream
}

func (s *learningStream) Next() (*jsonrpc.Message, error) {
	if s.bridged != nil {
		return s.bridged.Next()
	}
	m, body, err := s.resp.Next()
	if err != nil && !(m == nil && (errors.Is(err, streamable.ErrNotJSONRPC) || (err == io.EOF && s.resp.Status >= 400))) {
		return m, err
	}
	if m != nil && m.Kind() != jsonrpc.KindResponse {
		return m, nil // notifications and requests come before the response
	}
	if m == nil {
		body = s.resp.Body()
	}
	switch refusedEra(s.out, s.resp.Status, m, body) {
	case eraLegacy:
		why := describeRefusal(s.resp.Status, m, body)
		s.u.learned(eraLegacy, why)
		s.httpStream.Close()
		if s.bridged, err = s.u.bridgeLegacy(s.ctx, s.out); err != nil {
			s.u.setEra(eraUnknown) // learn again from the next request
			return nil, fmt.Errorf("upstream %s refused a 2026-07-28 request as a legacy server does (%s), and bridging to a legacy session failed too: %w", s.u.UpstreamName, why, err)
		}
		return s.bridged.Next()
	case eraModern:
		why := describeRefusal(s.resp.Status, m, body)
		s.u.learned(eraModern, why)
		s.httpStream.Close()
		if s.bridged, err = s.u.bridgeModern(s.ctx, s.l, s.out); err != nil {
			s.u.setEra(eraUnknown)
			return nil, fmt.Errorf("upstream %s refused a legacy request as a 2026-07-28-only server does (%s), and bridging to 2026-07-28 failed too: %w", s.u.UpstreamName, why, err)
		}
		return s.bridged.Next()
	}
	if err != nil || m.ID.Key() != s.out.Msg.ID.Key() {
		return m, err
	}
	if !m.IsError() && s.out.Msg.Method == mcp.MethodDiscover {
		// A server may answer server/discover and still speak only legacy versions: what it
		// says it supports decides.
		s.u.setEra(discoveredEra(m.Result))
	} else if !m.IsError() && s.u.getEra() == eraUnknown {
		if s.out.Modern {
			s.u.setEra(eraModern)
		} else {
			s.u.setEra(eraLegacy)
		}
	}
	return m, nil
}

func (s *learningStream) Status() int {
	if s.bridged != nil {
		return s.bridged.Status()
	}
	return s.httpStream.Status()
}

func (s *learningStream) Close() {
	if s.bridged != nil {
		s.bridged.Close()
	}
	s.httpStream.Close()
}

// ErrUpstreamSessionLost reports an upstream that no longer knows the session.
var ErrUpstreamSessionLost = errors.New("upstream session lost")

// Listen implements Upstream.
func (u *HTTPUpstream) Listen(ctx context.Context, l *Link, sink func([]byte)) error {
	l.mu.Lock()
	session, pv := l.Session, l.ProtocolVersion
	l.mu.Unlock()
	if session == "" {
		<-ctx.Done()
		return nil
	}
	resp, err := u.Client.Get(ctx, session, pv, "")
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.Status != http.StatusOK {
		if resp.Status == http.StatusMethodNotAllowed {
			<-ctx.Done() // the upstream offers no stream; nothing will come
			return nil
		}
		return fmt.Errorf("upstream %s: GET stream answered HTTP %d", u.UpstreamName, resp.Status)
	}
	for {
		_, raw, err := resp.Next()
		if err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return err
		}
		sink(raw)
	}
}

// Close implements Upstream: it ends the upstream session with a DELETE, which an upstream that
// does not answer holds up for closeTimeout at most.
func (u *HTTPUpstream) Close(l *Link) {
	l.mu.Lock()
	session, pv := l.Session, l.ProtocolVersion
	l.Session = ""
	l.mu.Unlock()
	if session != "" {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := u.Client.Delete(ctx, session, pv); err != nil && u.Logger != nil {
			u.Logger.Debug("upstream session not ended", "upstream", u.UpstreamName, "error", err)
		}
	}
}

// closeTimeout bounds the DELETE that ends an upstream session.
const closeTimeout = 10 * time.Second

type httpStream struct{ resp *streamable.Response }

func (s *httpStream) Next() (*jsonrpc.Message, error) {
	m, _, err := s.resp.Next()
	return m, err
}
func (s *httpStream) Status() int     { return s.resp.Status }
func (s *httpStream) Streaming() bool { return s.resp.Streaming }
func (s *httpStream) Close()          { s.resp.Close() }

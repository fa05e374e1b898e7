package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
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

	mu      sync.Mutex
	era     int
	own     *Link           // gatehouse's own legacy session, for modern clients of a legacy server
	ownInit json.RawMessage // that server's initialize result
	disc    json.RawMessage // a modern server's DiscoverResult, for legacy clients
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
	if resp.Status == http.StatusAccepted || (era != eraUnknown && !out.Modern) {
		return &httpStream{resp: resp}, nil
	}
	// A modern request is watched even when the era seems known: some servers answer
	// server/discover yet refuse 2026-07-28 for everything else, and a -32022 means "bridge".
	return &learningStream{httpStream: httpStream{resp: resp}, u: u, ctx: ctx, l: l, out: out}, nil
}

// learningStream reads an answer from an upstream whose era is not known yet, and learns it from
// the final response: a result settles the era; the other era's refusal (-32022 to a 2026-07-28
// request, method-not-found to a legacy initialize) switches the era and replays the message
// through the bridge, so the client never sees the probe. Servers put that refusal in the body with
// various HTTP statuses (400, 404, even 200), and JSON or SSE, so only the body decides.
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
	m, err := s.httpStream.Next()
	if err != nil || m.Kind() != jsonrpc.KindResponse || m.ID.Key() != s.out.Msg.ID.Key() {
		return m, err
	}
	switch {
	case s.out.Modern && unsupportedVersion(m):
		s.u.setEra(eraLegacy)
		s.bridged, err = s.u.bridgeLegacy(s.ctx, s.out)
	case !s.out.Modern && s.out.Msg.Method == mcp.MethodInitialize && (s.resp.Status == http.StatusNotFound || methodNotFound(m)):
		s.u.setEra(eraModern)
		s.bridged, err = s.u.bridgeModern(s.ctx, s.l, s.out)
	default:
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
	s.httpStream.Close()
	if err != nil {
		return nil, err
	}
	return s.bridged.Next()
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

// Close implements Upstream.
func (u *HTTPUpstream) Close(l *Link) {
	l.mu.Lock()
	session, pv := l.Session, l.ProtocolVersion
	l.Session = ""
	l.mu.Unlock()
	if session != "" {
		u.Client.Delete(context.Background(), session, pv)
	}
}

type httpStream struct{ resp *streamable.Response }

func (s *httpStream) Next() (*jsonrpc.Message, error) {
	m, _, err := s.resp.Next()
	return m, err
}
func (s *httpStream) Status() int     { return s.resp.Status }
func (s *httpStream) Streaming() bool { return s.resp.Streaming }
func (s *httpStream) Close()          { s.resp.Close() }

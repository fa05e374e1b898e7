package streamable

import (
	"context"
	"net/http"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Exchange is one message a client sent, accepted by the transport.
type Exchange struct {
	Msg *jsonrpc.Message
	// Session is the client's legacy session, nil in the 2026-07-28 era.
	Session *Session
	// Principal is the authenticated caller (never nil; anonymous when authentication is off).
	Principal *policy.Principal
	// Tenant is the engagement the request belongs to, when the transport resolved one.
	Tenant string
	// TenantProblem says why the request has no valid engagement, when tenancy is on: the backend
	// must refuse the request as cross_tenant (and audit it).
	TenantProblem string
	ClientIP      string
	// Header is the request's headers, for policy input; credentials must be masked by the reader.
	Header http.Header
	// Modern reports a 2026-07-28-era request.
	Modern bool
	// ProtocolVersion is the request's protocol version (header or _meta), when known.
	ProtocolVersion string
	// Params are the client's Mcp-Param-* headers, forwarded to a modern upstream as they came.
	Params http.Header
}

// Answer is how a backend answers a request. Send writes a message that precedes the response
// (a notification or a server-to-client request) and turns the HTTP response into an SSE stream;
// Finish writes the final response — as a single JSON body with status when nothing was sent
// before, otherwise as the stream's last event. Exactly one Finish must be called, unless the
// request is a stream that ends when the context does (subscriptions/listen). On a legacy session's
// stream the transport keeps what was sent for replay (Last-Event-ID): a frame must not be changed
// once handed to Send or Finish.
type Answer interface {
	Send(frame []byte) error
	Finish(frame []byte, status int) error
	// Stream turns the answer into an SSE stream now, before anything is sent: a backend relaying
	// an upstream that answered with a stream mirrors that choice.
	Stream()
	// SetHeader sets a response header; it has effect only before anything is written.
	SetHeader(key, value string)
}

// Stream is a session's GET stream of server-initiated messages (legacy era). Like Answer, it
// keeps what was sent for replay: a frame must not be changed once handed to Send.
type Stream interface {
	Send(frame []byte) error
}

// Backend decides and answers what clients send.
type Backend interface {
	// Request answers a request. For a legacy initialize, ex.Session is a new session that the
	// transport registers only if the answer is a result.
	Request(ctx context.Context, ex *Exchange, ans Answer)
	// Notify handles a client notification (the transport answers 202 once it returns nil).
	Notify(ctx context.Context, ex *Exchange) error
	// Reply handles a client's response to a server-to-client request.
	Reply(ctx context.Context, ex *Exchange) error
	// Listen serves a session's GET stream until ctx ends.
	Listen(ctx context.Context, sess *Session, s Stream)
	// Closed tells the backend a session ended (DELETE, expiry, shutdown).
	Closed(sess *Session)
	// Refused audits a message the transport could not accept (oversize, malformed) and returns
	// the error frame to answer it with.
	Refused(ctx context.Context, ex *Exchange, fe *jsonrpc.FrameError, raw []byte) []byte
}

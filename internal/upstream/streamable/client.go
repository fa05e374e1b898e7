package streamable

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// Header names of the Streamable HTTP transport.
const (
	HeaderSessionID       = "Mcp-Session-Id"
	HeaderProtocolVersion = "Mcp-Protocol-Version"
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
	HeaderParamPrefix     = "Mcp-Param-"
	HeaderLastEventID     = "Last-Event-Id"
)

// Client sends requests to one Streamable HTTP MCP server.
type Client struct {
	// URL is the server's MCP endpoint.
	URL string
	// HTTP is the client used; its Timeout must be zero (streams are long-lived): bound individual
	// requests with their context.
	HTTP *http.Client
	// Authorize adds the upstream's own credentials to a request (SPEC §7.3); nil adds none.
	Authorize func(ctx context.Context, r *http.Request) error
	// Unauthorized is told of a request the upstream answered 401; it returns true when a fresh
	// credential may be tried (an OAuth token was refreshed), and the request is sent once more.
	Unauthorized func(r *http.Request) bool
	// Limits bound every message received.
	Limits jsonrpc.Limits
}

// Request is one message to send.
type Request struct {
	Frame []byte
	// Session is the upstream session id (legacy era); empty for none.
	Session string
	// ProtocolVersion is sent as MCP-Protocol-Version when set.
	ProtocolVersion string
	// Method and Name are mirrored into Mcp-Method and Mcp-Name (modern era) when set.
	Method, Name string
	// Params are extra headers passed through (Mcp-Param-*), already encoded by the client.
	Params http.Header
}

// Response is the answer to a POST or a GET: its HTTP status and headers, and its messages.
type Response struct {
	Status    int
	Header    http.Header
	SessionID string
	// Streaming reports a text/event-stream body.
	Streaming bool

	body   io.ReadCloser
	cancel context.CancelFunc // ends the request
	stop   func() bool        // stops the caller's ctx from ending it
	// closing is set by Close: from then on only Close ends the request.
	closing atomic.Bool
	events  *EventReader
	single  []byte
	done    bool
	limits  jsonrpc.Limits
	// LastEventID is the id of the last event read, for resumption.
	LastEventID string
}

// Post sends a message and returns the response. A response with no body (202 for a notification or
// a client response) has no messages.
func (c *Client) Post(ctx context.Context, req *Request) (*Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(req.Frame))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json, text/event-stream")
	c.common(hr, req.Session, req.ProtocolVersion)
	if req.Method != "" {
		hr.Header.Set(HeaderMethod, req.Method)
	}
	if req.Name != "" {
		hr.Header.Set(HeaderName, EncodeHeaderValue(req.Name))
	}
	for k, vs := range req.Params {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), HeaderParamPrefix) {
			for _, v := range vs {
				hr.Header.Add(k, v)
			}
		}
	}
	resp, err := c.do(ctx, hr)
	if err == nil && resp.Status == http.StatusUnauthorized && c.Unauthorized != nil && c.Unauthorized(hr) {
		resp.Close()
		retry := hr.Clone(ctx)
		retry.Body = io.NopCloser(bytes.NewReader(req.Frame))
		return c.do(ctx, retry)
	}
	return resp, err
}

// Get opens the legacy era's stream of server-initiated messages for a session, resuming after
// lastEventID when it is set.
func (c *Client) Get(ctx context.Context, session, protocolVersion, lastEventID string) (*Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "text/event-stream")
	c.common(hr, session, protocolVersion)
	if lastEventID != "" {
		hr.Header.Set(HeaderLastEventID, lastEventID)
	}
	return c.do(ctx, hr)
}

// Delete ends a legacy session.
func (c *Client) Delete(ctx context.Context, session, protocolVersion string) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.URL, nil)
	if err != nil {
		return err
	}
	c.common(hr, session, protocolVersion)
	resp, err := c.do(ctx, hr)
	if err != nil {
		return err
	}
	resp.Close()
	return nil
}

func (c *Client) common(hr *http.Request, session, protocolVersion string) {
	if session != "" {
		hr.Header.Set(HeaderSessionID, session)
	}
	if protocolVersion != "" {
		hr.Header.Set(HeaderProtocolVersion, protocolVersion)
	}
}

func (c *Client) do(ctx context.Context, hr *http.Request) (*Response, error) {
	if c.Authorize != nil {
		if err := c.Authorize(ctx, hr); err != nil {
			return nil, fmt.Errorf("upstream credentials: %w", err)
		}
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	// ctx cancels the request until the response is closed, and no longer: Close then reads the end of
	// a stream in the background, after the caller's ctx has usually ended.
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Response{cancel: cancel}
	r.stop = context.AfterFunc(ctx, func() {
		if !r.closing.Load() {
			cancel()
		}
	})
	hresp, err := client.Do(hr.WithContext(reqCtx))
	if err != nil {
		r.stop()
		cancel()
		return nil, err
	}
	limits := c.Limits
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = jsonrpc.DefaultMaxBytes
	}
	r.Status, r.Header, r.SessionID, r.body, r.limits = hresp.StatusCode, hresp.Header, hresp.Header.Get(HeaderSessionID), hresp.Body, limits
	ct, _, _ := mime.ParseMediaType(hresp.Header.Get("Content-Type"))
	switch {
	case ct == "text/event-stream":
		r.Streaming = true
		r.events = NewEventReader(hresp.Body, limits.MaxBytes)
	case hresp.StatusCode == http.StatusAccepted || hresp.ContentLength == 0:
		io.Copy(io.Discard, io.LimitReader(hresp.Body, 4096))
		r.done = true
	default:
		body, err := io.ReadAll(io.LimitReader(hresp.Body, int64(limits.MaxBytes)+1))
		if err != nil {
			r.Close()
			return nil, err
		}
		if len(body) > limits.MaxBytes {
			r.Close()
			return nil, fmt.Errorf("upstream response exceeds %d bytes", limits.MaxBytes)
		}
		r.single = bytes.TrimSpace(body)
		if len(r.single) == 0 {
			r.done = true
		}
	}
	return r, nil
}

// ErrNotJSONRPC is returned by Next for a body that is not a JSON-RPC message (an HTML error page
// from a proxy, for instance); the status and body are in the error text.
var ErrNotJSONRPC = errors.New("upstream answered with something other than a JSON-RPC message")

// Next returns the next message of the response, io.EOF after the last. Events without data are
// skipped (their id is kept in LastEventID).
func (r *Response) Next() (*jsonrpc.Message, []byte, error) {
	if r.done {
		return nil, nil, io.EOF
	}
	if !r.Streaming {
		r.done = true
		msg, err := jsonrpc.Parse(r.single, r.limits)
		if err != nil {
			return nil, r.single, fmt.Errorf("%w: HTTP %d: %w", ErrNotJSONRPC, r.Status, err)
		}
		return msg, r.single, nil
	}
	for {
		ev, err := r.events.Next()
		if err != nil {
			r.done = true
			return nil, nil, err
		}
		if ev.ID != "" {
			r.LastEventID = ev.ID
		}
		if len(ev.Data) == 0 {
			continue
		}
		msg, err := jsonrpc.Parse(ev.Data, r.limits)
		if err != nil {
			return nil, ev.Data, fmt.Errorf("%w: %w", ErrNotJSONRPC, err)
		}
		return msg, ev.Data, nil
	}
}

// Body is the whole body of a response that is not a stream (a JSON answer, or whatever a server
// or proxy sent instead), trimmed; nil for a stream or an empty body. Reading it consumes nothing.
func (r *Response) Body() []byte {
	if r.Streaming {
		return nil
	}
	return r.single
}

// drainLimit and drainTime bound what Close reads from the rest of an SSE stream.
const (
	drainLimit = 64 << 10
	drainTime  = time.Second
)

// Close releases the response body. A server ends an SSE stream once it has sent the response; the
// rest of the stream (usually nothing but its end) is read in the background, at most drainLimit
// bytes for at most drainTime, so that the connection goes back to the pool: a connection whose body
// was not read to its end is torn down, and dialing a new one for every request costs more than the
// request.
func (r *Response) Close() {
	if r.closing.Swap(true) {
		return
	}
	r.stop()
	if !r.Streaming {
		r.body.Close()
		r.cancel()
		return
	}
	go func() {
		t := time.AfterFunc(drainTime, r.cancel)
		io.Copy(io.Discard, io.LimitReader(r.body, drainLimit))
		t.Stop()
		r.body.Close()
		r.cancel()
	}()
}

// EncodeHeaderValue encodes a value for Mcp-Name or Mcp-Param-* per the 2026-07-28 transport: as is
// when it is plain visible ASCII without leading or trailing whitespace and not itself shaped like
// the sentinel, otherwise as =?base64?…?=.
func EncodeHeaderValue(v string) string {
	plain := v != "" && v == strings.TrimSpace(v) && !(strings.HasPrefix(v, "=?base64?") && strings.HasSuffix(v, "?="))
	for i := 0; plain && i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			plain = false
		}
	}
	if plain {
		return v
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}

// DecodeHeaderValue reverses EncodeHeaderValue. A value that does not carry both sentinel markers is
// taken literally; an encoded value with invalid Base64 (bad padding, characters outside the
// alphabet) is an error.
func DecodeHeaderValue(v string) (string, error) {
	v = strings.TrimSpace(v) // RFC 9110 §5.5: optional whitespace is not part of the value
	inner, ok := strings.CutPrefix(v, "=?base64?")
	if !ok {
		return v, nil
	}
	inner, ok = strings.CutSuffix(inner, "?=")
	if !ok {
		return v, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(inner)
	if err != nil {
		return "", fmt.Errorf("invalid Base64 in header value: %w", err)
	}
	return string(b), nil
}

// DefaultHTTPClient is an HTTP client suitable for upstreams: no overall timeout (streams are
// long-lived), bounded connection set-up, keep-alives.
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	t.ResponseHeaderTimeout = 0
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{Transport: t}
}

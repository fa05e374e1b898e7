package jsonrpc

import (
	"strconv"
)

// Kind is the role of a frame in a JSON-RPC exchange.
type Kind int

// The kinds of frame.
const (
	KindRequest      Kind = iota + 1 // method and id
	KindNotification                 // method, no id
	KindResponse                     // result or error, and id
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	}
	return "invalid"
}

// ID is a JSON-RPC request id. The zero ID means "absent".
type ID struct {
	// raw is the id as it appeared on the wire, re-emitted unchanged in answers.
	raw string
	// key identifies the id for correlation: the kind of value plus its decoded content, so that
	// "\u0061" and "a" are the same id, as a peer that re-encodes them would consider them.
	key string
}

// IsZero reports whether the id is absent.
func (id ID) IsZero() bool { return id.raw == "" }

// IsNull reports whether the id was the JSON literal null (allowed only in error responses).
func (id ID) IsNull() bool { return id.raw == "null" }

// Key is a string that is equal for two ids exactly when a peer would consider them the same id.
func (id ID) Key() string { return id.key }

// Raw is the id's JSON text, "null" when absent.
func (id ID) Raw() []byte {
	if id.raw == "" {
		return []byte("null")
	}
	return []byte(id.raw)
}

// String is the id as text for logs and audit records: a string id unquoted, a number as written.
func (id ID) String() string {
	if id.key == "" || id.key == "null" {
		return ""
	}
	return id.key[1:] // drop the kind prefix: a string id unquoted, a number as written
}

// StringID makes an id from a Go string, for requests gatehouse itself sends.
func StringID(s string) ID {
	return ID{raw: strconv.Quote(s), key: "s" + s}
}

// span is a half-open byte range within Message.Raw.
type span struct{ start, end int }

func (s span) ok() bool { return s.end > s.start }

// Message is one decoded frame. Raw is exactly the bytes received (without the line terminator); the
// other fields are views into it or values decoded from the envelope. A Message is never modified after
// Parse returns: rewrites build a new frame (see WithParams and WithResult).
type Message struct {
	Raw    []byte
	ID     ID
	Method string
	// Params, Result and Error are the raw JSON of those members, nil when absent.
	Params []byte
	Result []byte
	Error  []byte
	// Decoded caches another package's reading of Params (mcp.Decode), so that the transport, the
	// router and the pipeline read a message once. Params never change, so it never goes stale.
	Decoded any

	params, result span
}

// Kind reports what the frame is.
func (m *Message) Kind() Kind {
	switch {
	case m.Method != "" && !m.ID.IsZero():
		return KindRequest
	case m.Method != "":
		return KindNotification
	default:
		return KindResponse
	}
}

// IsError reports whether a response carries an error rather than a result.
func (m *Message) IsError() bool { return m.Error != nil }

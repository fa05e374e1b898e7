package mcp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Meta keys gatehouse reads from params._meta.
const (
	MetaProtocolVersion = "io.modelcontextprotocol/protocolVersion"
	MetaProgressToken   = "progressToken"
	// MetaRunID and MetaWorkflowID let an agent runtime name the run and workflow a call belongs to;
	// budgets scoped to a run and the workflow pack read them.
	MetaRunID      = "gatehouse/run_id"
	MetaWorkflowID = "gatehouse/workflow_id"
	// MetaPrefix begins the _meta keys of the workflow pack's attributes (policy.WorkflowAttributes).
	MetaPrefix = "gatehouse/"
	// MaxMetaIDBytes bounds a run or workflow id.
	MaxMetaIDBytes = 256
	// MetaTraceParent and MetaTraceState are the W3C trace context the 2026-07-28 specification
	// reserves in _meta (OpenTelemetry's, unprefixed). Gatehouse reads them for its own spans.
	MetaTraceParent = "traceparent"
	MetaTraceState  = "tracestate"
)

// Request is what gatehouse reads from a request's params.
type Request struct {
	// Name is the tool (tools/call) or prompt (prompts/get) name.
	Name string
	// URI is the resource URI (resources/read, resources/subscribe).
	URI string
	// Arguments are the call's arguments, numbers as json.Number. Nil when absent.
	Arguments map[string]any
	// RawArguments are the arguments exactly as received, for the audit preview.
	RawArguments []byte
	// ProtocolVersion is the modern per-request version from _meta, or the version an initialize
	// request proposes. Empty for a legacy request after the handshake.
	ProtocolVersion string
	// Modern reports a 2026-07-28-era request: it carries its protocol version in _meta.
	Modern     bool
	RunID      string
	WorkflowID string
	// Attributes are the workflow pack's attributes from _meta (gatehouse/<name>, for the names of
	// policy.WorkflowAttributes). Nil when there are none.
	Attributes map[string]any
	// Elicits reports a 2026-07-28 request that may be answered input_required (MultiRoundTrip) from
	// a client that declares form elicitation in _meta: a hold may ask its human (HoldResult).
	Elicits bool
	// Trace is _meta's trace context, nil when it has none (a pointer: most requests carry none,
	// and every request's Request is allocated).
	Trace *TraceContext
}

// TraceContext is a request's W3C trace context, as sent (unchecked: the tracer parses it); a
// member absent or not a string is empty.
type TraceContext struct {
	Parent, State string
}

// Decode is DecodeRequest for a parsed message, read once: the reading is kept on the message, so
// the transport, the router and the pipeline share it. Callers must not modify the Request.
func Decode(msg *jsonrpc.Message) (*Request, error) {
	if d, ok := msg.Decoded.(decoded); ok {
		return d.req, d.err
	}
	req, err := DecodeRequest(msg.Method, msg.Params)
	msg.Decoded = decoded{req, err}
	return req, err
}

type decoded struct {
	req *Request
	err error
}

// DecodeRequest reads the fields a decision needs from params, which must already have passed
// jsonrpc.Parse (so they are valid, strict JSON). It fails only when a field gatehouse must read has
// the wrong type: a tool name that is not a string cannot be decided.
func DecodeRequest(method string, params []byte) (*Request, error) {
	r := &Request{}
	if len(params) == 0 || params[0] != '{' {
		return r, nil
	}
	var nameField, uriField bool
	switch method {
	case MethodToolsCall, MethodPromptsGet:
		nameField = true
	case MethodResourcesRead, MethodResourcesSubscribe, MethodResourcesUnsubscribe:
		uriField = true
	}
	err := members(params, func(name string, val jsontext.Value) error {
		var err error
		switch {
		case name == "name" && nameField:
			r.Name, err = stringValue(val, "params.name")
		case name == "uri" && uriField:
			r.URI, err = stringValue(val, "params.uri")
		case name == "protocolVersion" && method == MethodInitialize:
			r.ProtocolVersion, err = stringValue(val, "params.protocolVersion")
		case name == "arguments" && nameField && val.Kind() != 'n':
			if r.Arguments, err = DecodeObject(val); err != nil {
				return fmt.Errorf("params.arguments: %w", err)
			}
			r.RawArguments = val
		case name == "_meta" && val.Kind() != 'n':
			if val.Kind() != '{' {
				return fmt.Errorf("params._meta must be an object")
			}
			return members(val, func(key string, v jsontext.Value) error {
				var s string
				switch key {
				case MetaProtocolVersion:
					if s, _ = stringValue(v, ""); s != "" {
						r.ProtocolVersion, r.Modern = s, true
					}
				case MetaRunID:
					r.RunID, _ = stringValue(v, "")
					return metaID(key, r.RunID)
				case MetaWorkflowID:
					r.WorkflowID, _ = stringValue(v, "")
					return metaID(key, r.WorkflowID)
				case MetaClientCapabilities:
					r.Elicits = formElicitation(v)
				case MetaTraceParent, MetaTraceState:
					if r.Trace == nil {
						r.Trace = &TraceContext{}
					}
					if key == MetaTraceParent {
						r.Trace.Parent, _ = stringValue(v, "")
					} else {
						r.Trace.State, _ = stringValue(v, "")
					}
				}
				if name, ok := strings.CutPrefix(key, MetaPrefix); ok && slices.Contains(policy.WorkflowAttributes, name) && v.Kind() != 'n' {
					val, err := DecodeValue(v)
					if err != nil {
						return fmt.Errorf("params._meta %s: %w", key, err)
					}
					if r.Attributes == nil {
						r.Attributes = map[string]any{}
					}
					r.Attributes[name] = val
				}
				return nil
			})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Elicits = r.Elicits && r.Modern && MultiRoundTrip(method)
	return r, nil
}

// metaID refuses a run or workflow id over MaxMetaIDBytes: budgets are counted per run id, and an
// unbounded id would be an unbounded state key.
func metaID(key, id string) error {
	if len(id) > MaxMetaIDBytes {
		return fmt.Errorf("params._meta %s is longer than %d bytes", key, MaxMetaIDBytes)
	}
	return nil
}

// members calls f for each member of a JSON object, in order, with exact (unescaped) names. The
// object must be valid JSON: it is walked, not validated again.
func members(obj []byte, f func(name string, val jsontext.Value) error) error {
	var s jsonscan.Scanner
	s.Reset(obj, 0)
	if t, err := s.Next(); err != nil || t.Kind != '{' {
		return fmt.Errorf("not a JSON object")
	}
	for {
		t, err := s.Next()
		if err != nil {
			return err
		}
		if t.Kind == '}' {
			return nil
		}
		name := string(t.Text())
		if t.Flags&jsonscan.Escaped != 0 {
			u, err := jsontext.AppendUnquote(nil, t.Raw)
			if err != nil {
				return err
			}
			name = string(u)
		}
		val, err := s.Value()
		if err != nil {
			return err
		}
		if err := f(name, val); err != nil {
			return err
		}
	}
}

func stringValue(val jsontext.Value, what string) (string, error) {
	switch val.Kind() {
	case 'n':
		return "", nil
	case '"':
		s, err := jsontext.AppendUnquote(nil, val)
		return string(s), err
	}
	if what == "" {
		return "", fmt.Errorf("not a string")
	}
	return "", fmt.Errorf("%s must be a string", what)
}

// DecodeObject decodes a JSON object with numbers kept as json.Number, so a value that is rewritten
// and re-encoded keeps its exact digits.
func DecodeObject(raw []byte) (map[string]any, error) {
	v, err := DecodeValue(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be an object")
	}
	return obj, nil
}

func stringMember(obj map[string]json.RawMessage, name string) (string, error) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("params.%s must be a string", name)
	}
	return s, nil
}

// ProgressToken returns the progress token a request's params carry in _meta, or nil.
func ProgressToken(params []byte) json.RawMessage {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil
	}
	return p.Meta[MetaProgressToken]
}

// Progress returns a notifications/progress frame for token: progress n, with message.
func Progress(token json.RawMessage, n int, message string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": NotificationProgress,
		"params": map[string]any{"progressToken": token, "progress": n, "message": message}})
	return b
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

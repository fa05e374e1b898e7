package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Limits bound what Parse accepts. The zero value applies the defaults.
type Limits struct {
	// MaxBytes is the largest frame accepted, in bytes (SPEC §8.5, MCP_MAX_REQUEST_SIZE_MB).
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted.
	MaxDepth int
	// MaxTokens is the most JSON tokens accepted in a frame: member names and values, an object or
	// array counting once (jsonscan.Scanner.Tokens). It bounds the memory of reading a frame, which
	// grows with its tokens more than with its bytes: 48 MiB of [0,0,…] took gatehouse past 1 GiB.
	MaxTokens int
}

// Default limits: 50 MiB frames (the seed's MCP_MAX_REQUEST_SIZE_MB); 64 levels of nesting, far
// beyond any MCP schema and far below what could exhaust a stack; a million tokens, some
// hundred thousand rows of a table in a result, and a bounded cost to decode.
const (
	DefaultMaxBytes  = 50 << 20
	DefaultMaxDepth  = 64
	DefaultMaxTokens = 1_000_000
)

// Reread is for reading again a frame that was read within the configured limits, or that gatehouse
// built from one: the limits were applied when the frame came in, and are not applied twice.
var Reread = Limits{MaxBytes: math.MaxInt, MaxDepth: decoderMaxDepth, MaxTokens: math.MaxInt}

// decoderMaxDepth is the deepest nesting jsontext reads at all.
const decoderMaxDepth = 10000

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	return l
}

// FrameError says why a frame was refused. ID is the frame's id when it could be recovered without
// trusting the frame (see SalvageID), so the sender can be answered; it is zero otherwise.
type FrameError struct {
	// Code is the JSON-RPC error code to answer with (-32700, -32600 or gatehouse's payload_too_large).
	Code int
	// Reason is the stable data.reason.
	Reason policy.Code
	// Detail is a human explanation safe to show the sender: it never quotes the payload.
	Detail string
	ID     ID
}

func (e *FrameError) Error() string { return string(e.Reason) + ": " + e.Detail }

func malformed(code int, id ID, format string, args ...any) *FrameError {
	return &FrameError{Code: code, Reason: policy.CodeMalformed, Detail: fmt.Sprintf(format, args...), ID: id}
}

// decoder pairs a reusable jsontext.Decoder with the reader it reads from, so Parse allocates neither.
type decoder struct {
	r bytes.Reader
	d jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// Parse decodes one frame strictly. It rejects, with a *FrameError: frames over lim.MaxBytes or
// lim.MaxTokens (payload_too_large), nesting deeper than lim.MaxDepth, invalid UTF-8, malformed
// JSON, duplicate object members at any depth (including names that differ only in escaping),
// trailing data, batches, and envelopes that are not a JSON-RPC 2.0 request, notification or
// response. raw is retained by the returned Message.
func Parse(raw []byte, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	if len(raw) > lim.MaxBytes {
		return nil, &FrameError{Code: CodeFor(policy.CodePayloadTooLarge), Reason: policy.CodePayloadTooLarge,
			Detail: fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", len(raw), lim.MaxBytes),
			ID:     SalvageID(raw)}
	}
	if m, ok := parseOrdinary(raw, lim); ok {
		return m, nil
	}
	return parseFull(raw, lim)
}

// parseFull is Parse with the full decoder, for any frame.
func parseFull(raw []byte, lim Limits) (*Message, error) {
	d, tokens := shape(raw, lim.MaxTokens)
	if tokens > lim.MaxTokens {
		return nil, &FrameError{Code: CodeFor(policy.CodePayloadTooLarge), Reason: policy.CodePayloadTooLarge,
			Detail: fmt.Sprintf("message holds more JSON tokens than the limit of %d", lim.MaxTokens),
			ID:     SalvageID(raw)}
	}
	if d > lim.MaxDepth {
		return nil, malformed(CodeParseError, SalvageID(raw), "JSON nesting depth %d exceeds the limit of %d", d, lim.MaxDepth)
	}
	pooled := decoders.Get().(*decoder)
	defer func() { pooled.r.Reset(nil); decoders.Put(pooled) }()
	pooled.r.Reset(raw)
	dec := &pooled.d
	dec.Reset(&pooled.r)

	m := &Message{Raw: raw}
	if err := m.decodeEnvelope(dec); err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, malformed(CodeParseError, SalvageID(raw), "invalid JSON: %s", describe(err))
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// parseOrdinary reads a frame without the full decoder, when it can (jsonscan.Object): an object
// whose strings, names and members need none of the decoder's care, with a valid envelope. It
// reports false for anything else, and Parse then decides with the decoder, which also words the
// error. It reads the same members as decodeEnvelope and applies the same checks.
func parseOrdinary(raw []byte, lim Limits) (*Message, bool) {
	m := &Message{Raw: raw}
	var version []byte
	err := jsonscan.Object(raw, lim.MaxDepth, lim.MaxTokens, func(name []byte, start, end int) error {
		val, sp := raw[start:end], span{start, end}
		switch string(name) {
		case "jsonrpc":
			version = val
		case "id":
			id, err := parseID(val)
			if err != nil {
				return err
			}
			m.ID = id
		case "method":
			if val[0] != '"' || bytes.IndexByte(val, '\\') >= 0 {
				return jsonscan.ErrUnusual
			}
			m.Method = string(val[1 : len(val)-1])
		case "params":
			m.Params, m.params = val, sp
		case "result":
			m.Result, m.result = val, sp
		case "error":
			m.Error = val
		}
		return nil
	})
	if err != nil || string(version) != `"2.0"` || m.validate() != nil {
		return nil, false
	}
	return m, true
}

func (m *Message) decodeEnvelope(dec *jsontext.Decoder) error {
	switch k := dec.PeekKind(); k {
	case '{':
	case '[':
		return malformed(CodeInvalidRequest, ID{}, "JSON-RPC batches are not supported")
	case 0:
		_, err := dec.ReadToken()
		if err == nil || err == io.EOF {
			return malformed(CodeParseError, ID{}, "empty message")
		}
		return err
	default:
		if !jsontext.Value(m.Raw).IsValid() {
			return malformed(CodeParseError, ID{}, "invalid JSON")
		}
		return malformed(CodeInvalidRequest, ID{}, "a JSON-RPC message must be an object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	var version []byte
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		val, err := dec.ReadValue()
		if err != nil {
			return err
		}
		end := int(dec.InputOffset())
		sp := span{end - len(val), end}
		switch name {
		case "jsonrpc":
			version = m.Raw[sp.start:sp.end]
		case "id":
			id, err := parseID(val)
			if err != nil {
				return malformed(CodeInvalidRequest, ID{}, "%v", err)
			}
			m.ID = id
		case "method":
			if val.Kind() != '"' {
				return malformed(CodeInvalidRequest, m.ID, "method must be a string")
			}
			s, err := jsontext.AppendUnquote(nil, val)
			if err != nil {
				return err
			}
			m.Method = string(s)
		case "params":
			m.Params, m.params = m.Raw[sp.start:sp.end], sp
		case "result":
			m.Result, m.result = m.Raw[sp.start:sp.end], sp
		case "error":
			m.Error = m.Raw[sp.start:sp.end]
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return malformed(CodeParseError, m.ID, "unexpected data after the JSON-RPC message")
		}
		return err
	}
	if string(version) != `"2.0"` {
		return malformed(CodeInvalidRequest, m.ID, `jsonrpc must be "2.0"`)
	}
	return nil
}

func (m *Message) validate() error {
	hasMethod := m.Method != ""
	switch {
	case hasMethod && (m.Result != nil || m.Error != nil):
		return malformed(CodeInvalidRequest, m.ID, "a message cannot have both a method and a result or error")
	case hasMethod && m.ID.IsNull():
		return malformed(CodeInvalidRequest, ID{}, "a request id must not be null")
	case hasMethod && m.Params != nil && m.Params[0] != '{' && m.Params[0] != '[':
		return malformed(CodeInvalidRequest, m.ID, "params must be an object or an array")
	case !hasMethod && m.Result == nil && m.Error == nil:
		return malformed(CodeInvalidRequest, m.ID, "a message needs a method, a result or an error")
	case !hasMethod && m.Result != nil && m.Error != nil:
		return malformed(CodeInvalidRequest, m.ID, "a response cannot have both a result and an error")
	case !hasMethod && m.ID.IsZero():
		return malformed(CodeInvalidRequest, ID{}, "a response needs an id")
	case !hasMethod && m.Result != nil && m.ID.IsNull():
		return malformed(CodeInvalidRequest, ID{}, "a result response needs a non-null id")
	}
	return nil
}

func parseID(val jsontext.Value) (ID, error) {
	switch val.Kind() {
	case '"':
		s, err := jsontext.AppendUnquote(nil, val)
		if err != nil {
			return ID{}, err
		}
		return ID{raw: string(val), key: "s" + string(s)}, nil
	case '0':
		return ID{raw: string(val), key: "n" + string(val)}, nil
	case 'n':
		return ID{raw: "null", key: "null"}, nil
	}
	return ID{}, errors.New("id must be a string or a number")
}

// describe turns a jsontext error into a sentence that does not echo payload bytes back.
func describe(err error) string {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		msg := se.Err.Error()
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			msg = "duplicate object member name"
		}
		where := string(se.JSONPointer)
		if where == "" {
			where = "/"
		}
		return fmt.Sprintf("%s at byte %d (in %s)", msg, se.ByteOffset, where)
	}
	if err == io.ErrUnexpectedEOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "message ends before the JSON value does"
	}
	return err.Error()
}

// shape returns the deepest nesting of objects and arrays in b and how many tokens it holds (as
// jsonscan.Scanner.Tokens counts them, when b is valid JSON), scanning bytes only. It stops at token
// maxTokens+1, when the frame is refused whatever its depth. It runs before the decoder so that no
// recursive work is ever done on an over-deep frame, and no memory spent on one with too many tokens.
func shape(b []byte, maxTokens int) (depth, tokens int) {
	d := 0
	inString, inScalar := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		opens := true // c begins a token
		switch c {
		case '"':
			inString, inScalar = true, false
		case '{', '[':
			inScalar = false
			d++
			depth = max(depth, d)
		case '}', ']':
			inScalar, opens = false, false
			d--
		case ',', ':', ' ', '\t', '\n', '\r':
			inScalar, opens = false, false
		default: // a number, true, false or null: one token however many bytes
			opens, inScalar = !inScalar, true
		}
		if opens {
			if tokens++; tokens > maxTokens {
				return depth, tokens
			}
		}
	}
	return depth, tokens
}

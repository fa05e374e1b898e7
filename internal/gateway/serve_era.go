package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
)

// Era learning (SPEC §2.1). Gatehouse does not ask an HTTP upstream which era it speaks: it sends a
// client's message in the client's era and reads the answer. A server of the other era turns the
// message away, and real servers do so in many shapes:
//
//   - the TypeScript SDK (every npm server) answers a 2026-07-28 request with HTTP 400 and an error
//     whose id is null: "Bad Request: Server not initialized", or "No valid session ID provided"
//     (with no id at all) once it has seen a session;
//   - SDKs that know the 2026-07-28 revision answer -32022 UnsupportedProtocolVersion, listing the
//     versions they speak, and a legacy server may answer server/discover with -32601;
//   - a 2026-07-28-only server may accept a legacy initialize and then refuse every later legacy
//     request with HTTP 400, in plain text ("Unsupported protocol version (supported versions:
//     2026-07-28)"), or refuse initialize itself (404, -32601).
//
// refusedEra recognizes these, and only these: an error that answers the request itself (invalid
// params, a tool's failure) is the server's answer and is relayed.

// refusedEra reports the era an upstream evidently speaks when its answer to out refuses the
// message for being of the other era: eraLegacy for a 2026-07-28 request a legacy server turned
// away, eraModern for a legacy message a 2026-07-28-only server turned away, and eraUnknown for
// any other answer. m is the first message of the answer, nil when its body was not JSON-RPC;
// body is that body's bytes (for a refusal in plain text).
func refusedEra(out *Outbound, status int, m *jsonrpc.Message, body []byte) int {
	code, text, data := errorParts(m)
	if m == nil {
		text = string(body)
	}
	own := m != nil && m.ID.Key() == out.Msg.ID.Key()
	if out.Modern {
		switch {
		case m != nil && m.IsError() && code == codeUnsupportedVersion && !supportsModern(data):
			return eraLegacy
		case own && code == jsonrpc.CodeMethodNotFound && out.Msg.Method == mcp.MethodDiscover:
			return eraLegacy // every 2026-07-28 server answers server/discover
		case !eraRefusalStatus(status):
			return eraUnknown
		case m != nil && m.IsError() && !own && code != codeHeaderMismatch && code != jsonrpc.CodeParseError:
			// An error addressed to no request (id null or absent): the server refused the
			// message before reading it as a request, as a legacy server without a session does.
			return eraLegacy
		case status == http.StatusBadRequest && (m == nil || (m.IsError() && code != jsonrpc.CodeMethodNotFound)) && mentionsSession(text):
			return eraLegacy
		}
		return eraUnknown
	}
	if out.Msg.Method == mcp.MethodInitialize && (status == http.StatusNotFound || (own && code == jsonrpc.CodeMethodNotFound)) {
		return eraModern
	}
	if m != nil && !m.IsError() {
		return eraUnknown
	}
	if code == codeUnsupportedVersion && modernOnly(data) {
		return eraModern
	}
	if status == http.StatusBadRequest && !own && strings.Contains(text, modernVersion) && !strings.Contains(text, "2025-") &&
		strings.Contains(strings.ToLower(text), "version") {
		return eraModern
	}
	return eraUnknown
}

// JSON-RPC codes the MCP specification defines (2026-07-28).
const (
	codeHeaderMismatch     = -32020
	codeUnsupportedVersion = -32022
)

// eraRefusalStatus reports an HTTP status with which a server of the other era turns a message
// away. Authentication, origin, size and rate refusals say nothing of the era.
func eraRefusalStatus(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired, http.StatusRequestTimeout,
		http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// mentionsSession reports a refusal that speaks of the legacy handshake: a missing or unknown
// session, a server not initialized. (Not any mention of initialize: a 2026-07-28 server refuses
// an initialize request by name.)
func mentionsSession(text string) bool {
	t := strings.ToLower(text)
	for _, s := range []string{"session", "not initialized", "uninitialized", "not yet initialized", "before initializ"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// errorParts reads an error response's code, message and data; zero values for anything else.
func errorParts(m *jsonrpc.Message) (int, string, json.RawMessage) {
	if m == nil || !m.IsError() {
		return 0, "", nil
	}
	return errorObject(m.Error)
}

// errorObject reads a JSON-RPC error object's code, message and data; zero values where it has
// none.
func errorObject(raw []byte) (int, string, json.RawMessage) {
	var e struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	json.Unmarshal(raw, &e)
	return e.Code, e.Message, e.Data
}

// supportedVersions reads the versions an UnsupportedProtocolVersion error lists.
func supportedVersions(data json.RawMessage) []string {
	var d struct {
		Supported []string `json:"supported"`
	}
	json.Unmarshal(data, &d)
	return d.Supported
}

// supportsModern reports an UnsupportedProtocolVersion error that nonetheless lists 2026-07-28:
// the refusal was of something else, and bridging to a legacy session would not help.
func supportsModern(data json.RawMessage) bool {
	for _, v := range supportedVersions(data) {
		if v == modernVersion {
			return true
		}
	}
	return false
}

// modernOnly reports an UnsupportedProtocolVersion error listing only 2026-07-28 or later.
func modernOnly(data json.RawMessage) bool {
	vs := supportedVersions(data)
	for _, v := range vs {
		if v < modernVersion {
			return false
		}
	}
	return len(vs) > 0
}

// describeRefusal is a refusal's gist for the log: the HTTP status and the start of the body.
func describeRefusal(status int, m *jsonrpc.Message, body []byte) string {
	b := body
	if m != nil {
		b = m.Raw
	}
	return fmt.Sprintf("HTTP %d: %s", status, clip(bytes.TrimSpace(b), 200))
}

package mcp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Multi Round-Trip answers to a held call (SPEC §10.2; MCP 2026-07-28, basic/patterns/mrtr): a
// held 2026-07-28 request whose client declares form elicitation is answered with an
// input_required result instead of an approval_required error. The result asks the human, through
// one elicitation, to retry once the call is approved, and carries a requestState that the client
// echoes on the retry. That state is gatehouse's own and never reaches a server: it holds the
// requestState and inputResponses the held call had (a server's earlier round of its own), which
// UnwrapHold puts back, so the retry is the held call again and matches its approval's digest.
//
// The state is not integrity-protected, because it grants nothing: the approval that lets a call
// through is found by the digest of the call as restored, so a forged state is only another call,
// decided afresh; and the approval the state names is withdrawn on a decline only when it is bound
// to that call and its caller.

const (
	// MetaClientCapabilities is the _meta key of a 2026-07-28 request's client capabilities.
	MetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	// HoldInputKey names gatehouse's elicitation in the inputRequests of its input_required answer,
	// and so the client's answer to it in the retry's inputResponses.
	HoldInputKey = "gatehouse/approval"
	// holdStatePrefix begins the requestState of gatehouse's input_required answers; the rest is
	// the base64url (unpadded) JSON object of the held call's own requestState and inputResponses
	// and its approval's id.
	holdStatePrefix = "gatehouse.hold.v1."
)

// The members of a request's params that carry a multi round-trip retry.
const (
	memberRequestState   = "requestState"
	memberInputResponses = "inputResponses"
	// stashApproval is the member of gatehouse's state that names the held call's approval.
	stashApproval = "approval"
)

// MultiRoundTrip reports whether a request with method may be answered input_required: only
// tools/call, resources/read and prompts/get may.
func MultiRoundTrip(method string) bool {
	return method == MethodToolsCall || method == MethodResourcesRead || method == MethodPromptsGet
}

// formElicitation reports whether client capabilities (the JSON of _meta's
// io.modelcontextprotocol/clientCapabilities) declare form elicitation: an elicitation object that
// names form mode, or names no mode at all (which means form).
func formElicitation(caps jsontext.Value) bool {
	if caps.Kind() != '{' {
		return false
	}
	var elicitation jsontext.Value
	_ = members(caps, func(name string, v jsontext.Value) error {
		if name == "elicitation" {
			elicitation = v
		}
		return nil
	})
	if elicitation.Kind() != '{' {
		return false
	}
	form, url := false, false
	_ = members(elicitation, func(name string, v jsontext.Value) error {
		form = form || name == "form" && v.Kind() == '{'
		url = url || name == "url" && v.Kind() == '{'
		return nil
	})
	return form || !url
}

// HoldResult is the input_required result that answers a held call whose params are params, for
// its approval approvalID: one form elicitation, with message and an empty schema (the human is
// only asked whether to retry), and a requestState that carries the requestState and
// inputResponses the params hold, whatever their JSON, and the approval's id.
func HoldResult(params []byte, message, approvalID string) ([]byte, error) {
	params = bytes.TrimLeft(params, " \t\r\n")
	stash := []byte{'{'}
	add := func(name string, v []byte) {
		if len(stash) > 1 {
			stash = append(stash, ',')
		}
		stash = append(stash, '"')
		stash = append(stash, name...)
		stash = append(stash, `":`...)
		stash = append(stash, v...)
	}
	if len(params) > 0 && params[0] == '{' {
		err := members(params, func(name string, v jsontext.Value) error {
			if name == memberRequestState || name == memberInputResponses {
				add(name, v)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	id, _ := json.Marshal(approvalID)
	add(stashApproval, id)
	stash = append(stash, '}')
	type form struct {
		Mode            string         `json:"mode"`
		Message         string         `json:"message"`
		RequestedSchema map[string]any `json:"requestedSchema"`
	}
	type request struct {
		Method string `json:"method"`
		Params form   `json:"params"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		ResultType    string             `json:"resultType"`
		InputRequests map[string]request `json:"inputRequests"`
		RequestState  string             `json:"requestState"`
	}{
		ResultType: "input_required",
		InputRequests: map[string]request{HoldInputKey: {Method: "elicitation/create", Params: form{
			Mode: "form", Message: message, RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}},
		}}},
		RequestState: holdStatePrefix + base64.RawURLEncoding.EncodeToString(stash),
	})
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// HoldRetry is what a retry of a call that HoldResult answered says to gatehouse.
type HoldRetry struct {
	// Params are the params as the held call had them: gatehouse's requestState and the client's
	// inputResponses replaced by the requestState and inputResponses the state carries.
	Params []byte
	// Action is the client's answer to gatehouse's elicitation: "accept", "decline", "cancel", or
	// "" when it gave none.
	Action string
	// ApprovalID is the approval the state names. Like all of the state it is what the client
	// says: it must be checked against the call before it is acted on.
	ApprovalID string
}

// errNotMine refuses a requestState that begins with gatehouse's prefix but is not one HoldResult
// made.
var errNotMine = fmt.Errorf("params.requestState is not a state gatehouse made")

// UnwrapHold reads a retry of a call that HoldResult answered: params whose requestState is
// gatehouse's. ok is false when the params carry no state of gatehouse's; err says why a state of
// gatehouse's cannot be read. params must have passed jsonrpc.Parse.
func UnwrapHold(params []byte) (r HoldRetry, ok bool, err error) {
	params = bytes.TrimLeft(params, " \t\r\n")
	if len(params) == 0 || params[0] != '{' || !bytes.Contains(params, []byte(holdStatePrefix)) {
		return HoldRetry{}, false, nil
	}
	var state string
	var responses jsontext.Value
	err = members(params, func(name string, v jsontext.Value) error {
		switch name {
		case memberRequestState:
			state, _ = stringValue(v, "")
		case memberInputResponses:
			responses = v
		}
		return nil
	})
	if err != nil {
		return HoldRetry{}, false, fmt.Errorf("params: %w", err)
	}
	encoded, mine := strings.CutPrefix(state, holdStatePrefix)
	if !mine {
		return HoldRetry{}, false, nil
	}
	stash, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || !jsontext.Value(stash).IsValid() || jsontext.Value(stash).Kind() != '{' {
		return HoldRetry{}, true, errNotMine
	}
	// The held call's own requestState and inputResponses are put back whatever their JSON: the
	// restored frame is parsed again and decided afresh, and its digest must be the held call's.
	err = members(stash, func(name string, v jsontext.Value) error {
		switch {
		case name == memberRequestState || name == memberInputResponses:
		case name == stashApproval && v.Kind() == '"':
			r.ApprovalID, _ = stringValue(v, "")
		default:
			return errNotMine
		}
		return nil
	})
	if err != nil {
		return HoldRetry{}, true, err
	}
	if responses.Kind() == '{' {
		_ = members(responses, func(name string, v jsontext.Value) error {
			if name == HoldInputKey && v.Kind() == '{' {
				_ = members(v, func(name string, v jsontext.Value) error {
					if name == "action" {
						r.Action, _ = stringValue(v, "")
					}
					return nil
				})
			}
			return nil
		})
	}
	out := []byte{'{'}
	add := func(name string, v []byte) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out, _ = jsontext.AppendQuote(out, name)
		out = append(out, ':')
		out = append(out, v...)
	}
	_ = members(params, func(name string, v jsontext.Value) error {
		if name != memberRequestState && name != memberInputResponses {
			add(name, v)
		}
		return nil
	})
	_ = members(stash, func(name string, v jsontext.Value) error {
		if name != stashApproval {
			add(name, v)
		}
		return nil
	})
	r.Params = append(out, '}')
	return r, true, nil
}
